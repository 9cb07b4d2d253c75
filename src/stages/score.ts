/**
 * The `score` stage: WER of every system on every decoded split (src/score, sclite convention by
 * default), per-speaker tables, the worst utterances, and paired-bootstrap significance of
 * student vs baseline (and ensemble vs baseline, student vs ensemble) -> `<expDir>/score/score.json`
 * (+ sclite-style .sys / .pralign and Kaldi-style .wer files per system and split).
 * See src/decode-stage/score.ts.
 *
 * Recipe:
 *   stages:
 *     score:
 *       mode: sclite               # or kaldi (compute-wer)
 *       bootstrapReplicates: 1000
 *       confidence: 0.95
 *       worstUtterances: 10
 */
import { ConfigError } from '../util/errors.ts';
import { scoreDecodeDir, DEFAULT_COMPARISONS } from '../decode-stage/score.ts';
import type { ScoringMode } from '../score/align.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';
import { relocateConfigError } from './decode.ts';

export interface ScoreStageOptions {
  /** 'sclite' (default) or 'kaldi'. */
  mode: ScoringMode;
  /** Bootstrap replicates. Default 1000. */
  bootstrapReplicates: number;
  /** Confidence level. Default 0.95. */
  confidence: number;
  /** Worst utterances listed per system and split. Default 10. */
  worstUtterances: number;
  /** System pairs [A, B] compared (A - B). Default [[student, baseline], [ensemble, baseline], [student, ensemble]]. */
  comparisons: string[][];
}

export const SCORE_SCHEMA: Schema = {
  mode: { type: 'string', enum: ['sclite', 'kaldi'], default: 'sclite', doc: 'WER convention: NIST sclite or Kaldi compute-wer' },
  bootstrapReplicates: { type: 'number', integer: true, min: 1, default: 1000, doc: 'paired bootstrap replicates' },
  confidence: { type: 'number', min: 0.5, max: 0.9999, default: 0.95, doc: 'confidence level of the bootstrap intervals' },
  worstUtterances: { type: 'number', integer: true, min: 0, default: 10, doc: 'worst utterances listed per system and split' },
  comparisons: {
    type: 'array', default: DEFAULT_COMPARISONS.map((p) => [...p]),
    items: {
      type: 'custom', expected: 'a pair [A, B] of system names', doc: 'compared systems', validate: (v, keyPath) => checkPair(v, keyPath),
      jsonSchema: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
    },
    doc: 'system pairs [A, B] compared by paired bootstrap (A - B); pairs with a system that was not decoded are left out',
  },
} satisfies SchemaFor<ScoreStageOptions>;

function checkPair(v: unknown, keyPath: string): string[] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'string') || v[0] === v[1]) {
    throw new ConfigError('bad comparison', { keyPath, expected: 'a pair [A, B] of two different system names', found: JSON.stringify(v) });
  }
  return v as string[];
}

export const scoreStage: StageDefinition<ScoreStageOptions> = {
  name: 'score',
  doc: 'WER per system and split (sclite), per speaker, worst utterances, paired-bootstrap significance [score.json]',
  inputs: ['decode'],
  schema: SCORE_SCHEMA,

  async run(ctx) {
    const o = ctx.options;
    const s = await relocateConfigError(ctx.recipe, 'stages.score', () => scoreDecodeDir({
      decodeDir: ctx.inputDir('decode'), outDir: ctx.outDir, mode: o.mode, bootstrapReplicates: o.bootstrapReplicates,
      confidence: o.confidence, seed: ctx.recipe.seed, worstUtterances: o.worstUtterances,
      comparisons: o.comparisons.map((p) => [p[0], p[1]] as const), logger: ctx.log,
    }));
    const counts: Record<string, number> = {};
    for (const r of s.results) counts[`${r.system}.${r.split}.wer`] = Math.round(100 * r.wer) / 100;
    return {
      counts,
      details: {
        wer: s.results.map((r) => ({ system: r.system, split: r.split, wer: r.wer, errors: r.errors, refWords: r.refWords, sub: r.sub, del: r.del, ins: r.ins, noPath: r.noPath, emptyHyps: r.emptyHyps })),
        comparisons: s.comparisons,
      },
    };
  },
};
