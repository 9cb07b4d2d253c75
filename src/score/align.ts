/**
 * Word alignment of a reference and a hypothesis, in two conventions:
 *
 * - `sclite` (default): NIST sclite's dynamic programme (sctk `net_dp.c`) on linear word
 *   networks, costs correct 0, substitution 4, insertion 3, deletion 3, and its tie-breaking:
 *   at each cell substitution/match wins when it is <= both others, then deletion when strictly
 *   cheaper than insertion, else insertion; back-trace from the final cell. Words compare
 *   case-insensitively (sclite's default; `-s` would make it case-sensitive).
 * - `kaldi`: Kaldi `compute-wer` (`LevenshteinEditDistance` with counts): unit costs, counts
 *   propagated forward with its tie rule (substitution only when strictly cheaper, then deletion
 *   when strictly cheaper than insertion, else insertion); case-sensitive. The displayed word
 *   pairs come from Kaldi's `LevenshteinAlignment` (as `align-text` prints them), whose tie rule
 *   differs; the counts are always compute-wer's.
 */

export type ScoringMode = 'sclite' | 'kaldi';

/** One aligned position: C correct, S substitution, D deletion (ref word, no hyp), I insertion. */
export type AlignOp = 'C' | 'S' | 'D' | 'I';

export interface AlignedPair {
  op: AlignOp;
  /** Reference word, null for an insertion. */
  ref: string | null;
  /** Hypothesis word, null for a deletion. */
  hyp: string | null;
}

export interface EditCounts {
  corr: number;
  sub: number;
  del: number;
  ins: number;
}

export interface Alignment extends EditCounts {
  pairs: AlignedPair[];
}

/** sclite default weights (sctk `wwd_WORD`). */
export const SCLITE_COST = { correct: 0, sub: 4, ins: 3, del: 3 } as const;

export interface AlignOptions {
  /** Alignment convention. Default 'sclite'. */
  mode?: ScoringMode;
  /** Compare words case-sensitively. Default: false for sclite, true for kaldi (each tool's default). */
  caseSensitive?: boolean;
}

export function alignWords(ref: readonly string[], hyp: readonly string[], opts: AlignOptions = {}): Alignment {
  const mode = opts.mode ?? 'sclite';
  const caseSensitive = opts.caseSensitive ?? mode === 'kaldi';
  const norm = (w: string) => (caseSensitive ? w : w.toLowerCase());
  const r = ref.map(norm);
  const h = hyp.map(norm);
  if (mode === 'sclite') return scliteAlign(ref, hyp, r, h);
  if (mode === 'kaldi') {
    const counts = kaldiComputeWerCounts(r, h);
    const pairs = kaldiLevenshteinAlignment(ref, hyp, r, h);
    return { ...counts, pairs };
  }
  throw new RangeError(`unknown scoring mode '${String(mode)}'`);
}

function countOps(pairs: AlignedPair[]): EditCounts {
  const c: EditCounts = { corr: 0, sub: 0, del: 0, ins: 0 };
  for (const p of pairs) {
    if (p.op === 'C') c.corr++;
    else if (p.op === 'S') c.sub++;
    else if (p.op === 'D') c.del++;
    else c.ins++;
  }
  return c;
}

// Back-pointer codes for the sclite table.
const BP_SUB = 0,
  BP_DEL = 1,
  BP_INS = 2;

function scliteAlign(refOrig: readonly string[], hypOrig: readonly string[], r: string[], h: string[]): Alignment {
  const na = r.length,
    nb = h.length;
  const W = nb + 1;
  const cost = new Float64Array((na + 1) * W);
  const back = new Uint8Array((na + 1) * W);
  // Margins: cell[0][b] from cell[0][b-1] by insertion; cell[a][0] from cell[a-1][0] by deletion.
  for (let b = 1; b <= nb; b++) {
    cost[b] = cost[b - 1] + SCLITE_COST.ins;
    back[b] = BP_INS;
  }
  for (let a = 1; a <= na; a++) {
    cost[a * W] = cost[(a - 1) * W] + SCLITE_COST.del;
    back[a * W] = BP_DEL;
  }
  for (let a = 1; a <= na; a++) {
    for (let b = 1; b <= nb; b++) {
      const sub = cost[(a - 1) * W + b - 1] + (r[a - 1] === h[b - 1] ? SCLITE_COST.correct : SCLITE_COST.sub);
      const del = cost[(a - 1) * W + b] + SCLITE_COST.del;
      const ins = cost[a * W + b - 1] + SCLITE_COST.ins;
      const i = a * W + b;
      if (sub <= del && sub <= ins) {
        cost[i] = sub;
        back[i] = BP_SUB;
      } else if (del < ins) {
        cost[i] = del;
        back[i] = BP_DEL;
      } else {
        cost[i] = ins;
        back[i] = BP_INS;
      }
    }
  }
  const pairs: AlignedPair[] = [];
  let a = na,
    b = nb;
  while (a > 0 || b > 0) {
    const bp = back[a * W + b];
    if (bp === BP_SUB) {
      pairs.push({ op: r[a - 1] === h[b - 1] ? 'C' : 'S', ref: refOrig[a - 1], hyp: hypOrig[b - 1] });
      a--;
      b--;
    } else if (bp === BP_DEL) {
      pairs.push({ op: 'D', ref: refOrig[a - 1], hyp: null });
      a--;
    } else {
      pairs.push({ op: 'I', ref: null, hyp: hypOrig[b - 1] });
      b--;
    }
  }
  pairs.reverse();
  return { ...countOps(pairs), pairs };
}

/** Kaldi compute-wer: forward DP over hyp (outer) and ref (inner) carrying error counts. */
function kaldiComputeWerCounts(ref: string[], hyp: string[]): EditCounts {
  type St = { ins: number; del: number; sub: number; cost: number };
  let e: St[] = [];
  for (let i = 0; i <= ref.length; i++) e.push({ ins: 0, del: i, sub: 0, cost: i });
  for (let hi = 1; hi <= hyp.length; hi++) {
    const cur: St[] = new Array(ref.length + 1);
    cur[0] = { ...e[0], ins: e[0].ins + 1, cost: e[0].cost + 1 };
    for (let ri = 1; ri <= ref.length; ri++) {
      const insErr = e[ri].cost + 1;
      const delErr = cur[ri - 1].cost + 1;
      const differ = hyp[hi - 1] !== ref[ri - 1];
      const subErr = e[ri - 1].cost + (differ ? 1 : 0);
      if (subErr < insErr && subErr < delErr) {
        cur[ri] = { ...e[ri - 1], sub: e[ri - 1].sub + (differ ? 1 : 0), cost: subErr };
      } else if (delErr < insErr) {
        cur[ri] = { ...cur[ri - 1], del: cur[ri - 1].del + 1, cost: delErr };
      } else {
        cur[ri] = { ...e[ri], ins: e[ri].ins + 1, cost: insErr };
      }
    }
    e = cur;
  }
  const last = e[ref.length];
  return { corr: ref.length - last.sub - last.del, sub: last.sub, del: last.del, ins: last.ins };
}

/** Kaldi LevenshteinAlignment (align-text): full table, back-trace preferring sub/ok, then del. */
function kaldiLevenshteinAlignment(
  refOrig: readonly string[],
  hypOrig: readonly string[],
  a: string[],
  b: string[],
): AlignedPair[] {
  const M = a.length,
    N = b.length,
    W = N + 1;
  const e = new Int32Array((M + 1) * W);
  for (let n = 0; n <= N; n++) e[n] = n;
  for (let m = 1; m <= M; m++) {
    e[m * W] = e[(m - 1) * W] + 1;
    for (let n = 1; n <= N; n++) {
      const sub = e[(m - 1) * W + n - 1] + (a[m - 1] === b[n - 1] ? 0 : 1);
      e[m * W + n] = Math.min(sub, e[(m - 1) * W + n] + 1, e[m * W + n - 1] + 1);
    }
  }
  const pairs: AlignedPair[] = [];
  let m = M,
    n = N;
  while (m !== 0 || n !== 0) {
    let lm: number, ln: number;
    if (m === 0) {
      lm = m;
      ln = n - 1;
    } else if (n === 0) {
      lm = m - 1;
      ln = n;
    } else {
      const sub = e[(m - 1) * W + n - 1] + (a[m - 1] === b[n - 1] ? 0 : 1);
      const del = e[(m - 1) * W + n] + 1;
      const ins = e[m * W + n - 1] + 1;
      if (sub <= Math.min(del, ins)) {
        lm = m - 1;
        ln = n - 1;
      } else if (del <= ins) {
        lm = m - 1;
        ln = n;
      } else {
        lm = m;
        ln = n - 1;
      }
    }
    const rw = lm === m ? null : refOrig[lm];
    const hw = ln === n ? null : hypOrig[ln];
    const op: AlignOp = rw === null ? 'I' : hw === null ? 'D' : a[lm] === b[ln] ? 'C' : 'S';
    pairs.push({ op, ref: rw, hyp: hw });
    m = lm;
    n = ln;
  }
  return pairs.reverse();
}
