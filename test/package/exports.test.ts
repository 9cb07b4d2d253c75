/**
 * The package as Node and TypeScript consumers see it, checked cheaply on the build that `npm ci`
 * made (prepare -> npm run build -> dist/): package.json points into dist/, the tarball holds what
 * runs and nothing of the sources, plain Node imports the package (worker threads, wasm, native
 * addon included) and a NodeNext consumer type-checks. The full `npm pack` + install into a fresh
 * project is test/package/pack.e2e.test.ts (npm run test:e2e).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadNativeEngine } from '../../src/nnet/native.ts';
import { ROOT, runConsumer, typeCheckConsumer, writeConsumer } from './helpers.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
  scripts: Record<string, string>;
};
let work: string;

beforeAll(() => {
  expect(
    existsSync(join(ROOT, 'dist', 'src', 'index.js')),
    'no build in dist/: run npm run build (npm ci runs it through prepare)',
  ).toBe(true);
  // Inside the package folder, so that 'am-distill' resolves to this package (self-reference).
  mkdirSync(join(ROOT, 'tmp'), { recursive: true });
  work = mkdtempSync(join(ROOT, 'tmp', 'package-test-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the am-distill package', () => {
  it('points main, types, exports and bin at the build, which npm ci makes through prepare', () => {
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.scripts.build).toContain('tsc -p tsconfig.build.json');
    expect(pkg.exports['.']).toEqual({ types: './dist/src/index.d.ts', default: './dist/src/index.js' });
    expect([pkg.main, pkg.types]).toEqual(['./dist/src/index.js', './dist/src/index.d.ts']);
    for (const target of [pkg.main, pkg.types, pkg.bin['am-distill'], join('dist', 'src', 'nnet', 'worker.js')]) {
      expect(existsSync(join(ROOT, target)), target).toBe(true);
    }
  });

  it('packs the build, the bin and the native sources the install hook compiles, and no TypeScript source', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    for (const f of [
      'package.json',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/src/nnet/worker.js',
      'dist/corpora/synth/espeak.js',
      'bin/am-distill.js',
      'scripts/build-native.mjs',
      'native/binding.gyp',
      'native/engine.cc',
      'pipelines/demo.yaml',
      'schemas/recipe.schema.json',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(
      files.filter(
        (f) => /^(src|test|bench|tmp|native\/build)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
    ).toEqual([]);
  });

  it('imports in plain Node: features, the native engine found from the package folder, a worker thread training on wasm', () => {
    writeConsumer(work);
    const report = runConsumer(work, join(work, 'out'));
    expect(report.fbank).toEqual({ frames: 98, dim: 40 });
    const native = loadNativeEngine(); // the same probe from the sources
    expect(report.native.ok).toBe(native.ok);
    if (!report.native.ok && !native.ok) expect(report.native.message).toContain(native.reason);
    expect(report.trained).toEqual([{ backend: 'wasm', epochs: 1, finalDir: join(work, 'out', 'member-1', 'final') }]);
    expect(existsSync(join(work, 'out', 'member-1', 'final', 'weights.bin'))).toBe(true);
  });

  it('runs the bin from the build with AM_DISTILL_FROM=dist', () => {
    const r = spawnSync(process.execPath, [join(ROOT, pkg.bin['am-distill']), 'fbank', '--help'], {
      encoding: 'utf8',
      env: { ...process.env, AM_DISTILL_FROM: 'dist' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: am-distill fbank/);
  });

  it("type-checks a consumer with tsc --init's NodeNext defaults against the declarations, which carry real types", () => {
    writeConsumer(work);
    const { errors, checkedPackageFiles } = typeCheckConsumer(work, /\/dist\/src\/.*\.d\.ts$/);
    expect(errors).toEqual([]);
    expect(checkedPackageFiles).toBeGreaterThan(50);
  });
});
