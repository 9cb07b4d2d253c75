/**
 * `npm pack`, then the tarball installed into a fresh project as a user would (npm install, the
 * install hook compiling the native engine there), then: plain Node imports the package, a NodeNext
 * consumer type-checks, and the installed CLI runs the demo recipe through synthesis and features.
 * Dependencies come from npm's cache where it has them (--prefer-offline); tfjs-node's optional
 * packages are left out (their install downloads TensorFlow).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNativeEngine } from '../../src/nnet/native.ts';
import { tempDir } from '../helpers.ts';
import { ROOT, runConsumer, typeCheckConsumer, writeConsumer } from './helpers.ts';

const work = tempDir('amd-pack-');
const project = join(work, 'consumer');
const installed = join(project, 'node_modules', 'am-distill');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8' });
  expect(r.status, `npm ${args.join(' ')}:\n${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(() => {
  npm(['pack', '--pack-destination', work], ROOT); // runs prepare: a fresh build
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2),
  );
  const typesNode = (
    JSON.parse(readFileSync(join(ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  npm(
    [
      'install',
      '--prefer-offline',
      '--omit=optional',
      '--no-audit',
      '--no-fund',
      join(work, tarball),
      `@types/node@${typesNode}`,
    ],
    project,
  );
});

describe('the packed tarball, installed into a fresh project', () => {
  it('holds the build and no sources; the install hook built the native engine from the shipped sources', () => {
    expect(existsSync(join(installed, 'dist', 'src', 'index.js'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
    const status = JSON.parse(readFileSync(join(installed, 'native', 'build', 'status.json'), 'utf8')) as {
      ok: boolean;
    };
    expect(status.ok).toBe(loadNativeEngine().ok);
  });

  it('imports in plain Node, with worker threads, wasm and the native engine', () => {
    writeConsumer(project);
    const report = runConsumer(project, join(work, 'out'));
    expect(report.fbank).toEqual({ frames: 98, dim: 40 });
    expect(report.native.ok).toBe(loadNativeEngine().ok);
    expect(report.trained).toEqual([{ backend: 'wasm', epochs: 1, finalDir: join(work, 'out', 'member-1', 'final') }]);
  });

  it("type-checks a consumer with NodeNext defaults, the package's declarations included (skipLibCheck off)", () => {
    writeConsumer(project, { checkDeclarations: true });
    const { errors, checkedPackageFiles } = typeCheckConsumer(
      project,
      /node_modules\/am-distill\/dist\/src\/.*\.d\.ts$/,
    );
    expect(errors).toEqual([]);
    expect(checkedPackageFiles).toBeGreaterThan(50);
  });

  it('runs the installed CLI on the shipped demo recipe through synthesis and features', () => {
    const exp = join(work, 'exp');
    const sets = [
      'stages.prepare.numSpeakers=4',
      'stages.prepare.utterancesPerSpeaker=2',
      'stages.prepare.splits={train: 2, dev: 1, test: 1}',
    ];
    const r = spawnSync(
      join(project, 'node_modules', '.bin', 'am-distill'),
      [
        'run',
        join(installed, 'pipelines', 'demo.yaml'),
        '--exp-dir',
        exp,
        '--to-stage',
        'features',
        ...sets.flatMap((s) => ['--set', s]),
      ],
      { cwd: project, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(exp, 'features', 'train.arrow'))).toBe(true);
  });
});
