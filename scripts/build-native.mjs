#!/usr/bin/env node
// `npm ci` / `npm install` hook: build the native CPU engine (native/, an N-API addon) with
// node-gyp, offline, against the Node headers npm is configured with. A failure never fails the
// install: it is written to native/build/status.json, and at run time the engine's absence is one
// line naming this reason (the wasm engine runs instead). AM_DISTILL_NATIVE=0 skips the build.
// `--dir DIR` builds another copy of native/ (the tests use it to exercise a failing toolchain).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dirArg = process.argv.indexOf('--dir');
const nativeDir = dirArg > 0 ? resolve(process.argv[dirArg + 1]) : join(root, 'native');
const buildDir = join(nativeDir, 'build');
const statusPath = join(buildDir, 'status.json');

function writeStatus(status) {
  mkdirSync(buildDir, { recursive: true });
  const tmp = `${statusPath}.${process.pid}.tmp`;
  writeFileSync(
    tmp,
    JSON.stringify({ ...status, node: process.version, date: new Date().toISOString() }, null, 2) + '\n',
  );
  renameSync(tmp, statusPath);
}

/** node-gyp: the one npm runs lifecycle scripts with, else npm's bundled copy, else a local install. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  const npmDir = process.env.npm_execpath ? dirname(dirname(process.env.npm_execpath)) : null;
  if (npmDir) candidates.push(join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  );
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

/** Node's own headers, so that node-gyp never downloads them (the build must work offline). */
function findNodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/** The lines that say what went wrong: compiler errors, make's failure, node-gyp's error; else the last lines. */
function whyFailed(out) {
  const lines = out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('gyp info'));
  const telling = lines.filter(
    (l) =>
      /error:|not found|No such file|\*\*\*|ERR! stack Error|ERR! configure error|cannot find/i.test(l) &&
      !/ERR! stack at /.test(l),
  );
  return (telling.length ? telling.slice(0, 4) : lines.slice(-4)).join(' | ');
}

function main() {
  if (process.env.AM_DISTILL_NATIVE === '0') {
    writeStatus({ ok: false, reason: 'build skipped (AM_DISTILL_NATIVE=0 at install time)' });
    console.log('am-distill: native engine build skipped (AM_DISTILL_NATIVE=0)');
    return;
  }
  const gyp = findNodeGyp();
  if (!gyp) {
    writeStatus({ ok: false, reason: 'node-gyp not found (it ships with npm)' });
    console.log('am-distill: native engine not built: node-gyp not found; the wasm engine will be used');
    return;
  }
  const nodedir = findNodeDir();
  const args = [gyp, 'rebuild', '--directory', nativeDir, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env } });
  const built = join(buildDir, 'Release', 'am_distill_native.node');
  if (r.status === 0 && existsSync(built)) {
    writeStatus({ ok: true, reason: null, seconds: (Date.now() - t0) / 1000, nodedir });
    console.log(`am-distill: native engine built in ${((Date.now() - t0) / 1000).toFixed(1)} s (${built})`);
    return;
  }
  const why = r.error ? String(r.error.message) : whyFailed(`${r.stdout}\n${r.stderr}`);
  writeStatus({ ok: false, reason: `the C++ build failed (g++, make and python3 are needed): ${why.slice(0, 500)}` });
  console.log(`am-distill: native engine not built (the wasm engine will be used): ${why.slice(0, 300)}`);
}

try {
  main();
} catch (err) {
  try {
    writeStatus({ ok: false, reason: `build script failed: ${err?.message ?? err}` });
  } catch {
    // nothing more to do: the install must not fail
  }
  console.log(`am-distill: native engine not built: ${err?.message ?? err}`);
}
