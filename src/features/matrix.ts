/** A dense row-major float32 feature matrix: one row per frame, as Kaldi's Matrix<BaseFloat>. */
export interface FeatureMatrix {
  numFrames: number;
  dim: number;
  /** numFrames * dim values, frame after frame. */
  data: Float32Array;
}

export function createMatrix(numFrames: number, dim: number): FeatureMatrix {
  return { numFrames, dim, data: new Float32Array(numFrames * dim) };
}

/** Row `t` as a view (no copy). */
export function row(m: FeatureMatrix, t: number): Float32Array {
  return m.data.subarray(t * m.dim, (t + 1) * m.dim);
}

/** Rows as plain number arrays (for JSON and tests). */
export function toRows(m: FeatureMatrix): number[][] {
  const out: number[][] = [];
  for (let t = 0; t < m.numFrames; t++) out.push(Array.from(row(m, t)));
  return out;
}

export function fromRows(rows: readonly (readonly number[])[], dim?: number): FeatureMatrix {
  const d = dim ?? (rows.length > 0 ? rows[0].length : 0);
  const m = createMatrix(rows.length, d);
  rows.forEach((r, t) => {
    if (r.length !== d) throw new RangeError(`fromRows: row ${t} has ${r.length} values, expected ${d}`);
    m.data.set(r, t * d);
  });
  return m;
}

/** Columns [start, start + count) of every row, copied. */
export function sliceColumns(m: FeatureMatrix, start: number, count: number): FeatureMatrix {
  const out = createMatrix(m.numFrames, count);
  for (let t = 0; t < m.numFrames; t++) {
    out.data.set(m.data.subarray(t * m.dim + start, t * m.dim + start + count), t * count);
  }
  return out;
}
