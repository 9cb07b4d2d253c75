/**
 * The per-frame numerics of the spectral front end in WebAssembly SIMD (f64x2), generated at
 * run time by wasm-asm.ts (no toolchain, no binary in the repository): frame preparation
 * (pre-emphasis, scaled window, the sums for DC removal and energy), the real FFT of N = 2M
 * points as a complex FFT of M points, the power spectrum with the DC offset removed after the
 * transform, sparse mel banks and their floored logs, for up to MAX_BATCH frames per call (one
 * JS-to-wasm call per batch instead of several per frame).
 *
 * Same arithmetic as the JavaScript engine (frontend.ts, fft.ts, mel.ts, fastlog.ts), in double
 * precision, in an order fixed at generation time, so results are deterministic; they differ
 * from the JavaScript engine only in the rounding of the FFT, the mel sums and the log (about
 * 1e-13 relative), which float32 outputs almost never show.
 *
 * FFT: Stockham passes over split (re, im) arrays, radix 4 then a last pass of radix 2 or 4,
 * each 4-point DFT unrolled (multiplications by -1 and +-i reduced to sign changes). The two
 * f64x2 lanes carry two independent butterflies: two values of p in the first pass (stride 1),
 * two of q after it. Radix 4 measured fastest: V8 gives wasm 16 vector registers, and the
 * unrolled 8- and 16-point DFTs (which `dft` can also generate) spill.
 */
import { assemble, F64, FunctionBuilder, I32, Op, Simd, V128 } from './wasm-asm.ts';

/** Samples held in wasm memory at a time (the signal is copied in chunks). */
const CHUNK = 1 << 16;
/** Frames computed per call at most (`frames`). */
export const MAX_BATCH = 64;
/** Bytes for mel bank tables and outputs (MAX_BATCH frames each). */
const MEL_BYTES = 1 << 20;

interface Layout {
  zRe: number;
  zIm: number;
  bufs: [number, number][];
  twiddles: number[];
  split: number;
  power: number;
  swE: number;
  swO: number;
  scalars: number;
  mel: number;
  samples: number;
  bytes: number;
}

interface PassPlan {
  radix: number;
  n: number;
  s: number;
  m: number;
}

/** Stockham passes for a complex FFT of `size` points: radix `radix` while more than `radix` points remain, then one last pass. */
function plan(size: number, radix = 4): PassPlan[] {
  const passes: PassPlan[] = [];
  let n = size;
  let s = 1;
  while (n > radix) {
    passes.push({ radix, n, s, m: n / radix });
    s *= radix;
    n /= radix;
  }
  passes.push({ radix: n, n, s, m: 1 });
  return passes;
}

function layout(size: number, windowSize: number, passes: PassPlan[]): Layout {
  let at = 0;
  const take = (bytes: number): number => {
    const o = at;
    at += Math.ceil(bytes / 16) * 16;
    return o;
  };
  const arr = 8 * size;
  const zRe = take(arr),
    zIm = take(arr);
  const bufs: [number, number][] = [
    [take(arr), take(arr)],
    [take(arr), take(arr)],
  ];
  const twiddles = passes.map((p, i) =>
    p.m === 1 ? -1 : take(i === 0 ? (p.m / 2) * (p.radix - 1) * 32 : p.m * (p.radix - 1) * 16),
  );
  const split = take((size / 4) * 96 + 16);
  const power = take(8 * (size + 4));
  const swE = take(arr),
    swO = take(arr);
  const scalars = take(16 * MAX_BATCH);
  const mel = take(MEL_BYTES);
  const samples = take(4 * (CHUNK + Math.max(windowSize, 4) + 16));
  return { zRe, zIm, bufs, twiddles, split, power, swE, swO, scalars, mel, samples, bytes: at };
}

/** A v128 local with a sign (negations are folded into later adds). */
interface Term {
  local: number;
  neg: boolean;
}
interface Cx {
  re: Term;
  im: Term;
}

const negate = (t: Term): Term => ({ local: t.local, neg: !t.neg });

/** Straight-line f64x2 arithmetic on locals. */
class Arith {
  constructor(readonly f: FunctionBuilder) {}
  fresh(): Term {
    return { local: this.f.local(V128), neg: false };
  }
  /** A new local holding the v128 that `emit` leaves on the stack. */
  define(emit: () => void): Term {
    const t = this.fresh();
    emit();
    this.f.set(t.local);
    return t;
  }
  /** a + b, or a - b with `minus`. */
  sum(a: Term, b: Term, minus = false): Term {
    const f = this.f;
    const bNeg = b.neg !== minus;
    if (a.neg && !bNeg) return this.define(() => f.get(b.local).get(a.local).simd(Simd.f64x2Sub));
    const t = this.define(() =>
      f
        .get(a.local)
        .get(b.local)
        .simd(a.neg === bNeg ? Simd.f64x2Add : Simd.f64x2Sub),
    );
    return { local: t.local, neg: a.neg && bNeg };
  }
  add(a: Cx, b: Cx): Cx {
    return { re: this.sum(a.re, b.re), im: this.sum(a.im, b.im) };
  }
  sub(a: Cx, b: Cx): Cx {
    return { re: this.sum(a.re, b.re, true), im: this.sum(a.im, b.im, true) };
  }
  scale(a: Term, c: number): Term {
    const t = this.define(() => this.f.get(a.local).f64x2(Math.abs(c)).simd(Simd.f64x2Mul));
    return { local: t.local, neg: a.neg !== c < 0 };
  }
  /** Push the value of `t` (negated if its sign says so). */
  push(t: Term): void {
    this.f.get(t.local);
    if (t.neg) this.f.simd(Simd.f64x2Neg);
  }
  /** Push a * w (complex, w in locals wr, wi): re or im part. */
  pushTwiddled(a: Cx, wr: number, wi: number, part: 're' | 'im'): void {
    const f = this.f;
    // re = ar wr - ai wi, im = ar wi + ai wr.
    this.push(a.re);
    f.get(part === 're' ? wr : wi).simd(Simd.f64x2Mul);
    this.push(a.im);
    f.get(part === 're' ? wi : wr).simd(Simd.f64x2Mul);
    f.simd(part === 're' ? Simd.f64x2Sub : Simd.f64x2Add);
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** a * W_r^e, W_r = exp(-2 pi i / r), with the special angles reduced to sign changes and adds. */
function twiddle(ar: Arith, a: Cx, e: number, r: number): Cx {
  e = ((e % r) + r) % r;
  if (e === 0) return a;
  const g = gcd(e, r);
  const num = e / g,
    den = r / g;
  if (den === 2) return { re: negate(a.re), im: negate(a.im) };
  if (den === 4) return num === 1 ? { re: a.im, im: negate(a.re) } : { re: negate(a.im), im: a.re };
  // (ar + i ai)(c - i s) = (ar c + ai s) + i (ai c - ar s), c, s = cos, sin of 2 pi e / r.
  const angle = (2 * Math.PI * num) / den;
  if (den === 8) {
    const c = Math.sign(Math.cos(angle)),
      s = Math.sign(Math.sin(angle));
    const u = ar.sum(c > 0 ? a.re : negate(a.re), s > 0 ? a.im : negate(a.im));
    const w = ar.sum(c > 0 ? a.im : negate(a.im), s > 0 ? negate(a.re) : a.re);
    return { re: ar.scale(u, Math.SQRT1_2), im: ar.scale(w, Math.SQRT1_2) };
  }
  const c = Math.cos(angle),
    s = Math.sin(angle);
  return {
    re: ar.sum(ar.scale(a.re, c), ar.scale(a.im, s)),
    im: ar.sum(ar.scale(a.im, c), ar.scale(a.re, s), true),
  };
}

/** Unrolled forward DFT (exp(-2 pi i jk / R)) of R = 1, 2, 4, 8 or 16 inputs. */
function dft(ar: Arith, a: Cx[]): Cx[] {
  const r = a.length;
  if (r === 1) return a;
  if (r === 2) return [ar.add(a[0], a[1]), ar.sub(a[0], a[1])];
  if (r === 4) {
    const t0 = ar.add(a[0], a[2]),
      t1 = ar.sub(a[0], a[2]);
    const t2 = ar.add(a[1], a[3]),
      t3 = twiddle(ar, ar.sub(a[1], a[3]), 1, 4);
    return [ar.add(t0, t2), ar.add(t1, t3), ar.sub(t0, t2), ar.sub(t1, t3)];
  }
  // r = r1 * 4: k = k1 + r1 k2, j = j2 + 4 j1: 4-point DFTs over k2, twiddles W_r^(j2 k1),
  // r1-point DFTs over k1.
  const r1 = r / 4;
  const inner: Cx[][] = [];
  for (let k1 = 0; k1 < r1; k1++) {
    const b = dft(
      ar,
      [0, 1, 2, 3].map((k2) => a[k1 + r1 * k2]),
    );
    inner.push(b.map((v, j2) => twiddle(ar, v, j2 * k1, r)));
  }
  const out: Cx[] = new Array(r);
  for (let j2 = 0; j2 < 4; j2++) {
    const d = dft(
      ar,
      inner.map((b) => b[j2]),
    );
    for (let j1 = 0; j1 < r1; j1++) out[j2 + 4 * j1] = d[j1];
  }
  return out;
}

/** Where one Stockham pass reads and writes: the split (re, im) arrays and its twiddle table. */
interface PassBuffers {
  inRe: number;
  inIm: number;
  outRe: number;
  outIm: number;
  tw: number;
}

/** Which twiddle locals (wr, wi) output j of a butterfly is multiplied by; null for none. */
type TwiddleLocals = (j: number) => [number, number] | null;
/** Store output j's re or im part; `value` pushes it. */
type StoreOutput = (j: number, part: 're' | 'im', value: () => void) => void;

/**
 * One Stockham pass from (inRe, inIm) to (outRe, outIm). First pass (s = 1, m >= 2): lanes are
 * p and p + 1, twiddle vectors from the table, outputs stored lane by lane. Later passes
 * (s >= 2): lanes are q and q + 1, twiddles splatted per p (none when m = 1).
 */
function emitPass(
  f: FunctionBuilder,
  pass: PassPlan,
  first: boolean,
  inRe: number,
  inIm: number,
  outRe: number,
  outIm: number,
  tw: number,
): void {
  const ar = new Arith(f);
  const inB = f.local(I32),
    outB = f.local(I32);
  const bufs: PassBuffers = { inRe, inIm, outRe, outIm, tw };
  if (first) emitFirstPass(f, ar, pass, bufs, inB, outB);
  else emitLaterPass(f, ar, pass, bufs, inB, outB);
}

/**
 * One radix-r butterfly at byte offset inB: load its r inputs (stride s m), the unrolled DFT,
 * then each output twiddled (or not) and handed to `store`.
 */
function emitButterfly(
  f: FunctionBuilder,
  ar: Arith,
  pass: PassPlan,
  bufs: PassBuffers,
  inB: number,
  twiddles: TwiddleLocals,
  store: StoreOutput,
): void {
  const { radix: r, s, m } = pass;
  const inStride = 8 * s * m;
  const inputs: Cx[] = [];
  for (let k = 0; k < r; k++) {
    const re = ar.define(() => f.get(inB).vload(bufs.inRe + k * inStride));
    const im = ar.define(() => f.get(inB).vload(bufs.inIm + k * inStride));
    inputs.push({ re, im });
  }
  dft(ar, inputs).forEach((a, j) => {
    const w = twiddles(j);
    for (const part of ['re', 'im'] as const) {
      store(j, part, () => (w ? ar.pushTwiddled(a, w[0], w[1], part) : ar.push(a[part])));
    }
  });
}

/** The first pass (stride 1): lanes p and p + 1, twiddle vectors from the table, stores lane by lane. */
function emitFirstPass(
  f: FunctionBuilder,
  ar: Arith,
  pass: PassPlan,
  bufs: PassBuffers,
  inB: number,
  outB: number,
): void {
  const { radix: r, s, m } = pass;
  const { outRe, outIm, tw } = bufs;
  if (s !== 1 || m < 2) throw new Error('first pass must have stride 1 and m >= 2');
  const p = f.local(I32),
    twB = f.local(I32);
  const wr = f.local(V128),
    wi = f.local(V128),
    val = f.local(V128);
  f.forLoop(p, 0, { value: m }, 2, () => {
    f.get(p).i32(3).op(Op.i32Shl).set(inB);
    f.get(p)
      .i32(8 * r)
      .op(Op.i32Mul)
      .set(outB);
    f.get(p)
      .i32(16 * (r - 1))
      .op(Op.i32Mul)
      .set(twB);
    emitButterfly(
      f,
      ar,
      pass,
      bufs,
      inB,
      (j) => {
        if (j === 0) return null;
        f.get(twB)
          .vload(tw + 32 * (j - 1))
          .set(wr);
        f.get(twB)
          .vload(tw + 32 * (j - 1) + 16)
          .set(wi);
        return [wr, wi];
      },
      (j, part, value) => {
        value();
        f.set(val);
        const base = (part === 're' ? outRe : outIm) + 8 * j;
        f.get(outB).get(val).vstoreLane(base, 0);
        f.get(outB)
          .get(val)
          .vstoreLane(base + 8 * r, 1);
      },
    );
  });
}

/** A later pass (stride >= 2): lanes q and q + 1 for each p, the twiddles of p splatted (none when m = 1). */
function emitLaterPass(
  f: FunctionBuilder,
  ar: Arith,
  pass: PassPlan,
  bufs: PassBuffers,
  inB: number,
  outB: number,
): void {
  const { radix: r, s, m } = pass;
  const { outRe, outIm, tw } = bufs;
  if (s < 2) throw new Error('later passes need stride >= 2');
  const q = f.local(I32);
  const pIn = f.local(I32),
    pOut = f.local(I32);
  const w: [number, number][] = [];
  for (let j = 1; j < r; j++) w.push([f.local(V128), f.local(V128)]);
  const inner = (): void => {
    f.forLoop(q, 0, { value: 8 * s }, 16, () => {
      f.get(q).get(pIn).op(Op.i32Add).set(inB);
      f.get(q).get(pOut).op(Op.i32Add).set(outB);
      emitButterfly(
        f,
        ar,
        pass,
        bufs,
        inB,
        (j) => (m > 1 && j > 0 ? w[j - 1] : null),
        (j, part, value) => {
          f.get(outB);
          value();
          f.vstore((part === 're' ? outRe : outIm) + 8 * s * j);
        },
      );
    });
  };
  if (m === 1) {
    f.i32(0).set(pIn).i32(0).set(pOut);
    inner();
    return;
  }
  const p = f.local(I32),
    twB = f.local(I32);
  f.forLoop(p, 0, { value: m }, 1, () => {
    f.get(p)
      .i32(8 * s)
      .op(Op.i32Mul)
      .set(pIn);
    f.get(p)
      .i32(8 * s * r)
      .op(Op.i32Mul)
      .set(pOut);
    f.get(p)
      .i32(16 * (r - 1))
      .op(Op.i32Mul)
      .set(twB);
    for (let j = 1; j < r; j++) {
      f.get(twB)
        .vsplatLoad(tw + 16 * (j - 1))
        .set(w[j - 1][0]);
      f.get(twB)
        .vsplatLoad(tw + 16 * (j - 1) + 8)
        .set(w[j - 1][1]);
    }
    inner();
  });
}

/**
 * power(c0): FFT of (zRe, zIm), then |X[k] - c0 R[k]|^2 for k = 0 .. M into `power` (R: the
 * window's spectrum, in the split table), as PackedRealPowerSpectrum.computeMinusReference.
 */
function emitPower(size: number, passes: PassPlan[], lay: Layout): FunctionBuilder {
  const f = new FunctionBuilder('power', [F64], []);
  let inRe = lay.zRe,
    inIm = lay.zIm;
  passes.forEach((pass, i) => {
    const [outRe, outIm] = lay.bufs[i % 2];
    emitPass(f, pass, i === 0, inRe, inIm, outRe, outIm, lay.twiddles[i]);
    inRe = outRe;
    inIm = outIm;
  });
  const zr = inRe,
    zi = inIm,
    m = size,
    halfM = size / 2;
  const c0 = 0;
  // k = 0 and k = M from Z[0]: X[0] = Re + Im, X[M] = Re - Im (real; their reference values
  // are the split table's first two doubles).
  const x = f.local(F64);
  for (const [sign, refAt, outAt] of [
    [Op.f64Add, lay.split, 0],
    [Op.f64Sub, lay.split + 8, 8 * m],
  ] as const) {
    f.i32(0).mem(Op.f64Load, zr, 3).i32(0).mem(Op.f64Load, zi, 3).op(sign);
    f.get(c0).i32(0).mem(Op.f64Load, refAt, 3).op(Op.f64Mul, Op.f64Sub).set(x);
    f.i32(0)
      .get(x)
      .get(x)
      .op(Op.f64Mul)
      .mem(Op.f64Store, lay.power + outAt, 3);
  }
  const ar = new Arith(f);
  const c0v: Term = { local: f.local(V128), neg: false };
  f.get(c0).simd(Simd.f64x2Splat).set(c0v.local);
  const k = f.local(I32),
    kb = f.local(I32),
    rb = f.local(I32),
    tb = f.local(I32);
  const swapped = (v: Term): Term => ar.define(() => f.get(v.local).get(v.local).shuffle64(1, 0));
  const mul = (u: Term, v: Term): Term => ar.define(() => f.get(u.local).get(v.local).simd(Simd.f64x2Mul));
  const tab = lay.split + 16;
  f.forLoop(k, 1, { value: halfM + 1 }, 2, () => {
    // Bins k, k + 1 and M - k, M - k - 1 (the latter loaded at M - k - 1 and lane-swapped).
    f.get(k).i32(3).op(Op.i32Shl).set(kb);
    f.i32(8 * (m - 1))
      .get(kb)
      .op(Op.i32Sub)
      .set(rb);
    f.get(k).i32(48).op(Op.i32Mul).set(tb);
    const load = (at: number, base: number): Term => ar.define(() => f.get(at).vload(base));
    const ar0 = load(kb, zr),
      ai0 = load(kb, zi);
    const br0 = swapped(load(rb, zr)),
      bi0 = swapped(load(rb, zi));
    const t = (i: number): Term => ar.define(() => f.get(tb).vload(tab - 48 + 16 * i));
    const er = ar.sum(ar0, br0),
      ei = ar.sum(ai0, bi0, true);
    const or = ar.sum(ai0, bi0),
      oi = ar.sum(br0, ar0, true);
    const c = t(0),
      s = t(1);
    const tr = ar.sum(mul(c, or), mul(s, oi));
    const ti = ar.sum(mul(c, oi), mul(s, or), true);
    const minusRef = (u: Term, i: number): Term => ar.sum(u, mul(c0v, t(i)), true);
    const pr = minusRef(ar.sum(er, tr), 2),
      pi = minusRef(ar.sum(ei, ti), 3);
    const qr = minusRef(ar.sum(er, tr, true), 4),
      qi = minusRef(ar.sum(ti, ei, true), 5);
    const powerOf = (u: Term, v: Term): Term =>
      ar.define(() => {
        f.get(u.local)
          .get(u.local)
          .simd(Simd.f64x2Mul)
          .get(v.local)
          .get(v.local)
          .simd(Simd.f64x2Mul)
          .simd(Simd.f64x2Add);
        f.f64x2(0.25).simd(Simd.f64x2Mul);
      });
    const lo = powerOf(pr, pi);
    const hi = swapped(powerOf(qr, qi));
    f.get(kb).get(lo.local).vstore(lay.power);
    f.get(rb).get(hi.local).vstore(lay.power);
  });
  return f;
}

/**
 * Prepare the frame at samples + startByte (f32) into (zRe, zIm): y[i] = (x[i] - p x[i-1]) w[i]
 * with x[-1] = x[0] and w the scaled window, even samples to zRe, odd to zIm. Leaves the sum of
 * the samples in local `total` and, when `wantSq` (param 4) is set, their sum of squares in
 * `total2` (else 0).
 */
function emitPrep(
  f: FunctionBuilder,
  windowSize: number,
  lay: Layout,
  start: number,
  pre: number,
  wantSq: number,
): { total: number; total2: number } {
  const ar = new Arith(f);
  const base = f.local(I32),
    i = f.local(I32);
  const pv = f.local(V128),
    oPrev = f.local(V128),
    sum = f.local(V128),
    sq = f.local(V128);
  f.get(start).i32(lay.samples).op(Op.i32Add).set(base);
  f.get(pre).simd(Simd.f64x2Splat).set(pv);
  f.get(base).mem(Op.f32Load, 0, 2).op(Op.f64PromoteF32).simd(Simd.f64x2Splat).set(oPrev);
  f.f64x2(0).set(sum).f64x2(0).set(sq);
  const full = Math.floor(windowSize / 4);
  // Four samples per iteration: (x0, x1, x2, x3) -> even (x0, x2), odd (x1, x3), and the
  // previous samples of the even ones (x-1, x1).
  const loop = (squares: boolean): void => {
    f.forLoop(i, 0, { value: 16 * full }, 16, () => {
      const a = ar.define(() => f.get(base).get(i).op(Op.i32Add).vload(0));
      const lo = ar.define(() => f.get(a.local).simd(Simd.f64x2PromoteLowF32x4));
      const hi = ar.define(() => f.get(a.local).get(a.local).shuffle64(1, 0).simd(Simd.f64x2PromoteLowF32x4));
      const e = ar.define(() => f.get(lo.local).get(hi.local).shuffle64(0, 2));
      const o = ar.define(() => f.get(lo.local).get(hi.local).shuffle64(1, 3));
      const prevE = ar.define(() => f.get(oPrev).get(o.local).shuffle64(1, 2));
      for (const [x, prev, w, out] of [
        [e, prevE, lay.swE, lay.zRe],
        [o, e, lay.swO, lay.zIm],
      ] as const) {
        f.get(i);
        f.get(x.local).get(pv).get(prev.local).simd(Simd.f64x2Mul).simd(Simd.f64x2Sub);
        f.get(i).vload(w).simd(Simd.f64x2Mul);
        f.vstore(out);
      }
      f.get(sum).get(e.local).simd(Simd.f64x2Add).get(o.local).simd(Simd.f64x2Add).set(sum);
      if (squares) {
        f.get(sq).get(e.local).get(e.local).simd(Simd.f64x2Mul).simd(Simd.f64x2Add);
        f.get(o.local).get(o.local).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).set(sq);
      }
      f.get(o.local).set(oPrev);
    });
  };
  f.get(wantSq).op(Op.if, 0x40);
  loop(true);
  f.op(Op.else);
  loop(false);
  f.op(Op.end);
  // Total of both lanes, plus the last windowSize mod 4 samples one by one.
  const total = f.local(F64),
    total2 = f.local(F64),
    x = f.local(F64);
  const lanes = (v: number): void =>
    void f.get(v).simd(Simd.f64x2ExtractLane).op(0).get(v).simd(Simd.f64x2ExtractLane).op(1).op(Op.f64Add);
  lanes(sum);
  f.set(total);
  lanes(sq);
  f.set(total2);
  const sample = (idx: number): void =>
    void f
      .get(base)
      .mem(Op.f32Load, 4 * idx, 2)
      .op(Op.f64PromoteF32);
  for (let r = 4 * full; r < windowSize; r++) {
    sample(r);
    f.set(x);
    f.i32(0);
    f.get(x).get(pre);
    sample(Math.max(r - 1, 0));
    f.op(Op.f64Mul, Op.f64Sub);
    f.i32(0)
      .mem(Op.f64Load, (r % 2 === 0 ? lay.swE : lay.swO) + 8 * (r >> 1), 3)
      .op(Op.f64Mul);
    f.mem(Op.f64Store, (r % 2 === 0 ? lay.zRe : lay.zIm) + 8 * (r >> 1), 3);
    f.get(total).get(x).op(Op.f64Add).set(total);
    f.get(total2).get(x).get(x).op(Op.f64Mul).op(Op.f64Add).set(total2);
  }
  return { total, total2 };
}

/** float32 machine epsilon, Kaldi's floor before taking logs (as frontend.ts). */
const FLT_EPSILON = 1.1920928955078125e-7;

/**
 * Floored natural logs of `count` doubles at address `src` (local) into floats at `dst`
 * (local), two at a time (count rounded up to even): ln(v > FLT_EPSILON ? v : FLT_EPSILON), NaN
 * floored too, as fastlog.ts. v = 2^e m with m in [sqrt(1/2), sqrt(2)):
 * ln v = e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, from nine terms of the series
 * (truncation below 1e-15 relative), within a few ulps of Math.log.
 */
function emitLogs(f: FunctionBuilder, src: number, dst: number, count: number): void {
  const i = f.local(I32),
    end = f.local(I32);
  const x = f.local(V128),
    m = f.local(V128),
    e = f.local(V128),
    big = f.local(V128),
    sv = f.local(V128),
    z = f.local(V128),
    poly = f.local(V128);
  const c = (v: number | bigint): number => f.constLocal(v);
  const floor = c(FLT_EPSILON),
    mantissa = c(0x000fffffffffffffn),
    one = c(1),
    oneBits = c(0x3ff0000000000000n);
  const sqrt2 = c(Math.SQRT2),
    half = c(0.5),
    twoP52 = c(0x4330000000000000n),
    bias = c(4503599627371519),
    ln2 = c(Math.LN2),
    inf = c(Infinity);
  const coef = Array.from({ length: 9 }, (_, k) => c(1 / (2 * k + 1)));
  f.get(count).i32(1).op(Op.i32Add).i32(-2).op(Op.i32And).i32(3).op(Op.i32Shl).set(end);
  f.forLoop(i, 0, { local: end }, 16, () => {
    // x = v > floor ? v : floor.
    f.get(src).get(i).op(Op.i32Add).vload(0).set(x);
    f.get(x).get(floor).get(x).get(floor).simd(Simd.f64x2Gt).simd(Simd.bitselect).set(x);
    // m = mantissa in [1, 2), e = biased exponent; m > sqrt 2: m / 2, e + 1.
    f.get(x).get(mantissa).simd(Simd.and).get(oneBits).simd(Simd.or).set(m);
    f.get(x).i32(52).simd(Simd.i64x2ShrU).set(e);
    f.get(m).get(sqrt2).simd(Simd.f64x2Gt).set(big);
    f.get(m).get(half).simd(Simd.f64x2Mul).get(m).get(big).simd(Simd.bitselect).set(m);
    f.get(e).get(big).simd(Simd.i64x2Sub).set(e);
    f.get(m).get(one).simd(Simd.f64x2Sub).get(m).get(one).simd(Simd.f64x2Add).simd(Simd.f64x2Div).set(sv);
    f.get(sv).get(sv).simd(Simd.f64x2Mul).set(z);
    // sum of z^k / (2k + 1), k <= 8, by Estrin's scheme (short dependency chains).
    const t = (emit: () => void): number => {
      const l = f.local(V128);
      emit();
      f.set(l);
      return l;
    };
    const z2 = t(() => f.get(z).get(z).simd(Simd.f64x2Mul));
    const z4 = t(() => f.get(z2).get(z2).simd(Simd.f64x2Mul));
    const z8 = t(() => f.get(z4).get(z4).simd(Simd.f64x2Mul));
    const pair = (k: number): number =>
      t(() =>
        f
          .get(coef[k + 1])
          .get(z)
          .simd(Simd.f64x2Mul)
          .get(coef[k])
          .simd(Simd.f64x2Add),
      );
    const q = [0, 2, 4, 6].map(pair);
    const quad = (a: number, b: number): number =>
      t(() => f.get(b).get(z2).simd(Simd.f64x2Mul).get(a).simd(Simd.f64x2Add));
    const r0 = quad(q[0], q[1]),
      r1 = quad(q[2], q[3]);
    const s0 = t(() => f.get(r1).get(z4).simd(Simd.f64x2Mul).get(r0).simd(Simd.f64x2Add));
    f.get(coef[8]).get(z8).simd(Simd.f64x2Mul).get(s0).simd(Simd.f64x2Add).set(poly);
    // (e - 1023) exactly as a double: the bits of 2^52 + e, minus 2^52 + 1023.
    f.get(e).get(twoP52).simd(Simd.or).get(bias).simd(Simd.f64x2Sub);
    f.get(ln2).simd(Simd.f64x2Mul);
    f.get(sv).get(sv).simd(Simd.f64x2Add).get(poly).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).set(poly);
    // +Infinity stays infinite.
    f.get(inf).get(poly).get(x).get(inf).simd(Simd.f64x2Eq).simd(Simd.bitselect);
    f.simd(Simd.f32x4DemoteF64x2Zero).set(x);
    f.get(dst).get(i).i32(1).op(Op.i32ShrU).op(Op.i32Add).get(x).vstoreLane(0, 0);
  });
}

/**
 * mels(): for every registered bank (slot list at `mel`: i32 count, then per slot the table
 * address, number of bins, output address and log output address or 0), out[b] = sum of
 * weight * power over the bin's FFT bins, and with a log output their floored logs as floats
 * (emitLogs). A table holds per bin four i32: byte offset into power, number of weight pairs
 * (even), byte address of the weights, unused; weights are padded with zeros to a multiple of 4.
 */
function emitMels(lay: Layout): FunctionBuilder {
  const f = new FunctionBuilder('mels', [I32], []);
  const frame = 0;
  const slot = f.local(I32),
    slotEnd = f.local(I32),
    table = f.local(I32),
    count = f.local(I32),
    out = f.local(I32),
    logOut = f.local(I32);
  const b = f.local(I32),
    tb = f.local(I32),
    pp = f.local(I32),
    wp = f.local(I32),
    end = f.local(I32);
  const acc = f.local(V128),
    acc2 = f.local(V128);
  f.i32(0).mem(Op.i32Load, lay.mel, 2).i32(4).op(Op.i32Shl).i32(16).op(Op.i32Add).set(slotEnd);
  f.forLoop(slot, 16, { local: slotEnd }, 16, () => {
    f.get(slot).mem(Op.i32Load, lay.mel, 2).set(table);
    f.get(slot)
      .mem(Op.i32Load, lay.mel + 4, 2)
      .set(count);
    // Frame `frame` of a batch: outputs at out + 8 count frame, logOut + 4 count frame.
    f.get(slot)
      .mem(Op.i32Load, lay.mel + 8, 2)
      .get(frame)
      .get(count)
      .op(Op.i32Mul)
      .i32(3)
      .op(Op.i32Shl)
      .op(Op.i32Add)
      .set(out);
    f.get(slot)
      .mem(Op.i32Load, lay.mel + 12, 2)
      .set(logOut);
    f.get(logOut).op(Op.if, 0x40);
    f.get(logOut).get(frame).get(count).op(Op.i32Mul).i32(2).op(Op.i32Shl).op(Op.i32Add).set(logOut);
    f.op(Op.end);
    f.forLoop(b, 0, { local: count }, 1, () => {
      f.get(b).i32(4).op(Op.i32Shl).get(table).op(Op.i32Add).set(tb);
      f.get(tb).mem(Op.i32Load, 0, 2).set(pp);
      f.get(tb).mem(Op.i32Load, 8, 2).set(wp);
      f.get(tb).mem(Op.i32Load, 4, 2).i32(4).op(Op.i32Shl).get(wp).op(Op.i32Add).set(end);
      // Two pairs per iteration, into two sums.
      f.f64x2(0).set(acc).f64x2(0).set(acc2);
      f.op(Op.block, 0x40, Op.loop, 0x40);
      f.get(wp).get(end).op(Op.i32GeS, Op.brIf, 1);
      f.get(acc).get(wp).vload(0).get(pp).vload(lay.power).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).set(acc);
      f.get(acc2)
        .get(wp)
        .vload(16)
        .get(pp)
        .vload(lay.power + 16)
        .simd(Simd.f64x2Mul)
        .simd(Simd.f64x2Add)
        .set(acc2);
      f.get(wp).i32(32).op(Op.i32Add).set(wp);
      f.get(pp).i32(32).op(Op.i32Add).set(pp);
      f.op(Op.br, 0, Op.end, Op.end);
      f.get(acc).get(acc2).simd(Simd.f64x2Add).set(acc);
      f.get(b).i32(3).op(Op.i32Shl).get(out).op(Op.i32Add);
      f.get(acc).simd(Simd.f64x2ExtractLane).op(0).get(acc).simd(Simd.f64x2ExtractLane).op(1).op(Op.f64Add);
      f.mem(Op.f64Store, 0, 3);
    });
    f.get(logOut).op(Op.if, 0x40);
    emitLogs(f, out, logOut, count);
    f.op(Op.end);
  });
  return f;
}

/** Function indices in the module. */
const POWER = 0,
  MELS = 1;

/**
 * frames(startByte, shiftBytes, count, preemph, scale, removeDc, wantSq): for frame i < count
 * starting at samples + startByte + i shiftBytes: prepare it (emitPrep), its power spectrum
 * with the DC offset removed after the FFT (c0 = (sum scale / windowSize)(1 - preemph) when
 * removeDc, as frontend.ts), its mel energies (and logs) as frame i of every registered bank;
 * the sum and sum of squares of its samples go to scalars[2 i], scalars[2 i + 1].
 */
function emitFrames(windowSize: number, lay: Layout): FunctionBuilder {
  const f = new FunctionBuilder('frames', [I32, I32, I32, F64, F64, I32, I32], []);
  const [start, shift, count, pre, scale, removeDc, wantSq] = [0, 1, 2, 3, 4, 5, 6];
  const i = f.local(I32),
    at = f.local(I32),
    c0 = f.local(F64);
  f.forLoop(i, 0, { local: count }, 1, () => {
    f.get(i).get(shift).op(Op.i32Mul).get(start).op(Op.i32Add).set(at);
    const { total, total2 } = emitPrep(f, windowSize, lay, at, pre, wantSq);
    f.get(i).i32(4).op(Op.i32Shl).get(total).mem(Op.f64Store, lay.scalars, 3);
    f.get(i)
      .i32(4)
      .op(Op.i32Shl)
      .get(total2)
      .mem(Op.f64Store, lay.scalars + 8, 3);
    f.f64(0).set(c0);
    f.get(removeDc).op(Op.if, 0x40);
    f.get(total).get(scale).op(Op.f64Mul).f64(windowSize).op(Op.f64Div);
    f.f64(1).get(pre).op(Op.f64Sub).op(Op.f64Mul).set(c0);
    f.op(Op.end);
    f.get(c0).op(Op.call, POWER).get(i).op(Op.call, MELS);
  });
  return f;
}

/** spectrum(c0): power spectrum and mel banks (frame 0) of a frame the caller put into (zRe, zIm). */
function emitSpectrum(): FunctionBuilder {
  const f = new FunctionBuilder('spectrum', [F64], []);
  f.get(0).op(Op.call, POWER).i32(0).op(Op.call, MELS);
  return f;
}

/** Twiddle tables of the passes (first pass: per pair of p; later: per p), written into memory. */
function writeTwiddles(mem: Float64Array, passes: PassPlan[], lay: Layout): void {
  passes.forEach((pass, i) => {
    if (pass.m === 1) return;
    const { radix: r, n, m } = pass;
    const w = (p: number, j: number): [number, number] => {
      const angle = (2 * Math.PI * ((p * j) % n)) / n;
      return [Math.cos(angle), -Math.sin(angle)];
    };
    let at = lay.twiddles[i] / 8;
    if (i === 0) {
      for (let p = 0; p < m; p += 2) {
        for (let j = 1; j < r; j++, at += 4) {
          const [r0, i0] = w(p, j),
            [r1, i1] = w(p + 1, j);
          mem.set([r0, r1, i0, i1], at);
        }
      }
    } else {
      for (let p = 0; p < m; p++) for (let j = 1; j < r; j++, at += 2) mem.set(w(p, j), at);
    }
  });
}

/** The parts of the WebAssembly JS API used here (the project's TypeScript libs do not declare them). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface Kernels {
  passes: PassPlan[];
  layout: Layout;
  module: object;
}

const kernelCache = new Map<string, Kernels | null>();

function kernels(size: number, windowSize: number): Kernels | null {
  const key = `${size}:${windowSize}`;
  let k = kernelCache.get(key);
  if (k === undefined) {
    k = null;
    if (size >= 8 && (size & (size - 1)) === 0 && windowSize >= 1 && windowSize <= 2 * size && wasmApi) {
      const passes = plan(size);
      const lay = layout(size, windowSize, passes);
      const functions = [emitPower(size, passes, lay), emitMels(lay), emitFrames(windowSize, lay), emitSpectrum()];
      try {
        k = { passes, layout: lay, module: new wasmApi.Module(assemble(functions, Math.ceil(lay.bytes / 65536))) };
      } catch {
        k = null; // no WebAssembly SIMD here: the JavaScript path is used.
      }
    }
    kernelCache.set(key, k);
  }
  return k;
}

interface Exports {
  memory: { buffer: ArrayBuffer };
  frames(
    startByte: number,
    shiftBytes: number,
    count: number,
    preemph: number,
    scale: number,
    removeDc: number,
    wantSq: number,
  ): void;
  spectrum(c0: number): void;
}

/** Sparse mel banks as mel.ts's MelBanks stores them. */
export interface SparseBanks {
  readonly numBins: number;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly weightStarts: Int32Array;
  readonly weights: Float64Array;
}

/**
 * Where the mel energies of a registered bank are (views of wasm memory): frame i of the last
 * `frames` call at [i numBins, (i + 1) numBins).
 */
export interface WasmMel {
  numBins: number;
  /** Mel energies. */
  values: Float64Array;
  /** ln(max(value, FLT_EPSILON)) as floats, where asked for. */
  logs: Float32Array | null;
  /** Frame 0's values and logs (numBins each). */
  first: { values: Float64Array; logs: Float32Array | null };
}

/** Registered mel banks at most. */
const MAX_MEL_SLOTS = 8;

/** Instances not in use, per kernel (acquire / release). */
const pool = new Map<Kernels, WasmSpectrum[]>();

/**
 * Frames in wasm memory: `frames` (from the signal, up to MAX_BATCH at once) or `spectrum` (one
 * frame the caller prepared) compute |X[k]|^2, k = 0 .. M, into `power` (the last frame's) and
 * the energies of every registered mel bank into its buffers.
 */
export class WasmSpectrum {
  /** Power spectrum of the last frame (a view of wasm memory), M + 1 values. */
  readonly power: Float64Array;
  /** Per frame of the last `frames` call: sum and sum of squares (0 unless asked for) of its samples, unscaled. */
  readonly sums: Float64Array;
  private readonly kernels: Kernels;
  private readonly size: number;
  private readonly windowSize: number;
  private readonly ex: Exports;
  private readonly lay: Layout;
  private readonly f64: Float64Array;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  private signal: Float32Array | null = null;
  private chunkStart = 0;
  private chunkEnd = 0;
  /** Bytes of the mel region in use (slot list first). */
  private melUsed = 0;
  private readonly melBuffers = new Map<SparseBanks, WasmMel | null>();

  /**
   * A WasmSpectrum for a real FFT of 2 `size` points and frames of `windowSize` samples (from a
   * pool; give it back with `release`), or null where unsupported.
   */
  static acquire(size: number, windowSize: number): WasmSpectrum | null {
    const k = kernels(size, windowSize);
    if (!k) return null;
    return pool.get(k)?.pop() ?? new WasmSpectrum(size, windowSize, k);
  }

  private constructor(size: number, windowSize: number, k: Kernels) {
    this.kernels = k;
    this.size = size;
    this.windowSize = windowSize;
    this.lay = k.layout;
    this.ex = new wasmApi!.Instance(k.module).exports as Exports;
    const buf = this.ex.memory.buffer;
    this.f64 = new Float64Array(buf);
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.power = new Float64Array(buf, this.lay.power, size + 1);
    this.sums = new Float64Array(buf, this.lay.scalars, 2 * MAX_BATCH);
    writeTwiddles(this.f64, k.passes, this.lay);
    this.reset();
  }

  /** Frames one `frames` call can take at a frame shift of `shift` samples. */
  maxFrames(shift: number): number {
    return Math.max(1, Math.min(MAX_BATCH, 1 + Math.floor(CHUNK / Math.max(shift, 1))));
  }

  /** Forget the signal and the registered banks and return this instance to the pool. */
  release(): void {
    this.reset();
    const free = pool.get(this.kernels) ?? [];
    free.push(this);
    pool.set(this.kernels, free);
  }

  private reset(): void {
    this.signal = null;
    this.melBuffers.clear();
    this.i32[this.lay.mel / 4] = 0;
    this.melUsed = 16 + 16 * MAX_MEL_SLOTS;
  }

  /** The window times the sample scale (windowSize values), used by `frames`. */
  setWindow(scaledWindow: Float64Array): void {
    const { swE, swO } = this.lay;
    for (let i = 0; i < this.windowSize; i++) this.f64[(i % 2 === 0 ? swE : swO) / 8 + (i >> 1)] = scaledWindow[i];
  }

  /**
   * The spectrum R[k] = re[k] + i im[k], k = 0 .. M, of the reference signal (the window) whose
   * multiple c0 R is subtracted from every frame's spectrum.
   */
  setReference(re: Float64Array, im: Float64Array): void {
    const m = this.size;
    const f = this.f64;
    const base = this.lay.split / 8;
    f[base] = re[0];
    f[base + 1] = re[m];
    for (let k = 1, at = base + 2; k <= m / 2; k += 2, at += 12) {
      for (let l = 0; l < 2; l++) {
        const angle = (2 * Math.PI * (k + l)) / (2 * m);
        f[at + l] = Math.cos(angle);
        f[at + 2 + l] = Math.sin(angle);
        f[at + 4 + l] = 2 * re[k + l];
        f[at + 6 + l] = 2 * im[k + l];
        f[at + 8 + l] = 2 * re[m - k - l];
        f[at + 10 + l] = 2 * im[m - k - l];
      }
    }
  }

  /**
   * `count` (<= MAX_BATCH) frames of `signal`, the first starting at `start`, the others every
   * `shift` samples (all fully inside the signal), with pre-emphasis `preemph` and the window:
   * power spectra with the DC offset removed when `removeDc` (after the FFT), mel energies, and
   * the sums in `sums` (with `wantSquares` the sums of squares too). The signal must not change
   * while one array is used.
   */
  frames(
    signal: Float32Array,
    start: number,
    shift: number,
    count: number,
    preemph: number,
    scale: number,
    removeDc: boolean,
    wantSquares: boolean,
  ): void {
    if (!(count >= 1 && count <= MAX_BATCH))
      throw new RangeError(`frames: count must be 1 .. ${MAX_BATCH}, got ${count}`);
    const end = start + (count - 1) * shift + this.windowSize;
    if (signal !== this.signal || start < this.chunkStart || end > this.chunkEnd) {
      const len = Math.min(CHUNK + this.windowSize, signal.length - start);
      if (start + len < end) throw new RangeError('frames: batch longer than a chunk or beyond the signal');
      this.f32.set(signal.subarray(start, start + len), this.lay.samples / 4);
      this.signal = signal;
      this.chunkStart = start;
      this.chunkEnd = start + len;
    }
    this.ex.frames(
      4 * (start - this.chunkStart),
      4 * shift,
      count,
      preemph,
      scale,
      removeDc ? 1 : 0,
      wantSquares ? 1 : 0,
    );
  }

  /** Power spectrum (minus c0 times the reference) and mel energies (frame 0) of `frame` (2 M values, prepared by the caller). */
  spectrum(frame: Float64Array, c0: number): void {
    const f = this.f64;
    const re = this.lay.zRe / 8,
      im = this.lay.zIm / 8;
    for (let n = 0; n < this.size; n++) {
      f[re + n] = frame[2 * n];
      f[im + n] = frame[2 * n + 1];
    }
    this.ex.spectrum(c0);
  }

  /**
   * Have every frame compute the energies of `banks` (and with `logs` their floored logs);
   * returns the wasm memory they are written to, or null when they do not fit the memory set
   * aside. Banks are registered once, the first call's `logs` counts.
   */
  registerMel(banks: SparseBanks, logs: boolean): WasmMel | null {
    let buf = this.melBuffers.get(banks);
    if (buf === undefined) {
      buf = this.allocateMel(banks, logs);
      this.melBuffers.set(banks, buf);
    }
    return buf;
  }

  private allocateMel(banks: SparseBanks, logs: boolean): WasmMel | null {
    const nb = banks.numBins;
    const slots = this.i32[this.lay.mel / 4];
    // Weights padded with zeros to a multiple of four (the kernel takes two pairs at a time).
    const padded = (n: number): number => 4 * Math.ceil(n / 4);
    let pairs = 0;
    for (let b = 0; b < nb; b++) {
      pairs += padded(banks.lengths[b]) / 2;
      if (banks.offsets[b] + padded(banks.lengths[b]) > this.size + 4) return null;
    }
    // Outputs of MAX_BATCH frames, one value more: the logs go two at a time.
    const round16 = (n: number): number => Math.ceil(n / 16) * 16;
    const outBytes = round16(8 * (MAX_BATCH * nb + 1)),
      logBytes = logs ? round16(4 * (MAX_BATCH * nb + 1)) : 0;
    const bytes = 16 * nb + 16 * pairs + outBytes + logBytes;
    if (slots >= MAX_MEL_SLOTS || this.melUsed + bytes > MEL_BYTES) return null;
    const table = this.lay.mel + this.melUsed;
    let w = table + 16 * nb;
    for (let b = 0; b < nb; b++) {
      const n = banks.lengths[b];
      const t = table / 4 + 4 * b;
      this.i32[t] = 8 * banks.offsets[b];
      this.i32[t + 1] = padded(n) / 2;
      this.i32[t + 2] = w;
      this.f64.fill(0, w / 8, w / 8 + padded(n));
      this.f64.set(banks.weights.subarray(banks.weightStarts[b], banks.weightStarts[b] + n), w / 8);
      w += 8 * padded(n);
    }
    this.melUsed += bytes;
    const logAt = logs ? w + outBytes : 0;
    const slot = this.lay.mel / 4 + 4 + 4 * slots;
    this.i32[slot] = table;
    this.i32[slot + 1] = nb;
    this.i32[slot + 2] = w;
    this.i32[slot + 3] = logAt;
    this.i32[this.lay.mel / 4] = slots + 1;
    const buffer = this.ex.memory.buffer;
    const values = new Float64Array(buffer, w, MAX_BATCH * nb);
    const logValues = logs ? new Float32Array(buffer, logAt, MAX_BATCH * nb) : null;
    return {
      numBins: nb,
      values,
      logs: logValues,
      first: { values: values.subarray(0, nb), logs: logValues?.subarray(0, nb) ?? null },
    };
  }
}

interface LogModule {
  exports: { memory: { buffer: ArrayBuffer }; logs(src: number, dst: number, count: number): void };
}
let logModule: LogModule | null | undefined;

/**
 * The wasm kernels' floored log (emitLogs) of `values` (at most 4096), as floats; null where
 * WebAssembly SIMD is unavailable. For tests.
 */
export function wasmFlooredLogs(values: Float64Array): Float32Array | null {
  if (logModule === undefined) {
    const f = new FunctionBuilder('logs', [I32, I32, I32], []);
    emitLogs(f, 0, 1, 2);
    try {
      logModule = new wasmApi!.Instance(new wasmApi!.Module(assemble([f], 2))) as LogModule;
    } catch {
      logModule = null;
    }
  }
  if (!logModule) return null;
  if (values.length > 4096) throw new RangeError('wasmFlooredLogs: at most 4096 values');
  const buf = logModule.exports.memory.buffer;
  new Float64Array(buf, 0, values.length).set(values);
  logModule.exports.logs(0, 65536, values.length);
  return new Float32Array(buf, 65536, values.length).slice();
}
