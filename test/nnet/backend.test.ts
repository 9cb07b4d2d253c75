import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { initBackend, BACKEND_LADDER } from '../../src/nnet/backend.ts';
import { loadNativeEngine } from '../../src/nnet/native.ts';
import { BackendUnavailableError } from '../../src/nnet/errors.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { captureLogger } from './helpers.ts';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}
const nodeInstalled = installed('@tensorflow/tfjs-node');
const gpuInstalled = installed('@tensorflow/tfjs-node-gpu');
const native = loadNativeEngine();

describe('backend ladder', () => {
  it('lists tfjs-node-gpu, native, tfjs-node, wasm, cpu, best first', () => {
    expect(BACKEND_LADDER).toEqual(['tfjs-node-gpu', 'native', 'tfjs-node', 'wasm', 'cpu']);
  });

  it.skipIf(!native.ok)(
    'auto takes the native engine when its addon and BLAS load, and names the BLAS and its threads',
    async () => {
      const logger = captureLogger();
      const info = await initBackend({ logger, threads: 2 });
      expect(info.name).toBe('native');
      expect(info.threads).toBe(2);
      expect(info.blas?.path).toMatch(/blas/);
      expect(info.skipped.map((s) => s.name)).toEqual(['tfjs-node-gpu']);
      expect(logger.lines.join('')).toMatch(
        /nnet backend: native \(OpenBLAS [\d.]+ \S+, kernel \w+, 2 compute threads/,
      );
    },
  );

  it.skipIf(nodeInstalled || gpuInstalled || native.ok)(
    'auto takes wasm when neither node package nor the native engine is there, and prints why',
    async () => {
      const logger = captureLogger();
      const info = await initBackend({ logger });
      expect(info.name).toBe('wasm');
      expect(tf.getBackend()).toBe('wasm');
      expect(info.threads).toBe(1);
      expect(info.matMulPatched).toBe(true);
      expect(info.skipped.map((s) => s.name)).toEqual(['tfjs-node-gpu', 'native', 'tfjs-node']);
      expect(info.skipped[1].reason).toMatch(/apt-get install libopenblas/);
      expect(info.skipped[2].reason).toContain('@tensorflow/tfjs-node is not installed');
      expect(logger.lines.join('')).toContain('nnet backend: wasm');
    },
  );

  it.skipIf(nodeInstalled)('a forced backend that is not installed is a typed error naming it', async () => {
    const err = await initBackend({ backend: 'tfjs-node', quiet: true }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.code).toBe('E_BACKEND');
    expect(err.backend).toBe('tfjs-node');
    expect(err.message).toMatch(/backend 'tfjs-node' is not available: @tensorflow\/tfjs-node is not installed/);
  });

  it('forces cpu and wasm on request', async () => {
    expect((await initBackend({ backend: 'cpu', quiet: true })).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const w = await initBackend({ backend: 'wasm', quiet: true });
    expect(w.name).toBe('wasm');
    expect(w.simd).toBe(Boolean(tf.env().getBool('WASM_HAS_SIMD_SUPPORT')));
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects an unknown backend name as a config error', async () => {
    await expect(initBackend({ backend: 'webgpu' as never, quiet: true })).rejects.toBeInstanceOf(ConfigError);
  });
});
