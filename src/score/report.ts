/**
 * Human-readable scoring output in sclite's layout: the per-speaker summary table (`-o sum`),
 * the alignment dump (`-o pralign`, REF/HYP/Eval lines with errors upper-cased and `*` fill),
 * and Kaldi's one-line `%WER` summary.
 */
import type { ErrorSummary, UttScore, WerResult } from './wer.ts';
import type { AlignedPair } from './align.ts';

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}
function sd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}
function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

function rates(s: ErrorSummary): number[] {
  const d = s.refWords;
  const r = (n: number) => (d > 0 ? (100 * n) / d : n === 0 ? 0 : Infinity);
  return [
    r(s.corr),
    r(s.sub),
    r(s.del),
    r(s.ins),
    r(s.errors),
    s.sentences > 0 ? (100 * s.sentenceErrors) / s.sentences : 0,
  ];
}

const INNER = 64;
function centre(text: string, width: number): string {
  const left = Math.floor((width - text.length) / 2);
  return ' '.repeat(Math.max(0, left)) + text + ' '.repeat(Math.max(0, width - left - text.length));
}
function rateCells(v: number[]): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'inf');
  return (
    f(v[0]).padStart(5) +
    v
      .slice(1)
      .map((x) => f(x).padStart(7))
      .join('')
  );
}

/** sclite's "SYSTEM SUMMARY PERCENTAGES by SPEAKER" table. */
export function formatSummaryTable(r: WerResult, systemName = 'hyp'): string {
  const sep = '|' + '-'.repeat(INNER) + '|';
  const dbl = '|' + '='.repeat(INNER) + '|';
  const row = (spk: string, snt: string, wrd: string, cells: string) =>
    `| ${spk.padEnd(7)}|${snt.padStart(5)}${wrd.padStart(7)} |${cells} |`;
  const lines = [
    centre('SYSTEM SUMMARY PERCENTAGES by SPEAKER', 80),
    '',
    '       ,' + '-'.repeat(INNER) + '.',
    '       |' + centre(systemName, INNER) + '|',
    '       ' + sep,
    '       | SPKR   | # Snt # Wrd | Corr    Sub    Del    Ins    Err  S.Err |',
    '       |--------+-------------+-----------------------------------------|',
  ];
  r.speakers.forEach((s, i) => {
    lines.push('       ' + row(s.speaker, String(s.sentences), String(s.refWords), rateCells(rates(s))));
    if (i < r.speakers.length - 1)
      lines.push('       |--------+-------------+-----------------------------------------|');
  });
  lines.push('       ' + dbl);
  lines.push('       ' + row('Sum/Avg', String(r.sentences), String(r.refWords), rateCells(rates(r))));
  lines.push('       ' + dbl);
  const per = r.speakers.map(rates);
  const snt = r.speakers.map((s) => s.sentences),
    wrd = r.speakers.map((s) => s.refWords);
  const col = (k: number) => per.map((p) => p[k]);
  for (const [name, fn] of [
    [' Mean', mean],
    [' S.D.', sd],
    ['Median', median],
  ] as const) {
    const label = name === 'Median' ? 'Median' : ` ${name.trim()}`;
    lines.push(
      '       ' +
        row(label, fn(snt).toFixed(1), fn(wrd).toFixed(1), rateCells([0, 1, 2, 3, 4, 5].map((k) => fn(col(k))))),
    );
  }
  lines.push('       `' + '-'.repeat(INNER) + "'");
  return lines.join('\n') + '\n';
}

/** REF/HYP/Eval lines of one utterance, sclite style (correct words lower-case, errors upper-case). */
export function formatAlignmentLines(
  pairs: readonly AlignedPair[],
  caseSensitive = false,
): { ref: string; hyp: string; eval: string } {
  let ref = 'REF:  ',
    hyp = 'HYP:  ',
    ev = 'Eval: ';
  const show = (w: string, err: boolean) => (caseSensitive ? w : err ? w.toUpperCase() : w.toLowerCase());
  for (const p of pairs) {
    const err = p.op !== 'C';
    const rw = p.ref ?? '',
      hw = p.hyp ?? '';
    const w = Math.max(rw.length, hw.length);
    ref += (p.ref === null ? '*'.repeat(w) : show(rw, err).padEnd(w)) + ' ';
    hyp += (p.hyp === null ? '*'.repeat(w) : show(hw, err).padEnd(w)) + ' ';
    ev += (err ? p.op : '').padEnd(w) + ' ';
  }
  return { ref, hyp, eval: ev };
}

/** One utterance's block (sclite prints no REF/HYP/Eval lines when both sides are empty). */
export function formatUttAlignment(u: UttScore, caseSensitive = false): string {
  const lines = [`id: (${u.uttId})`, `Scores: (#C #S #D #I) ${u.corr} ${u.sub} ${u.del} ${u.ins}`];
  if (u.pairs.length) {
    const l = formatAlignmentLines(u.pairs, caseSensitive);
    lines.push(l.ref, l.hyp, l.eval);
  }
  return lines.join('\n') + '\n';
}

/** sclite's `-o pralign` dump: utterances grouped by speaker. */
export function formatPralign(r: WerResult, systemName = 'hyp', caseSensitive = r.mode === 'kaldi'): string {
  const lines = ['\t\tDUMP OF SYSTEM ALIGNMENT STRUCTURE', '', `System name:   ${systemName}`, '', 'Speakers: '];
  r.speakers.forEach((s, i) => lines.push(`${String(i).padStart(5)}:  ${s.speaker}`));
  lines.push('');
  r.speakers.forEach((s, i) => {
    const utts = r.utterances.filter((u) => u.speaker === s.speaker);
    lines.push(`Speaker sentences ${String(i).padStart(3)}:  ${s.speaker}   #utts: ${utts.length}`);
    for (const u of utts) lines.push(formatUttAlignment(u, caseSensitive));
  });
  return lines.join('\n') + '\n';
}

/** Kaldi compute-wer style summary: `%WER 12.34 [ 10 / 81, 2 ins, 3 del, 5 sub ]` plus `%SER`. */
export function formatWerLine(r: ErrorSummary): string {
  const w = Number.isFinite(r.wer) ? r.wer.toFixed(2) : 'inf';
  const ser = r.sentences > 0 ? ((100 * r.sentenceErrors) / r.sentences).toFixed(2) : '0.00';
  return (
    `%WER ${w} [ ${r.errors} / ${r.refWords}, ${r.ins} ins, ${r.del} del, ${r.sub} sub ]\n` +
    `%SER ${ser} [ ${r.sentenceErrors} / ${r.sentences} ]\n`
  );
}
