/**
 * Transposed matMuls on the wasm backend.
 *
 * tfjs-backend-wasm 4.x hands BatchMatMul / _FusedMatMul with transposeA or transposeB to XNNPACK
 * through a path that is 10-40x slower than the plain product (measured on a 2-core x86 machine:
 * 256x440 by 440x1024 takes ~10 ms plain, ~400 ms with transposeA). Backprop through a dense layer
 * needs exactly those products (dW = x^T dy, dx = dy W^T), so training speed collapses.
 *
 * The patch re-registers both kernels for 'wasm': when a transpose flag is set, the operand is
 * transposed explicitly with the wasm Transpose kernel (a memory-bound copy) and the original
 * kernel is called without the flag. Results are the same products; only the summation order
 * inside XNNPACK may differ, so values agree to float32 rounding (tested at 1e-5 relative).
 */
import {
  getKernel,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';

const KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;
const BACKEND = 'wasm';

/** The original kernel configs while patched. */
let originals: Map<string, KernelConfig> | null = null;

interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Transpose the last two axes of `x` with the backend's own Transpose kernel. */
function transposeLastTwo(x: TensorInfo, backend: WasmBackendLike): TensorInfo {
  const transposeKernel = getKernel('Transpose', BACKEND);
  if (!transposeKernel) throw new Error('wasm backend has no Transpose kernel');
  const rank = x.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return transposeKernel.kernelFunc({ inputs: { x }, backend: backend as never, attrs: { perm } }) as TensorInfo;
}

function wrap(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean } | undefined;
    const transposeA = Boolean(attrs?.transposeA);
    const transposeB = Boolean(attrs?.transposeB);
    if (!transposeA && !transposeB) return original.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const inputs = { ...(args.inputs as Record<string, TensorInfo>) };
    const temps: TensorInfo[] = [];
    try {
      if (transposeA) {
        inputs.a = transposeLastTwo(inputs.a, backend);
        temps.push(inputs.a);
      }
      if (transposeB) {
        inputs.b = transposeLastTwo(inputs.b, backend);
        temps.push(inputs.b);
      }
      return original.kernelFunc({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  // Keep setupFunc: the engine calls it when the backend initialises, and the original kernel
  // needs it to bind its wasm function.
  return {
    kernelName: original.kernelName,
    backendName: original.backendName,
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc,
  };
}

/** Install the patch (idempotent). Works before or after the wasm backend is initialised. */
export function patchWasmMatMul(): void {
  if (originals) return;
  const saved = new Map<string, KernelConfig>();
  for (const name of KERNELS) {
    const original = getKernel(name, BACKEND);
    if (!original) throw new Error(`tfjs-backend-wasm registered no '${name}' kernel`);
    saved.set(name, original);
  }
  for (const [name, original] of saved) {
    unregisterKernel(name, BACKEND);
    registerKernel(wrap(original));
  }
  originals = saved;
}

/** Restore the original kernels (idempotent). */
export function unpatchWasmMatMul(): void {
  if (!originals) return;
  for (const [name, original] of originals) {
    unregisterKernel(name, BACKEND);
    registerKernel(original);
  }
  originals = null;
}

export function isWasmMatMulPatched(): boolean {
  return originals !== null;
}
