/**
 * Compute backend selection (docs/design.md section 6). The ladder, best first:
 *
 *   tfjs-node-gpu  TensorFlow C library with CUDA   (@tensorflow/tfjs-node-gpu, optional dependency)
 *   native         this project's CPU engine: N-API addon, GEMMs in OpenBLAS, native elementwise
 *                  kernels, loss and optimizer (native/engine.cc, src/nnet/native*.ts); TF.js
 *                  (its 'cpu' backend) only holds the models for loading and saving
 *   tfjs-node      TensorFlow C library on the CPU  (@tensorflow/tfjs-node, optional dependency)
 *   wasm           XNNPACK in WebAssembly, SIMD, one thread in Node (@tensorflow/tfjs-backend-wasm)
 *   cpu            plain JavaScript kernels (always there, slowest)
 *
 * The two node packages download libtensorflow at install time, which fails offline; npm then
 * skips them, so they are imported dynamically and their absence is a normal outcome.
 * The choice is printed once per process and per change.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { ConfigError } from '../util/errors.ts';
import { BackendUnavailableError } from './errors.ts';
import { patchWasmMatMul, isWasmMatMulPatched, unpatchWasmMatMul } from './wasm-matmul.ts';
import { availableParallelism } from 'node:os';
import { loadNativeEngine, setNativeThreads, type NativeBlasInfo } from './native.ts';

/** A rung of the ladder. */
export type BackendName = 'tfjs-node-gpu' | 'native' | 'tfjs-node' | 'wasm' | 'cpu';

/** The ladder, best first. */
export const BACKEND_LADDER: readonly BackendName[] = ['tfjs-node-gpu', 'native', 'tfjs-node', 'wasm', 'cpu'];

export interface BackendOptions {
  /** Force one backend, or 'auto' to take the best available rung. Default 'auto'. */
  backend?: BackendName | 'auto';
  /**
   * On wasm, route transposed matMuls through an explicit transpose and the fast kernel
   * (see wasm-matmul.ts). Default true. Off only to measure or to compare against the original.
   */
  wasmMatMulPatch?: boolean;
  /** Where the choice is printed. Default: the stderr logger. */
  logger?: Logger;
  /** Do not print the choice. Default false. */
  quiet?: boolean;
  /**
   * Compute threads of the native engine's GEMMs on this thread. Default: `defaultComputeThreads()`, which
   * is the number of cores, or what a worker pool set for its workers (cores / workers).
   */
  threads?: number;
}

let defaultThreads: number | null = null;

/**
 * The native engine's compute threads when initBackend is not told: the cores, unless a worker pool
 * set fewer for its workers (K models at once on C cores: max(1, floor(C / K)) each), so the
 * cores are never oversubscribed.
 */
export function defaultComputeThreads(): number {
  return defaultThreads ?? availableParallelism();
}

export function setDefaultComputeThreads(n: number | null): void {
  defaultThreads = n === null ? null : Math.max(1, Math.floor(n));
}

/** What was chosen and why the better rungs were not. */
export interface BackendInfo {
  name: BackendName;
  /** The TF.js backend name ('tensorflow' for both node packages). */
  tfBackend: string;
  tfjsVersion: string;
  /** WebAssembly SIMD in use (wasm only). */
  simd: boolean;
  /** Threads the backend computes with (wasm in Node: 1). Undefined when the backend decides. */
  threads?: number;
  /** wasm transposed-matMul patch active. */
  matMulPatched: boolean;
  /** The native engine's BLAS (native only). */
  blas?: NativeBlasInfo;
  /** Rungs above the chosen one (auto) and why each was skipped. */
  skipped: { name: BackendName; reason: string }[];
  /** One line for logs and reports. */
  description: string;
}

const TF_BACKEND_OF: Record<BackendName, string> = {
  'tfjs-node-gpu': 'tensorflow',
  native: 'cpu',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const PACKAGE_OF: Partial<Record<BackendName, string>> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
};

/** Node package that provided the 'tensorflow' backend in this process (only one can be loaded). */
let nodePackageLoaded: BackendName | null = null;
let wasmPathsSet = false;
let lastPrinted = '';
/** The native engine is the active rung (TF.js then runs its 'cpu' backend for model I/O only). */
let nativeActive = false;

const require = createRequire(import.meta.url);

/** The folder holding tfjs-backend-wasm's .wasm binaries (its dist/ folder), with a trailing slash. */
export function wasmBinaryDir(): string {
  const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return join(dirname(pkg), 'dist') + '/';
}

/** Try to make one rung usable. Returns null on success, else the reason it is not. */
async function tryPrepare(name: BackendName): Promise<string | null> {
  if (name === 'cpu') return null;
  if (name === 'native') {
    const s = loadNativeEngine();
    return s.ok ? null : s.reason;
  }
  if (name === 'wasm') {
    if (!wasmPathsSet) {
      const dir = wasmBinaryDir();
      if (!existsSync(join(dir, 'tfjs-backend-wasm.wasm'))) return `no tfjs-backend-wasm.wasm in ${dir}`;
      // In Node the wasm backend reads the binaries from disk; without an explicit path it
      // looks next to the bundle it was loaded from, which a bundler or tsx may have moved.
      setWasmPaths(dir);
      wasmPathsSet = true;
    }
    return null;
  }
  // tfjs-node and tfjs-node-gpu both register 'tensorflow'; once one is loaded the other cannot be.
  if (nodePackageLoaded !== null) {
    return nodePackageLoaded === name ? null : `${PACKAGE_OF[nodePackageLoaded]} is already loaded in this process`;
  }
  const pkg = PACKAGE_OF[name]!;
  try {
    // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
    const spec: string = pkg;
    await import(spec);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND')
      return `${pkg} is not installed (optional dependency; its install needs to download libtensorflow)`;
    return `${pkg} failed to load: ${firstLine(e?.message ?? String(err))}`;
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    return `${pkg} loaded but registered no 'tensorflow' backend with this copy of @tensorflow/tfjs (version mismatch?)`;
  }
  nodePackageLoaded = name;
  return null;
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 200);
}

async function activate(name: BackendName, threads: number): Promise<string | null> {
  const reason = await tryPrepare(name);
  if (reason) return reason;
  try {
    const ok = await tf.setBackend(TF_BACKEND_OF[name]);
    if (!ok) return `tf.setBackend('${TF_BACKEND_OF[name]}') failed to initialise`;
    await tf.ready();
  } catch (err) {
    return `initialisation failed: ${firstLine((err as Error)?.message ?? String(err))}`;
  }
  if (name === 'tfjs-node-gpu' && !(await nodeHasGpu())) {
    return 'no CUDA device visible to TensorFlow';
  }
  nativeActive = name === 'native';
  if (nativeActive) {
    setNativeThreads(threads);
    // TF.js's cpu backend only holds weights here: silence its "install tfjs-node" banner.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  return null;
}

async function nodeHasGpu(): Promise<boolean> {
  // tfjs-node-gpu silently computes on the CPU when CUDA is missing; TensorFlow lists its devices.
  try {
    const backend = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
    const f = backend.binding?.isUsingGpuDevice;
    return typeof f === 'function' ? Boolean(f.call(backend.binding)) : true;
  } catch {
    return true;
  }
}

/**
 * Choose and activate a backend. With `backend: 'auto'` the best available rung wins; a forced
 * backend that cannot be used throws BackendUnavailableError naming it (no silent fallback).
 * Safe to call again (e.g. to switch to 'cpu' for a comparison).
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const want = opts.backend ?? 'auto';
  if (want !== 'auto' && !BACKEND_LADDER.includes(want)) {
    throw new ConfigError('unknown backend', {
      keyPath: 'backend',
      expected: `one of auto, ${BACKEND_LADDER.join(', ')}`,
      found: String(want),
    });
  }
  const skipped: { name: BackendName; reason: string }[] = [];
  let chosen: BackendName | null = null;
  const threads = opts.threads ?? defaultComputeThreads();
  if (want === 'auto') {
    for (const name of BACKEND_LADDER) {
      const reason = await activate(name, threads);
      if (reason === null) {
        chosen = name;
        break;
      }
      skipped.push({ name, reason });
    }
    if (chosen === null)
      throw new BackendUnavailableError('auto', skipped.map((s) => `${s.name}: ${s.reason}`).join('; '));
  } else {
    const reason = await activate(want, threads);
    if (reason !== null) throw new BackendUnavailableError(want, reason);
    chosen = want;
  }

  const patch = opts.wasmMatMulPatch ?? true;
  if (chosen === 'wasm') {
    if (patch) patchWasmMatMul();
    else unpatchWasmMatMul();
  }
  const info = describeBackend(chosen, skipped);
  const logger = opts.logger ?? defaultLog;
  if (!opts.quiet && info.description !== lastPrinted) {
    logger.info(`nnet backend: ${info.description}`);
    lastPrinted = info.description;
  }
  return info;
}

function describeBackend(name: BackendName, skipped: { name: BackendName; reason: string }[]): BackendInfo {
  if (name === 'native') return describeNative(skipped);
  const simd = name === 'wasm' && Boolean(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'));
  const threads =
    name === 'wasm'
      ? tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')
        ? undefined
        : 1
      : name === 'cpu'
        ? 1
        : undefined;
  const matMulPatched = name === 'wasm' && isWasmMatMulPatched();
  const parts = [`${name} (tfjs ${tf.version_core}`];
  if (name === 'wasm')
    parts.push(
      simd ? 'SIMD' : 'no SIMD',
      `${threads ?? 'multi'} thread${threads === 1 ? '' : 's'}`,
      `transposed-matMul patch ${matMulPatched ? 'on' : 'off'}`,
    );
  let description = parts.join(', ') + ')';
  if (skipped.length) description += '; not used: ' + skipped.map((s) => `${s.name} (${s.reason})`).join(', ');
  return {
    name,
    tfBackend: TF_BACKEND_OF[name],
    tfjsVersion: tf.version_core,
    simd,
    threads,
    matMulPatched,
    skipped,
    description,
  };
}

function describeNative(skipped: { name: BackendName; reason: string }[]): BackendInfo {
  const s = loadNativeEngine();
  if (!s.ok) throw new BackendUnavailableError('native', s.reason);
  const b = s.blas;
  let description =
    `native (${b.library || 'CBLAS'} ${b.path}` +
    (b.corename ? `, kernel ${b.corename}` : '') +
    `, ${b.threads < 0 ? 'unknown' : b.threads} compute thread${b.threads === 1 ? '' : 's'}, elementwise ${b.kernelIsa})`;
  if (skipped.length) description += '; not used: ' + skipped.map((k) => `${k.name} (${k.reason})`).join(', ');
  return {
    name: 'native',
    tfBackend: 'cpu',
    tfjsVersion: tf.version_core,
    simd: false,
    threads: b.threads < 0 ? undefined : b.threads,
    matMulPatched: false,
    blas: { ...b },
    skipped,
    description,
  };
}

/** The native engine is active (the models compute in native code, not in TF.js). */
export function isNativeActive(): boolean {
  return nativeActive && tf.getBackend() === 'cpu';
}

/** The ladder rung of the active TF.js backend, if any. */
export function activeBackend(): BackendName | null {
  if (isNativeActive()) return 'native';
  const b = tf.getBackend();
  if (b === 'wasm' || b === 'cpu') return b;
  if (b === 'tensorflow') return nodePackageLoaded ?? 'tfjs-node';
  return null;
}
