/**
 * node bin/run-ts.js bench/wav-node-wav.ts [--seconds 600 --runs 7]
 *
 * Our WAV reader (src/audio/wav.ts: decodeWav) against node-wav's decode, to decide whether
 * node-wav should decode the samples behind our header validation (docs/decisions.md,
 * "2026-12-07: node-wav"). node-wav is no longer a dependency: install it for this run only with
 * `npm install --no-save node-wav@0.0.2`.
 *
 * 1. Speed: seeded noise encoded as 16-bit, 24-bit and float32 PCM (mono, 16 kHz, --seconds long),
 *    decoded from memory; best of --runs calls after two warm-ups, in MB/s of file bytes.
 * 2. Values: the largest difference between the two decoders' floats, and how many samples differ.
 * 3. Damaged and unusual files: what each decoder does (our error message, node-wav's exception,
 *    or what node-wav returned instead).
 */
import { createRequire } from 'node:module';
import { decodeWav, encodeWav } from '../src/audio/wav.ts';
import { Rng } from '../src/util/rng.ts';

interface NodeWav {
  decode(buffer: Uint8Array | ArrayBuffer): { sampleRate: number; channelData: Float32Array[] } | undefined;
}

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = arg('seconds', 600);
const RUNS = arg('runs', 7);
const RATE = 16000;

let wav: NodeWav;
try {
  wav = createRequire(import.meta.url)('node-wav') as NodeWav;
} catch {
  console.log('SKIPPED: node-wav is not installed (npm install --no-save node-wav@0.0.2)');
  process.exit(0);
}

function noise(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => Math.max(-1, Math.min(0.999, 0.3 * rng.gauss())));
}

function bestMs(fn: () => unknown): number {
  fn();
  fn();
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return best;
}

/** A Node Buffer holding `bytes` at a non-zero offset of a larger ArrayBuffer, as fs returns small files. */
function pooled(bytes: Uint8Array): Buffer {
  const pool = Buffer.alloc(bytes.length + 4096);
  pool.set(bytes, 1000);
  return pool.subarray(1000, 1000 + bytes.length);
}

console.log(`node ${process.version}; ${SECONDS} s of mono ${RATE} Hz noise; best of ${RUNS} calls`);
console.log(
  '\n| encoding | file MB | ours ms | ours MB/s | node-wav ms | node-wav MB/s | max abs diff | samples differing |',
);
console.log('|---|---|---|---|---|---|---|---|');
const samples = noise(SECONDS * RATE, 1);
for (const [name, opts] of [
  ['int16', { bitsPerSample: 16 }],
  ['int24', { bitsPerSample: 24 }],
  ['float32', { float: true }],
] as const) {
  const bytes = encodeWav(samples, RATE, opts);
  const mb = bytes.length / 1e6;
  const a = bestMs(() => decodeWav(bytes));
  const ours = decodeWav(bytes).channels[0];
  let theirs: Float32Array;
  try {
    theirs = wav.decode(bytes)!.channelData[0];
  } catch (err) {
    console.log(
      `| ${name} | ${mb.toFixed(1)} | ${a.toFixed(1)} | ${(mb / (a / 1000)).toFixed(0)} | ${(err as Error).name}: ${(err as Error).message} | | | |`,
    );
    continue;
  }
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - theirs[i]);
    if (d > 0) differing++;
    if (d > maxDiff) maxDiff = d;
  }
  const b = bestMs(() => wav.decode(bytes));
  console.log(
    `| ${name} | ${mb.toFixed(1)} | ${a.toFixed(1)} | ${(mb / (a / 1000)).toFixed(0)} | ${b.toFixed(1)} | ${(mb / (b / 1000)).toFixed(0)} | ${maxDiff.toExponential(2)} | ${differing} of ${ours.length} |`,
  );
}

// Damaged and unusual inputs (one second of int16 noise unless said otherwise).
const one = encodeWav(noise(RATE, 2), RATE);
const withChunk = (body: Uint8Array, id: string, size: number): Uint8Array => {
  // Insert a chunk of `size` bytes (plus its pad byte) between fmt and data.
  const chunk = new Uint8Array(8 + size + (size & 1));
  chunk.set(
    [...id].map((c) => c.charCodeAt(0)),
    0,
  );
  new DataView(chunk.buffer).setUint32(4, size, true);
  const out = new Uint8Array(body.length + chunk.length);
  out.set(body.subarray(0, 36), 0);
  out.set(chunk, 36);
  out.set(body.subarray(36), 36 + chunk.length);
  new DataView(out.buffer).setUint32(4, out.length - 8, true);
  return out;
};
const cases: [string, Uint8Array][] = [
  // Copies, as a truncated file read from disk is.
  ['truncated to 60 %', one.slice(0, Math.floor(one.length * 0.6))],
  ['header only (44 bytes)', one.slice(0, 44)],
  ['20 bytes', one.slice(0, 20)],
  // A view of the first 60 % of a larger buffer (a file read into a shared buffer, a segment).
  ['truncated to 60 %, as a view of a larger buffer', one.subarray(0, Math.floor(one.length * 0.6))],
  ['not RIFF', new TextEncoder().encode('hello, this is not a wav file at all ........')],
  ['odd-sized LIST chunk before data (data at an odd offset)', withChunk(one, 'LIST', 5)],
  ['small file in a pooled Buffer (byteOffset 1000)', pooled(one)],
  ['WAVE_FORMAT_EXTENSIBLE 16-bit', encodeWav(noise(RATE, 3), RATE, { extensible: true })],
  ['8-bit unsigned', encodeWav(noise(RATE, 4), RATE, { bitsPerSample: 8 })],
  ['0 samples', encodeWav(new Float32Array(0), RATE)],
];
console.log('\n| input | ours | node-wav |');
console.log('|---|---|---|');
const describe = (fn: () => Float32Array[] | undefined, expect: number | null): string => {
  try {
    const ch = fn();
    if (!ch) return 'returned nothing';
    const n = ch[0]?.length ?? 0;
    let nan = 0;
    for (const c of ch) for (const x of c) if (Number.isNaN(x)) nan++;
    const suffix = expect !== null && n !== expect ? ` (file holds ${expect})` : '';
    return `${n} samples${nan ? `, ${nan} NaN` : ''}${suffix}`;
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message.split('\n')[0]}`;
  }
};
for (const [name, bytes] of cases) {
  const ours = describe(() => decodeWav(bytes, 'x.wav').channels, null);
  const expected = ours.endsWith('samples') ? Number(ours.split(' ')[0]) : null;
  console.log(`| ${name} | ${ours} | ${describe(() => wav.decode(bytes)?.channelData, expected)} |`);
}
