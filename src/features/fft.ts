/**
 * Power spectrum of a real frame, on fft.js.
 * Power-of-two lengths N >= 8: the real frame is read as N/2 complex values (even samples real,
 * odd samples imaginary), transformed with fft.js's complex radix-4 FFT of size N/2 and split
 * into the N/2 + 1 bins of the real spectrum (the standard "packed real FFT"): about twice as
 * fast as fft.js's realTransform(N), with no copy of the input.
 * Other lengths (roundToPowerOfTwo = false) use Bluestein's algorithm on top of a power-of-two
 * complex fft.js transform, so every length is O(N log N) and exact to double precision.
 */
import FFT from 'fft.js';

/** Computes |X[k]|^2 for k = 0 .. floor(N/2) of a real length-N input. */
export interface PowerSpectrum {
  readonly size: number;
  /** Number of output bins: floor(size / 2) + 1. */
  readonly numBins: number;
  /** `input` has `size` samples (not modified); `out` receives `numBins` values. */
  compute(input: Float64Array, out: Float64Array): void;
  /**
   * Optional: |X[k] - c R[k]|^2 where R is the spectrum of a reference signal registered with
   * `setReference` (linearity lets a frame's DC offset be removed after the FFT).
   */
  setReference?(ref: Float64Array): void;
  computeMinusReference?(input: Float64Array, c: number, out: Float64Array): void;
}

export function isPowerOfTwo(n: number): boolean {
  return n >= 1 && (n & (n - 1)) === 0;
}

export function createPowerSpectrum(size: number): PowerSpectrum {
  if (!Number.isInteger(size) || size < 2) throw new RangeError(`FFT size must be an integer >= 2, got ${size}`);
  if (isPowerOfTwo(size) && size >= 8) return new PackedRealPowerSpectrum(size);
  return new BluesteinPowerSpectrum(size);
}

/** X[k] = re[k] + i im[k], k = 0 .. N/2, of a real input of power-of-two length N >= 8. */
export function referenceSpectrum(input: Float64Array): { re: Float64Array; im: Float64Array } {
  const ps = new PackedRealPowerSpectrum(input.length);
  const re = new Float64Array(ps.numBins),
    im = new Float64Array(ps.numBins);
  ps.complexSpectrum(input, re, im);
  return { re, im };
}

/** Real FFT of N points through a complex FFT of N/2 points plus a split step. */
class PackedRealPowerSpectrum implements PowerSpectrum {
  readonly size: number;
  readonly numBins: number;
  private readonly half: number;
  private readonly fft: FFT;
  private readonly z: Float64Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(size: number) {
    this.size = size;
    this.half = size / 2;
    this.numBins = this.half + 1;
    this.fft = new FFT(this.half);
    this.z = new Float64Array(size);
    this.cos = new Float64Array(this.numBins);
    this.sin = new Float64Array(this.numBins);
    for (let k = 0; k <= this.half; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / size);
      this.sin[k] = Math.sin((2 * Math.PI * k) / size);
    }
  }

  private refRe: Float64Array | null = null;
  private refIm: Float64Array | null = null;
  private refTable: Float64Array | null = null;

  compute(input: Float64Array, out: Float64Array): void {
    const z = this.z;
    const m = this.half;
    // input[2n] + i input[2n+1] is already fft.js's interleaved complex layout.
    this.fft.transform(z, input);
    const cos = this.cos;
    const sin = this.sin;
    // k = 0 and k = N/2 from Z[0]: X[0] = Re + Im, X[N/2] = Re - Im.
    const r0 = z[0],
      i0 = z[1];
    out[0] = (r0 + i0) * (r0 + i0);
    out[m] = (r0 - i0) * (r0 - i0);
    // Bins k and m - k share A = Z[k], B = Z[m - k]: with E = (A + conj B) / 2,
    // T = W^k (A - conj B) / 2i, W = exp(-2 pi i / N): X[k] = E + T, X[m - k] = conj(E - T).
    // Computed on twice E and T (no halving) with the power times 1/4: scaling by powers of
    // two is exact, so this equals the textbook form bit for bit.
    const halfM = m >> 1;
    for (let k = 1; k <= halfM; k++) {
      const ar = z[2 * k],
        ai = z[2 * k + 1];
      const j = 2 * (m - k);
      const br = z[j],
        bi = z[j + 1];
      const er = ar + br,
        ei = ai - bi;
      const or = ai + bi,
        oi = br - ar;
      const c = cos[k],
        s = sin[k];
      const tr = c * or + s * oi;
      const ti = c * oi - s * or;
      const pr = er + tr,
        pi = ei + ti;
      out[k] = 0.25 * (pr * pr + pi * pi);
      const qr = er - tr,
        qi = ei - ti;
      out[m - k] = 0.25 * (qr * qr + qi * qi);
    }
  }

  /** Complex spectrum X[0..N/2] of `input` (used for the reference). */
  complexSpectrum(input: Float64Array, re: Float64Array, im: Float64Array): void {
    const z = this.z;
    const m = this.half;
    this.fft.transform(z, input);
    re[0] = z[0] + z[1];
    im[0] = 0;
    re[m] = z[0] - z[1];
    im[m] = 0;
    for (let k = 1; k <= m >> 1; k++) {
      const ar = z[2 * k],
        ai = z[2 * k + 1];
      const j = 2 * (m - k);
      const br = z[j],
        bi = z[j + 1];
      const er = 0.5 * (ar + br),
        ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi),
        oi = -0.5 * (ar - br);
      const c = this.cos[k],
        s = this.sin[k];
      const tr = c * or + s * oi;
      const ti = c * oi - s * or;
      re[k] = er + tr;
      im[k] = ei + ti;
      re[m - k] = er - tr;
      im[m - k] = -(ei - ti);
    }
  }

  setReference(ref: Float64Array): void {
    this.refRe = new Float64Array(this.numBins);
    this.refIm = new Float64Array(this.numBins);
    this.complexSpectrum(ref, this.refRe, this.refIm);
    // Per k = 1 .. m/2: cos, sin, 2 R[k], 2 R[m - k] (re, im).
    const m = this.half;
    const tab = new Float64Array(6 * (m >> 1));
    for (let k = 1, t = 0; k <= m >> 1; k++, t += 6) {
      tab[t] = this.cos[k];
      tab[t + 1] = this.sin[k];
      tab[t + 2] = 2 * this.refRe[k];
      tab[t + 3] = 2 * this.refIm[k];
      tab[t + 4] = 2 * this.refRe[m - k];
      tab[t + 5] = 2 * this.refIm[m - k];
    }
    this.refTable = tab;
  }

  computeMinusReference(input: Float64Array, c0: number, out: Float64Array): void {
    const tab = this.refTable;
    if (!tab) throw new Error('computeMinusReference: setReference first');
    const z = this.z;
    const m = this.half;
    this.fft.transform(z, input);
    const refRe = this.refRe!;
    const x0 = z[0] + z[1] - c0 * refRe[0];
    const xm = z[0] - z[1] - c0 * refRe[m];
    out[0] = x0 * x0;
    out[m] = xm * xm;
    // As compute(), on twice the values (E, T and the reference doubled, the power times 1/4:
    // scaling by powers of two is exact, so the result is bit-identical) with the twiddles and
    // the reference of bins k and m - k side by side in one table.
    const halfM = m >> 1;
    for (let k = 1, t = 0; k <= halfM; k++, t += 6) {
      const ar = z[2 * k],
        ai = z[2 * k + 1];
      const l = m - k;
      const br = z[2 * l],
        bi = z[2 * l + 1];
      const er = ar + br,
        ei = ai - bi;
      const or = ai + bi,
        oi = br - ar;
      const c = tab[t],
        s = tab[t + 1];
      const tr = c * or + s * oi;
      const ti = c * oi - s * or;
      const pr = er + tr - c0 * tab[t + 2],
        pi = ei + ti - c0 * tab[t + 3];
      out[k] = 0.25 * (pr * pr + pi * pi);
      const qr = er - tr - c0 * tab[t + 4],
        qi = ti - ei - c0 * tab[t + 5];
      out[l] = 0.25 * (qr * qr + qi * qi);
    }
  }
}

/** Chirp-z (Bluestein) DFT of any length via a power-of-two circular convolution. */
class BluesteinPowerSpectrum implements PowerSpectrum {
  readonly size: number;
  readonly numBins: number;
  private readonly m: number;
  private readonly fft: FFT;
  /** w[n] = exp(-i pi n^2 / N), interleaved re/im. */
  private readonly chirp: Float64Array;
  /** FFT of the conjugate chirp sequence b, length m complex. */
  private readonly chirpFft: Float64Array;
  private readonly a: Float64Array;
  private readonly aFft: Float64Array;
  private readonly conv: Float64Array;

  constructor(size: number) {
    this.size = size;
    this.numBins = Math.floor(size / 2) + 1;
    let m = 4;
    while (m < 2 * size - 1) m *= 2;
    this.m = m;
    this.fft = new FFT(m);
    this.chirp = new Float64Array(2 * size);
    for (let n = 0; n < size; n++) {
      // n^2 mod 2N keeps the angle exact for large n.
      const angle = (Math.PI * ((n * n) % (2 * size))) / size;
      this.chirp[2 * n] = Math.cos(angle);
      this.chirp[2 * n + 1] = -Math.sin(angle);
    }
    const b = new Float64Array(2 * m);
    for (let n = 0; n < size; n++) {
      const re = this.chirp[2 * n];
      const im = -this.chirp[2 * n + 1];
      b[2 * n] = re;
      b[2 * n + 1] = im;
      if (n > 0) {
        b[2 * (m - n)] = re;
        b[2 * (m - n) + 1] = im;
      }
    }
    this.chirpFft = new Float64Array(2 * m);
    this.fft.transform(this.chirpFft, b);
    this.a = new Float64Array(2 * m);
    this.aFft = new Float64Array(2 * m);
    this.conv = new Float64Array(2 * m);
  }

  compute(input: Float64Array, out: Float64Array): void {
    const { size, m, chirp, a, aFft, chirpFft, conv } = this;
    a.fill(0);
    for (let n = 0; n < size; n++) {
      a[2 * n] = input[n] * chirp[2 * n];
      a[2 * n + 1] = input[n] * chirp[2 * n + 1];
    }
    this.fft.transform(aFft, a);
    for (let k = 0; k < m; k++) {
      const xr = aFft[2 * k],
        xi = aFft[2 * k + 1];
      const yr = chirpFft[2 * k],
        yi = chirpFft[2 * k + 1];
      aFft[2 * k] = xr * yr - xi * yi;
      aFft[2 * k + 1] = xr * yi + xi * yr;
    }
    this.fft.inverseTransform(conv, aFft);
    // X[k] = w[k] * conv[k]; |w[k]| = 1, so the power is |conv[k]|^2.
    for (let k = 0; k < this.numBins; k++) {
      const re = conv[2 * k],
        im = conv[2 * k + 1];
      out[k] = re * re + im * im;
    }
  }
}
