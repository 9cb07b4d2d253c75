/**
 * What bench/decode.ts decodes on a trained experiment: one system's scaled acoustic scores of a
 * split (CMVN, splicing, forward pass; computed once, timed apart from the search), the split's
 * references, and the LM weight and penalty the decode stage tuned on dev (1 and 0 when it has not
 * run).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/nnet/backend.ts';
import { ArrowFrameSource } from '../src/nnet/arrow-source.ts';
import { scanSource, type SpeakerCmvn } from '../src/nnet/data.ts';
import { ModelBank } from '../src/decode/systems.ts';
import { experimentModels, selectSystems } from '../src/stages/decode.ts';
import { readSplitTranscripts } from '../src/score/references.ts';
import type { DecodeInput } from '../src/decode/tune.ts';
import type { TrnUtterance } from '../src/score/trn.ts';

export interface ExperimentInputs {
  system: string;
  numModels: number;
  split: string;
  inputs: DecodeInput[];
  refs: TrnUtterance[];
  frames: number;
  frameShiftSec: number;
  backend: string;
  /** Seconds of the acoustic pass (all utterances). */
  acousticSec: number;
  /** CPU seconds of the process (all threads) during the acoustic pass. */
  acousticCpuSec: number;
  weights: { lmWeight: number; wordInsertionPenalty: number };
  /** tuning.json the weights come from, or null. */
  tuningFile: string | null;
}

/** Files an experiment needs for the real-model bench. */
export function missingExperimentFiles(expDir: string): string[] {
  const need = [
    join(expDir, 'align', 'lang', 'lang.json'),
    join(expDir, 'align', 'model.json'),
    join(expDir, 'lm', 'lm.arpa'),
    join(expDir, 'prepare', 'corpus.json'),
  ];
  return need.filter((f) => !existsSync(f));
}

/**
 * The scores of `system` (default: the student, else the first model) on `split`; every
 * `stride`-th utterance only when stride > 1. Null when the experiment has no trained model.
 */
export async function experimentInputs(
  expDir: string,
  o: { system?: string; split: string; acousticScale?: number; stride?: number },
): Promise<ExperimentInputs | null> {
  const exp = await experimentModels({ train: join(expDir, 'train'), distill: join(expDir, 'distill') });
  if (exp.models.size === 0) return null;
  const system = o.system ?? (exp.models.has('student') ? 'student' : [...exp.models.keys()][0]);
  const [spec] = selectSystems(exp, [system]);
  const tuningFile = join(expDir, 'decode', system, 'tuning.json');
  const tuned = existsSync(tuningFile)
    ? (JSON.parse(readFileSync(tuningFile, 'utf8')).best as { lmWeight: number; wordInsertionPenalty: number })
    : null;
  const backend = await initBackend({ backend: 'auto', quiet: true });
  const bank = await ModelBank.open([spec]);
  const t = await readSplitTranscripts(join(expDir, 'prepare'), o.split);
  const stride = Math.max(1, o.stride ?? 1);
  const refIds = new Set(t.refs.filter((_, i) => i % stride === 0).map((r) => r.uttId));
  const src = await ArrowFrameSource.open({
    features: [join(expDir, 'features', `${o.split}.arrow`)],
    uttToSpeaker: t.uttToSpeaker,
  });
  const cmvn = new Map<string, SpeakerCmvn>();
  for (const c of bank.cmvnSettings())
    if (c.mode !== 'none') cmvn.set(JSON.stringify([c.mode, c.normVars]), (await scanSource(src, { cmvn: c })).cmvn);
  bank.useCmvn((c) => cmvn.get(JSON.stringify([c.mode, c.normVars])));
  const inputs: DecodeInput[] = [];
  const t1 = performance.now(),
    cpu0 = process.cpuUsage();
  for await (const utt of src.utterances())
    if (refIds.has(utt.uttId))
      inputs.push({ uttId: utt.uttId, scores: bank.systems[0].scores(utt, o.acousticScale ?? 0.1) });
  const acousticSec = (performance.now() - t1) / 1000,
    cpu = process.cpuUsage(cpu0);
  bank.dispose();
  const got = new Set(inputs.map((i) => i.uttId));
  return {
    system,
    numModels: spec.models.length,
    split: o.split,
    inputs,
    refs: t.refs.filter((r) => got.has(r.uttId)),
    frames: inputs.reduce((a, i) => a + (i.scores as { numFrames: number }).numFrames, 0),
    frameShiftSec: src.featureConfig.frameShiftMs / 1000,
    backend: backend.name,
    acousticSec,
    acousticCpuSec: (cpu.user + cpu.system) / 1e6,
    weights: { lmWeight: tuned?.lmWeight ?? 1, wordInsertionPenalty: tuned?.wordInsertionPenalty ?? 0 },
    tuningFile: tuned ? tuningFile : null,
  };
}
