/**
 * RESULTS.md rows: one Markdown table line per recipe, from a report.json, so RESULTS.md can be
 * assembled from the experiments' reports.
 */
import type { ReportJson } from './types.ts';
import { duration, escapeMarkdown, pct, signedPoints } from './format.ts';

export interface ResultsRowOptions {
  /** Recipe name or file, e.g. "pipelines/fsdd-digits.yaml". */
  recipe: string;
  /** The exact command that produced the report. */
  command: string;
}

/** Header and alignment lines of the RESULTS.md table (`formatResultsRow` fills its rows). */
export const RESULTS_TABLE_HEADER =
  '| Recipe | Corpus | K | Baseline FA / WER | Ensemble FA / WER | Distilled FA / WER | Gain kept FA / WER | Distilled - baseline WER (CI) | Time | Command |\n' +
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |';

/** A Markdown code span holding `text` verbatim (fence longer than any backtick run; `|` escaped for tables). */
function codeSpan(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = longest ? ' ' : '';
  return `${fence}${pad}${text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|')}${pad}${fence}`;
}

/** One RESULTS.md table row (no trailing newline). Test-set numbers. */
export function formatResultsRow(r: ReportJson, o: ResultsRowOptions): string {
  const s = r.systems;
  const pair = (id: 'baseline' | 'ensemble' | 'student') => `${pct(s[id].frameAccuracy.test)} / ${pct(s[id].wer.test)}`;
  const sig = r.significance.studentVsBaseline;
  const sigCell = sig
    ? `${signedPoints(sig.deltaWer, 2)} [${signedPoints(sig.ciLow, 2)}, ${signedPoints(sig.ciHigh, 2)}]${sig.significant ? ' *' : ''}`
    : 'n/a';
  const cells = [
    escapeMarkdown(o.recipe),
    escapeMarkdown(r.corpus.name),
    r.ensembleSize === null ? 'n/a' : String(r.ensembleSize),
    pair('baseline'),
    pair('ensemble'),
    pair('student'),
    `${pct(r.gainRecovered.frameAccuracy, 0)} / ${pct(r.gainRecovered.wer, 0)}`,
    sigCell,
    duration(r.totalSec),
    codeSpan(o.command),
  ];
  return `| ${cells.join(' | ')} |`;
}
