/** Row-wise (log-)softmax at a temperature, in float64: the ensemble combination (src/distill), the
 * hybrid scores (src/decode) and the fidelity measures (src/score) all use these. */

/**
 * Row-wise log-softmax of logits / T into `out` (float64): out[f, s] = z[f, s]/T - lse_f(z/T).
 * Returns `out`.
 */
export function logSoftmaxRows(
  logits: ArrayLike<number>,
  numFrames: number,
  numSenones: number,
  temperature = 1,
  out: Float64Array<ArrayBufferLike> = new Float64Array(numFrames * numSenones),
): Float64Array<ArrayBufferLike> {
  const invT = 1 / temperature;
  for (let f = 0; f < numFrames; f++) {
    const b = f * numSenones;
    let m = -Infinity;
    for (let s = 0; s < numSenones; s++) {
      const v = logits[b + s] * invT;
      if (v > m) m = v;
    }
    let sum = 0;
    for (let s = 0; s < numSenones; s++) sum += Math.exp(logits[b + s] * invT - m);
    const lse = m + Math.log(sum);
    for (let s = 0; s < numSenones; s++) out[b + s] = logits[b + s] * invT - lse;
  }
  return out;
}

/** Row-wise softmax of logits / T (float64). */
export function softmaxRows(
  logits: ArrayLike<number>,
  numFrames: number,
  numSenones: number,
  temperature = 1,
  out: Float64Array<ArrayBufferLike> = new Float64Array(numFrames * numSenones),
): Float64Array<ArrayBufferLike> {
  logSoftmaxRows(logits, numFrames, numSenones, temperature, out);
  for (let i = 0; i < numFrames * numSenones; i++) out[i] = Math.exp(out[i]);
  return out;
}
