/**
 * Kaldi text-archive output (`copy-feats ark:- ark,t:-` / compute-fbank-feats with ark,t):
 *   utt  [
 *     v v v
 *     v v v ]
 * Numbers are printed as C++ iostreams do by default (6 significant digits, %g style).
 */
import type { FeatureMatrix } from './matrix.ts';

/** A number as C++ `std::ostream << x` prints it with the default precision `p` = 6. */
export function formatG(x: number, p = 6): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const e = x.toExponential(p - 1);
  const [mant, expStr] = e.split('e');
  const exp = Number(expStr);
  if (exp < -4 || exp >= p) {
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const sign = exp < 0 ? '-' : '+';
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${m}e${sign}${digits}`;
  }
  const fixed = x.toFixed(Math.max(0, p - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

/** One matrix in Kaldi's text format, with its key: "key  [\n  a b \n  c d ]\n". */
export function formatKaldiTextMatrix(key: string, m: FeatureMatrix): string {
  if (m.numFrames === 0) return `${key}  [ ]\n`;
  const parts: string[] = [`${key}  [`];
  for (let t = 0; t < m.numFrames; t++) {
    let line = '\n  ';
    const base = t * m.dim;
    for (let j = 0; j < m.dim; j++) line += formatG(m.data[base + j]) + ' ';
    parts.push(line);
  }
  parts.push(']\n');
  return parts.join('');
}
