/**
 * The native CPU engine's addon (native/engine.cc, an N-API module built by node-gyp at `npm ci`)
 * and the BLAS it computes with. Loading never throws: `loadNativeEngine()` returns the addon or
 * the one-line reason it is absent, with what to do about it.
 *
 * The BLAS is opened at run time (dlopen), so the addon builds with a C++ compiler alone; the
 * first of libopenblas.so.0 / libopenblas.so that opens wins, or the CBLAS library named by
 * AM_DISTILL_BLAS. The BLAS runs single-threaded; the addon shares fixed tiles of each GEMM among
 * the calling thread's compute threads (`setNativeThreads`), so the bits do not depend on them.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.ts';

/** The addon's functions (see native/engine.cc for each one's contract). */
export interface NativeAddon {
  abiVersion: number;
  loadBlas(
    path?: string | null,
  ):
    | { ok: true; path: string; config: string; corename: string; threads: number; parallel: number }
    | { ok: false; error: string };
  setThreads(n: number): number;
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    b: Float32Array,
    beta: number,
    c: Float32Array,
  ): void;
  biasAct(z: Float32Array, b: Float32Array, n: number, d: number, relu: boolean): void;
  reluBackward(dh: Float32Array, h: Float32Array, count: number): void;
  colSum(dz: Float32Array, n: number, d: number, out: Float32Array): void;
  xentHard(
    z: Float32Array,
    n: number,
    s: number,
    labels: Int32Array,
    dz: Float32Array | null,
    scale: number,
    out: Float64Array,
  ): void;
  argmaxRows(z: Float32Array, n: number, s: number, out: Int32Array): void;
  softmaxRows(z: Float32Array, n: number, s: number, temperature: number, out: Float32Array): void;
  xentDistill(
    z: Float32Array,
    n: number,
    s: number,
    temperature: number,
    ids: Int32Array | null,
    probs: Float32Array,
    k: number,
    residual: Float32Array | null,
    labels: Int32Array | null,
    rowWeights: Float32Array | null,
    hardWeight: number,
    convex: boolean,
    dz: Float32Array | null,
    scale: number,
    out: Float64Array,
  ): void;
  adam(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    stepSize: number,
    beta1: number,
    beta2: number,
    epsHat: number,
    l2: number,
  ): void;
  sgd(w: Float32Array, g: Float32Array, vel: Float32Array, lr: number, momentum: number, l2: number): void;
  averageInto(avg: Float32Array, w: Float32Array, rate: number): void;
  gemmFloor(dims: Float64Array, batch: number, train: boolean, iterations: number): number;
  kernelIsa(): string;
}

/** The BLAS the engine loaded. */
export interface NativeBlasInfo {
  /** Real path of the shared library that provides cblas_sgemm. */
  path: string;
  /** e.g. 'OpenBLAS 0.3.21' (from openblas_get_config; '' for another CBLAS). */
  library: string;
  /** OpenBLAS's kernel for this CPU (e.g. 'Cooperlake'), '' when unknown. */
  corename: string;
  /** Compute threads of this thread's GEMMs now in effect (-1 when unknown). */
  threads: number;
  /** The instruction set of the engine's own elementwise kernels. */
  kernelIsa: string;
}

export type NativeEngineStatus = { ok: true; addon: NativeAddon; blas: NativeBlasInfo } | { ok: false; reason: string };

/** How to get the fast path, for the line printed when it is absent. */
export const NATIVE_HOWTO = 'apt-get install libopenblas-dev (or libopenblas0), then npm rebuild am-distill or npm ci';
/** When only the BLAS is missing: the addon opens it at run time, so no rebuild is needed. */
export const BLAS_HOWTO = 'apt-get install libopenblas0 (or libopenblas-dev); no rebuild needed';

const require = createRequire(import.meta.url);
const root = packageRoot();
export const NATIVE_ADDON_PATH = join(root, 'native', 'build', 'Release', 'am_distill_native.node');
const STATUS_PATH = join(root, 'native', 'build', 'status.json');

let cached: NativeEngineStatus | null = null;

function buildFailure(): string {
  try {
    const s = JSON.parse(readFileSync(STATUS_PATH, 'utf8')) as { ok?: boolean; reason?: string };
    if (s.ok === false && s.reason) return s.reason;
  } catch {
    // no status: the install hook never ran (e.g. npm ci --ignore-scripts)
  }
  return 'the addon was not built (npm ci runs scripts/build-native.mjs; --ignore-scripts skips it)';
}

/**
 * The addon with its BLAS loaded, or why not. Cached per thread (each worker loads its own
 * instance of the addon; the BLAS library itself is loaded once per process).
 * AM_DISTILL_NATIVE=0 disables the engine.
 */
export function loadNativeEngine(): NativeEngineStatus {
  if (cached) return cached;
  cached = probe();
  return cached;
}

function probe(): NativeEngineStatus {
  if (process.env.AM_DISTILL_NATIVE === '0') return { ok: false, reason: 'disabled by AM_DISTILL_NATIVE=0' };
  if (!existsSync(NATIVE_ADDON_PATH)) return { ok: false, reason: `${buildFailure()}; ${NATIVE_HOWTO}` };
  let addon: NativeAddon;
  try {
    addon = require(NATIVE_ADDON_PATH) as NativeAddon;
  } catch (err) {
    return { ok: false, reason: `the addon failed to load (${firstLine((err as Error).message)}); ${NATIVE_HOWTO}` };
  }
  if (addon.abiVersion !== 1)
    return {
      ok: false,
      reason: `the addon is from another version (abi ${addon.abiVersion}, expected 1); run npm rebuild`,
    };
  const r = addon.loadBlas(process.env.AM_DISTILL_BLAS || null);
  if (!r.ok)
    return {
      ok: false,
      reason: `no optimised BLAS found (${firstLine(r.error).split('; ')[0].slice(0, 160)}); ${BLAS_HOWTO}`,
    };
  const library = /^(OpenBLAS [\d.]+)/.exec(r.config)?.[1] ?? (r.config ? r.config.split(' ')[0] : '');
  return {
    ok: true,
    addon,
    blas: { path: r.path, library, corename: r.corename, threads: r.threads, kernelIsa: addon.kernelIsa() },
  };
}

function firstLine(s: string): string {
  return String(s).split('\n')[0];
}

/**
 * Set the compute threads of this JavaScript thread's GEMMs (each main or worker thread has its
 * own; results do not depend on the count, only speed does). The caller
 * decides it from how many models compute at once, so the cores are never oversubscribed: one
 * model alone gets the cores, K concurrent workers one thread each.
 */
export function setNativeThreads(n: number): number {
  const s = loadNativeEngine();
  if (!s.ok) return -1;
  const got = s.addon.setThreads(Math.max(1, Math.floor(n)));
  s.blas.threads = got;
  return got;
}

/** The addon, or a thrown Error when absent (for code that runs only after the engine was chosen). */
export function nativeAddon(): NativeAddon {
  const s = loadNativeEngine();
  if (!s.ok) throw new Error(`native engine unavailable: ${s.reason}`);
  return s.addon;
}
