/** eval.md and the pooled reports' diagnostic tables, from eval.json (src/formats/eval.ts). */
import { type EvalFile, type GainKeptCi, type SplitScores } from '../formats/eval.ts';

const share = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

const fmtCi = (c: GainKeptCi | undefined) =>
  !c
    ? '-'
    : c.low === null || c.high === null
      ? `undefined (${c.undefinedReplicates}/${c.replicates} replicates without a gain)`
      : `${(100 * c.low).toFixed(0)}% to ${(100 * c.high).toFixed(0)}%`;

/** A fraction as a percentage with 3 significant digits. */
export const fmtPct = (f: number) => `${+(100 * f).toPrecision(3)}%`;

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);

/** The split diagnostics a pool can add up: fidelity, gain sources, member votes. */
export type SplitDiagnostics = Pick<SplitScores, 'fidelity' | 'gainSources' | 'memberVotes'>;

/**
 * The markdown sections "Fidelity to the ensemble", "Where the gain over the baseline comes from"
 * and "Accuracy by the number of members right" of the splits that have them (eval.md, pool.md).
 */
export function diagnosticsMarkdown(splits: Record<string, SplitDiagnostics>): string[] {
  const lines: string[] = [];
  const order = Object.keys(splits);
  const fidSplits = order.filter((s) => splits[s].fidelity);
  if (fidSplits.length) {
    const nets = Object.keys(splits[fidSplits[0]].fidelity!);
    lines.push(
      '## Fidelity to the ensemble',
      '',
      `| System | ${fidSplits.map((s) => `${s} agreement | ${s} KL`).join(' | ')} |`,
      `|---|${fidSplits.map(() => '---:|---:').join('|')}|`,
    );
    for (const n of nets)
      lines.push(
        `| ${n} | ${fidSplits
          .map((s) => {
            const x = splits[s].fidelity![n];
            return x ? `${pct(x.agreement)} | ${x.klNats.toFixed(3)}` : '- | -';
          })
          .join(' | ')} |`,
      );
    lines.push(
      '',
      "agreement = share of frames whose top senone is the ensemble's; KL = mean KL(ensemble || net) per frame at T = 1, nats. The baseline is the reference: a net of the same size that never saw the ensemble.",
      '',
    );
  }
  const srcSplits = order.filter((s) => splits[s].gainSources);
  if (srcSplits.length) {
    lines.push(
      '## Where the gain over the baseline comes from (frames)',
      '',
      '| Split | Net | ensemble wins captured | ensemble losses copied | own wins | own losses | net - baseline |',
      '|---|---|---:|---:|---:|---:|---:|',
    );
    for (const sp of srcSplits) {
      const g = splits[sp].gainSources!;
      const of = (x: number, n: number) => `${x} / ${n}${n ? ` (${((100 * x) / n).toFixed(0)}%)` : ''}`;
      lines.push(
        `| ${sp} | ensemble | ${of(g.ensembleWins, g.ensembleWins)} | ${of(g.ensembleLosses, g.ensembleLosses)} | 0 | 0 | ${g.ensembleWins - g.ensembleLosses} |`,
      );
      for (const [n, c] of Object.entries(g.nets)) {
        lines.push(
          `| ${sp} | ${n} | ${of(c.capturedWins, g.ensembleWins)} | ${of(c.copiedLosses, g.ensembleLosses)} | ${c.ownWins} | ${c.ownLosses} | ${c.capturedWins - c.copiedLosses + c.ownWins - c.ownLosses} |`,
        );
      }
    }
    lines.push(
      '',
      'ensemble wins: frames the ensemble gets right and the baseline wrong; losses: the reverse. A net captures a win when it is right there and copies a loss when it is wrong there; own wins and losses are frames where the baseline and the ensemble agree and the net does not. net - baseline = captured - copied + own wins - own losses.',
      '',
    );
  }
  const voteSplits = order.filter((s) => splits[s].memberVotes);
  if (voteSplits.length) {
    lines.push('## Accuracy by the number of members right', '');
    for (const sp of voteSplits) {
      const v = splits[sp].memberVotes!;
      const nets = Object.keys(v.correct);
      lines.push(
        `| ${sp}: members right | frames | ${nets.join(' | ')} |`,
        `|---:|---:|${nets.map(() => '---:').join('|')}|`,
      );
      for (let k = 0; k <= v.members; k++)
        lines.push(
          `| ${k} of ${v.members} | ${v.frames[k]} | ${nets.map((n) => (v.frames[k] ? pct(v.correct[n][k] / v.frames[k]) : '-')).join(' | ')} |`,
        );
      lines.push('');
    }
    lines.push(
      'Each row: the frames on which exactly k members pick the aligned senone, and the share of them each net gets right.',
      '',
    );
  }
  return lines;
}

/** The tables of eval.md. */
export function formatEvalMarkdown(f: EvalFile): string {
  const lines: string[] = ['# Frame accuracy', ''];
  const splits = Object.keys(f.summary).filter((s) => f.splits[s]);
  const order = Object.keys(f.splits);
  lines.push(`| System | ${order.join(' | ')} |`, `|---|${order.map(() => '---:').join('|')}|`);
  const names = Object.keys(f.splits[order[0]]?.models ?? {});
  for (const n of names) lines.push(`| ${n} | ${order.map((s) => pct(f.splits[s].models[n]?.accuracy)).join(' | ')} |`);
  lines.push('');
  for (const s of order.filter((x) => f.splits[x].vtlpCopies === false))
    lines.push(
      `${s}: the original recordings only (the baseline and the members did not train on the VTLP copies).`,
      '',
    );
  if (splits.length) {
    const ci0 = splits.map((s) => f.summary[s].gainKeptCi).find((c) => c);
    const ciHead = ci0 ? ` ${Math.round(100 * ci0.confidence)}% CI |` : '';
    lines.push(
      '## Gain kept by the student',
      '',
      `| Split | baseline | ensemble | member mean | student | gain kept |${ciHead} vs member mean |`,
      `|---|---:|---:|---:|---:|---:|${ci0 ? '---:|' : ''}---:|`,
    );
    for (const s of splits) {
      const g = f.summary[s];
      const ci = ci0 ? ` ${fmtCi(g.gainKeptCi)} |` : '';
      lines.push(
        `| ${s} | ${pct(g.baseline)} | ${pct(g.ensemble)} | ${pct(g.memberMean)} | ${pct(g.student)} | ${share(g.gainKept)} |${ci} ${share(g.gainKeptVsMemberMean ?? null)} |`,
      );
    }
    lines.push('', 'gain kept = (student - baseline) / (ensemble - baseline); the paper (Table 1): 86%.');
    if (ci0)
      lines.push(
        `CI: paired bootstrap over the split's utterances (${ci0.replicates} replicates, seed ${ci0.seed}); it covers test-set sampling, not the seed-to-seed spread of the nets.`,
      );
    lines.push(
      "vs member mean = (student - member mean) / (ensemble - member mean): the single net taken as the members' average instead of the one baseline.",
      '',
    );
  }
  lines.push(...diagnosticsMarkdown(f.splits));
  if (f.students.length > 1) {
    const sp = Object.keys(f.students[0].accuracy);
    lines.push(
      '## Students by target set',
      '',
      `| Student | set | T | k | ${sp.map((s) => `${s} | gain kept (${s})`).join(' | ')} |`,
      `|---|---|---:|---:|${sp.map(() => '---:|---:').join('|')}|`,
    );
    for (const s of f.students) {
      lines.push(
        `| ${s.name} | ${s.targetSet} | ${s.temperature} | ${s.k} | ${sp.map((x) => `${pct(s.accuracy[x])} | ${s.gainKept[x] === null ? '-' : `${(100 * s.gainKept[x]!).toFixed(1)}%`}`).join(' | ')} |`,
      );
    }
    lines.push('');
  }
  if (f.table5) {
    const sp = Object.keys(f.table5.rows[0].testAccuracy);
    lines.push(
      `## Table 5: ${fmtPct(f.table5.fraction)} of the training data (${f.table5.subsetUtterances} utterances, ${f.table5.subsetFrames} frames)`,
      '',
    );
    lines.push(`| System | train | ${sp.join(' | ')} |`, `|---|---:|${sp.map(() => '---:').join('|')}|`);
    for (const r of f.table5.rows)
      lines.push(`| ${r.system} | ${pct(r.trainAccuracy)} | ${sp.map((s) => pct(r.testAccuracy[s])).join(' | ')} |`);
    lines.push('', 'train = frame accuracy on the utterances the model was trained on.', '');
  }
  return lines.join('\n');
}
