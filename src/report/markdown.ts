/** report.md: the report as GitHub-flavoured Markdown; figures are linked from plots/*.svg. */
import { formatAlignmentLines } from '../score/report.ts';
import { MEMBER_ID, type ReportJson } from './types.ts';
import type { Figure } from './charts.ts';
import {
  corpusNotes,
  corpusTable,
  differencesNotes,
  differencesTable,
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
import { escapeMarkdown, formatInlineDiff, markdownCodeBlock, plural } from './format.ts';

export function markdownTable(t: Table): string {
  const lines = [
    `| ${t.header.map(escapeMarkdown).join(' | ')} |`,
    `| ${t.numeric.map((n) => (n ? '---:' : '---')).join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(escapeMarkdown).join(' | ')} |`),
  ];
  return lines.join('\n');
}

function figureLinks(figs: readonly Figure[], names: readonly string[]): string[] {
  return figs
    .filter((f) => names.includes(f.name))
    .map((f) => `![${escapeMarkdown(f.title)}](plots/${f.name}.svg)\n*${escapeMarkdown(f.caption)}*`);
}

/** Render report.md. `figures` are expected under `plots/<name>.svg` next to it. */
export function renderMarkdown(r: ReportJson, figures: readonly Figure[]): string {
  /** Blocks, separated by blank lines. */
  const out: string[] = [];
  const push = (...blocks: string[]) => out.push(...blocks);
  push(`# Distillation report: ${escapeMarkdown(r.corpus.name)}`);
  if (r.corpus.description) push(escapeMarkdown(r.corpus.description));
  push(
    summarySentences(r)
      .map((s) => `- ${escapeMarkdown(s)}`)
      .join('\n'),
  );

  push('## Table 1 on this corpus', markdownTable(table1(r)));
  push(`*${escapeMarkdown(`Paper: ${r.paper.source}; about 2000 hours of Android voice search, 14,000 senones.`)}*`);
  if (r.differences) {
    const name = (id: string) => r.systems[id]?.label ?? id;
    push(
      '## Differences (test)',
      markdownTable(differencesTable(r.differences, name, r.paper)),
      [...differencesNotes(r.differences, name), SHARE_CAPTION].map(escapeMarkdown).join('\n\n'),
    );
  }
  const os = otherSplitsTable(r);
  if (os) push(`## ${OTHER_SPLITS_TITLE}`, markdownTable(os), ...otherSplitsNotes(r).map(escapeMarkdown));
  push('## All systems', markdownTable(systemsTable(r)));
  const lt = labelsTable(r);
  if (lt) push(`## ${LABELS_TITLE}`, markdownTable(lt), ...labelsNotes(r).map(escapeMarkdown));
  push(...figureLinks(figures, ['test-frame-accuracy', 'test-wer']));

  push('## Corpus', markdownTable(corpusTable(r)));
  const notes = corpusNotes(r);
  if (notes.length) push(notes.map(escapeMarkdown).join('\n\n'));

  push(`## ${SIGNIFICANCE_TITLE}`, escapeMarkdown(SIGNIFICANCE_CAPTION));
  const sig = significanceTable(r);
  if (sig.rows.length) push(markdownTable(sig));
  if (r.significance.notes.length) push(r.significance.notes.map((n) => `- ${escapeMarkdown(n)}`).join('\n'));

  const st = softTargetTable(r);
  if (st) push('## Soft targets', markdownTable(st));

  const fd = fidelityTable(r);
  if (fd) push('## Fidelity to the ensemble', markdownTable(fd), escapeMarkdown(FIDELITY_CAPTION));

  const sw = sweepTable(r);
  if (sw) push('## Temperature sweep', markdownTable(sw), ...figureLinks(figures, ['temperature-sweep']));

  const ct = curveTable(r);
  if (ct)
    push(
      '## Training curves',
      markdownTable(ct),
      ...figureLinks(figures, ['curve-dev-frame-accuracy', 'curve-train-loss', 'curve-learning-rate']),
    );

  const sp = speakerTable(r);
  if (sp)
    push(
      `## WER per speaker (${r.perSpeaker!.split})`,
      markdownTable(sp),
      ...figureLinks(figures, ['per-speaker-wer']),
    );

  const fe = frequentErrorTable(r);
  if (fe)
    push(
      `## Most frequent errors (${r.frequentErrors!.split})`,
      markdownTable(fe),
      escapeMarkdown(FREQUENT_ERRORS_CAPTION),
    );

  if (r.worstUtterances?.utterances.length) {
    const w = r.worstUtterances;
    push(
      `## Worst utterances of the ${escapeMarkdown(r.systems[w.system]?.label ?? w.system)}`,
      escapeMarkdown(
        'Errors shown as (REF->HYP); * marks a missing word. Below each, the sclite-style alignment of the baseline, the ensemble and the student.',
      ),
    );
    w.utterances.forEach((u, i) => {
      push(
        `### ${i + 1}. ${escapeMarkdown(u.uttId)} (${u.split}): ${plural(u.errors, 'error')} in ${plural(u.refWords, 'word')}`,
      );
      const width = Math.max(...u.systems.map((s) => (r.systems[s.system]?.label ?? s.system).length));
      const block: string[] = u.systems.map(
        (s) => `${(r.systems[s.system]?.label ?? s.system).padEnd(width)} : ${formatInlineDiff(s.pairs)}`,
      );
      for (const s of u.systems.filter((x) => !MEMBER_ID.test(x.system))) {
        const l = formatAlignmentLines(s.pairs);
        block.push(
          '',
          `${r.systems[s.system]?.label ?? s.system} (S ${s.sub}, D ${s.del}, I ${s.ins})`,
          l.ref.trimEnd(),
          l.hyp.trimEnd(),
          l.eval.trimEnd(),
        );
      }
      push(markdownCodeBlock(block.join('\n')));
    });
  }

  const tt = stageTable(r);
  if (tt)
    push(
      '## Time per stage',
      markdownTable(tt),
      ...[stageJobsNote(r)].flatMap((n) => (n ? [n] : [])),
      ...figureLinks(figures, ['stage-times']),
    );
  push('## Environment', markdownTable(environmentTable(r)));
  return out.join('\n\n').trimEnd() + '\n';
}
