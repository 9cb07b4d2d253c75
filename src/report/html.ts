/**
 * report.html: one self-contained page (inline CSS, inline SVG figures, no scripts). A Content
 * Security Policy forbids every load from elsewhere, so the page cannot reach the network even
 * if a later edit tried to.
 */
import { formatAlignmentLines } from '../score/report.ts';
import { MEMBER_ID, type ReportJson } from './types.ts';
import type { Figure } from './charts.ts';
import {
  corpusNotes,
  corpusTable,
  differencesNotes,
  differencesTable,
  GAIN_KEPT_LABEL,
  SHARE_CAPTION,
  SIGNIFICANCE_CAPTION,
  SIGNIFICANCE_TITLE,
  curveTable,
  environmentTable,
  FIDELITY_CAPTION,
  fidelityTable,
  frequentErrorTable,
  FREQUENT_ERRORS_CAPTION,
  OTHER_SPLITS_TITLE,
  otherSplitsNotes,
  LABELS_TITLE,
  labelsNotes,
  labelsTable,
  otherSplitsTable,
  significanceTable,
  softTargetTable,
  speakerTable,
  stageTable,
  stageJobsNote,
  summarySentences,
  sweepTable,
  systemsTable,
  table1,
  type Table,
} from './sections.ts';
import { diffTokens, escapeHtml, plural } from './format.ts';

const CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1a1a1a; background: #fafafa; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #ffffff; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #d0d0d0; padding: 4px 10px; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.gain td { font-weight: 600; background: #fff7e6; }
.summary { background: #f3f8fc; border-left: 4px solid #0072B2; padding: 8px 16px; margin: 1em 0; }
.summary li { margin: 0.3em 0; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0 1.6em; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.88em; margin-top: 0.3em; }
.diff { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; margin: 0.2em 0; }
.utt { display: grid; grid-template-columns: max-content 1fr; column-gap: 1em; row-gap: 0.15em; }
.diff .sys { color: #555; white-space: nowrap; }
.diff .S { background: #ffe3c2; }
.diff .D { background: #ffd0d0; text-decoration: line-through; }
.diff .I { background: #d6ecff; }
pre { background: #f6f6f6; padding: 8px 12px; overflow-x: auto; font-size: 0.85em; }
details summary { cursor: pointer; color: #0b5c99; font-size: 0.9em; }
`;

function htmlTable(t: Table, gainRowLabel?: string): string {
  const head = `<tr>${t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map((r) => {
      const cls = gainRowLabel !== undefined && r[0] === gainRowLabel ? ' class="gain"' : '';
      return `<tr${cls}>${r.map((c, i) => `<td${t.numeric[i] ? ' class="num"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function figures(figs: readonly Figure[], names: readonly string[]): string {
  return figs
    .filter((f) => names.includes(f.name))
    .map(
      (f) =>
        `<figure id="fig-${escapeHtml(f.name)}">\n${f.svg}\n<figcaption>${escapeHtml(f.caption)}</figcaption>\n</figure>`,
    )
    .join('\n');
}

function section(id: string, title: string, ...body: string[]): string {
  return `<section id="${escapeHtml(id)}">\n<h2>${escapeHtml(title)}</h2>\n${body.filter(Boolean).join('\n')}\n</section>`;
}

const note = (n: string) => `<p class="note">${escapeHtml(n)}</p>`;

/** Render report.html with the figures inline. */
export function renderHtml(r: ReportJson, figs: readonly Figure[]): string {
  const title = `Distillation report: ${r.corpus.name}`;
  const parts = [
    ...headline(r, title),
    ...resultSections(r, figs),
    corpusSection(r),
    significanceSection(r),
    ...distillationSections(r, figs),
    ...errorAnalysisSections(r, figs),
  ];
  const tt = stageTable(r);
  if (tt)
    parts.push(
      section(
        'stages',
        'Time per stage',
        htmlTable(tt),
        ...[stageJobsNote(r)].flatMap((n) => (n ? [`<p>${escapeHtml(n)}</p>`] : [])),
        figures(figs, ['stage-times']),
      ),
    );
  parts.push(section('environment', 'Environment', htmlTable(environmentTable(r))));
  return htmlPage(title, parts);
}

/** The title, the corpus description and the summary sentences. */
function headline(r: ReportJson, title: string): string[] {
  const parts: string[] = [];
  parts.push(`<h1>${escapeHtml(title)}</h1>`);
  if (r.corpus.description) parts.push(`<p>${escapeHtml(r.corpus.description)}</p>`);
  parts.push(
    `<div class="summary"><ul>\n${summarySentences(r)
      .map((s) => `<li>${escapeHtml(s)}</li>`)
      .join('\n')}\n</ul></div>`,
  );
  return parts;
}

/** Table 1, the differences on test, the other splits, all systems and the label sets. */
function resultSections(r: ReportJson, figs: readonly Figure[]): string[] {
  const parts: string[] = [];
  parts.push(
    section(
      'table-1',
      'Table 1 on this corpus',
      htmlTable(table1(r), GAIN_KEPT_LABEL),
      `<p class="note">Paper: ${escapeHtml(r.paper.source)}; about 2000 hours of Android voice search, 14,000 senones.</p>`,
    ),
  );
  if (r.differences) {
    parts.push(
      section(
        'differences',
        'Differences (test)',
        htmlTable(
          differencesTable(r.differences, (id) => r.systems[id]?.label ?? id, r.paper),
          GAIN_KEPT_LABEL,
        ),
        ...differencesNotes(r.differences, (id) => r.systems[id]?.label ?? id).map(note),
        note(SHARE_CAPTION),
      ),
    );
  }
  const os = otherSplitsTable(r);
  if (os) parts.push(section('other-splits', OTHER_SPLITS_TITLE, htmlTable(os), ...otherSplitsNotes(r).map(note)));
  parts.push(
    section('systems', 'All systems', htmlTable(systemsTable(r)), figures(figs, ['test-frame-accuracy', 'test-wer'])),
  );
  const lt = labelsTable(r);
  if (lt) parts.push(section('labels', LABELS_TITLE, htmlTable(lt), ...labelsNotes(r).map(note)));
  return parts;
}

function corpusSection(r: ReportJson): string {
  return section(
    'corpus',
    'Corpus',
    htmlTable(corpusTable(r)),
    ...corpusNotes(r).map((n) => `<p>${escapeHtml(n)}</p>`),
  );
}

/** The paired bootstrap comparisons and their notes. */
function significanceSection(r: ReportJson): string {
  const sig = significanceTable(r);
  return section(
    'significance',
    SIGNIFICANCE_TITLE,
    sig.rows.length ? htmlTable(sig) : '',
    note(SIGNIFICANCE_CAPTION),
    r.significance.notes.length
      ? `<ul class="note">${r.significance.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`
      : '',
  );
}

/** Soft targets, fidelity to the ensemble, the temperature sweep and the training curves. */
function distillationSections(r: ReportJson, figs: readonly Figure[]): string[] {
  const parts: string[] = [];
  const st = softTargetTable(r);
  if (st) parts.push(section('soft-targets', 'Soft targets', htmlTable(st)));
  const fd = fidelityTable(r);
  if (fd) parts.push(section('fidelity', 'Fidelity to the ensemble', htmlTable(fd), note(FIDELITY_CAPTION)));
  const sw = sweepTable(r);
  if (sw)
    parts.push(section('temperature-sweep', 'Temperature sweep', htmlTable(sw), figures(figs, ['temperature-sweep'])));
  const ct = curveTable(r);
  if (ct)
    parts.push(
      section(
        'training-curves',
        'Training curves',
        htmlTable(ct),
        figures(figs, ['curve-dev-frame-accuracy', 'curve-train-loss', 'curve-learning-rate']),
      ),
    );
  return parts;
}

/** WER per speaker, the most frequent errors and the worst utterances. */
function errorAnalysisSections(r: ReportJson, figs: readonly Figure[]): string[] {
  const parts: string[] = [];
  const sp = speakerTable(r);
  if (sp)
    parts.push(
      section(
        'per-speaker',
        `WER per speaker (${r.perSpeaker!.split})`,
        htmlTable(sp),
        figures(figs, ['per-speaker-wer']),
      ),
    );
  const fe = frequentErrorTable(r);
  if (fe)
    parts.push(
      section(
        'frequent-errors',
        `Most frequent errors (${r.frequentErrors!.split})`,
        htmlTable(fe),
        note(FREQUENT_ERRORS_CAPTION),
      ),
    );
  if (r.worstUtterances?.utterances.length) parts.push(worstUtterancesSection(r, r.worstUtterances));
  return parts;
}

type WorstUtterances = NonNullable<ReportJson['worstUtterances']>;

/** Each worst utterance as coloured word diffs per system, with its sclite alignment folded away. */
function worstUtterancesSection(r: ReportJson, w: WorstUtterances): string {
  const name = (id: string) => r.systems[id]?.label ?? id;
  const items = w.utterances.map((u, i) => {
    const diffs = u.systems
      .map((s) => {
        const toks = diffTokens(s.pairs)
          .map((t) => (t.op === 'C' ? escapeHtml(t.text) : `<span class="${t.op}">${escapeHtml(t.text)}</span>`))
          .join(' ');
        return `<span class="sys">${escapeHtml(name(s.system))} (S ${s.sub}, D ${s.del}, I ${s.ins})</span><span>${toks}</span>`;
      })
      .join('\n');
    const pralign = u.systems
      .filter((s) => !MEMBER_ID.test(s.system))
      .map((s) => {
        const l = formatAlignmentLines(s.pairs);
        return `${name(s.system)}\n${l.ref.trimEnd()}\n${l.hyp.trimEnd()}\n${l.eval.trimEnd()}`;
      })
      .join('\n\n');
    return (
      `<h3>${i + 1}. ${escapeHtml(u.uttId)} (${u.split}): ${plural(u.errors, 'error')} in ${plural(u.refWords, 'word')}</h3>\n<div class="diff utt">\n${diffs}\n</div>\n` +
      `<details><summary>sclite alignment</summary><pre>${escapeHtml(pralign)}</pre></details>`
    );
  });
  return section(
    'worst-utterances',
    `Worst utterances of the ${name(w.system)}`,
    '<p class="note">Errors as (REF-&gt;HYP), * for a missing word: <span class="diff"><span class="S">substitution</span> <span class="D">deletion</span> <span class="I">insertion</span></span>.</p>',
    ...items,
  );
}

/** The page around the sections: CSS inline and a Content Security Policy that forbids every load. */
function htmlPage(title: string, parts: readonly string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    ...parts,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
