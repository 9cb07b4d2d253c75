/** Shared by the package tests: the consumer fixtures, a consumer tsconfig, tsc and plain-node runs. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT as ROOT } from '../helpers.ts';

export { ROOT };
export const FIXTURE = join(ROOT, 'test', 'package', 'fixture');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** What the consumer fixture prints (fixture/consumer.mjs). */
export interface ConsumerReport {
  fbank: { frames: number; dim: number };
  native: { ok: true; name: string } | { ok: false; message: string };
  trained: { backend: string; epochs: number; finalDir: string }[];
}

/**
 * The options `tsc --init` (TypeScript 5.9) writes, uncommented, plus Node's types (the package's
 * declarations use node:fs and NodeJS types, as any Node library's do) and noEmit.
 */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    target: 'esnext',
    types: ['node'],
    sourceMap: true,
    declaration: true,
    declarationMap: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    strict: true,
    jsx: 'react-jsx',
    verbatimModuleSyntax: true,
    isolatedModules: true,
    noUncheckedSideEffectImports: true,
    moduleDetection: 'force',
    skipLibCheck: true,
    noEmit: true,
  },
  files: ['consumer.ts'],
};

/**
 * Copy both consumer fixtures into `dir` (a project that can import 'am-distill'). `checkDeclarations`:
 * skipLibCheck off, so that the package's .d.ts files are checked too (slower: every dependency's are).
 */
export function writeConsumer(dir: string, opts: { checkDeclarations?: boolean } = {}): void {
  copyFileSync(join(FIXTURE, 'consumer.mjs'), join(dir, 'consumer.mjs'));
  copyFileSync(join(FIXTURE, 'consumer.ts'), join(dir, 'consumer.ts'));
  const tsconfig = structuredClone(CONSUMER_TSCONFIG);
  if (opts.checkDeclarations) tsconfig.compilerOptions.skipLibCheck = false;
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2) + '\n');
}

/**
 * Type-check the consumer in `dir`; returns tsc's error lines, less those in TF.js's own
 * declarations (which has errors under skipLibCheck: false), and how many files matching
 * `packageFiles` tsc read.
 */
export function typeCheckConsumer(
  dir: string,
  packageFiles: RegExp,
): { errors: string[]; checkedPackageFiles: number } {
  const r = spawnSync(process.execPath, [TSC, '-p', dir, '--listFiles'], { cwd: dir, encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter(Boolean);
  const errors = lines.filter((l) => /error TS\d+/.test(l) && !/(^|\/)node_modules\/@tensorflow\//.test(l));
  const checkedPackageFiles = lines.filter((l) => !/error TS\d+/.test(l) && packageFiles.test(l)).length;
  return { errors, checkedPackageFiles };
}

/** Run fixture/consumer.mjs with plain Node in `dir` and parse its report. */
export function runConsumer(dir: string, outDir: string, env: NodeJS.ProcessEnv = {}): ConsumerReport {
  const r = spawnSync(process.execPath, ['consumer.mjs', outDir], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(r.status, `consumer.mjs failed:\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ConsumerReport;
}
