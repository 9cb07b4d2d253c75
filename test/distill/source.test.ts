import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import { writeSoftTargets, type EnsembleMember } from '../../src/distill/generate.ts';
import { SoftTargetFrameSource, openDistillationSource, NO_SOFT_TARGETS } from '../../src/distill/source.ts';
import { SOFT_IDS, SOFT_PROBS, SOFT_RESIDUAL } from '../../src/distill/loss.ts';
import { SoftTargetFileWriter, readSoftTargetFile, type UtteranceSoftTargets } from '../../src/distill/store.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { ArrayFrameSource, Minibatches, type Utterance } from '../../src/nnet/data.ts';
import { ArrowFrameSource } from '../../src/nnet/arrow-source.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { captureLogger, tempDir, writeArrowCorpus } from './helpers.ts';

const S = 6,
  K = 3;
const corpus = new SyntheticFrameSource({
  featureDim: 4,
  numSenones: S,
  numUtterances: 10,
  minFrames: 8,
  maxFrames: 20,
  dataSeed: 8,
  idPrefix: 'u',
});

const member = (i: number): EnsembleMember => ({
  id: `t${i}`,
  hash: `h${i}`,
  numSenones: S,
  predictLogits: (u: Utterance) => {
    const r = new Rng(`${i}:${u.uttId}`);
    return Float32Array.from(
      { length: u.numFrames * S },
      (_, j) => 2 * r.gauss() + (j % S === u.labels![Math.floor(j / S)] ? 2 : 0),
    );
  },
});

async function utterances(): Promise<Utterance[]> {
  const out: Utterance[] = [];
  for await (const u of corpus.utterances()) out.push(u);
  return out;
}

describe('soft targets joined with the feature/alignment stream', () => {
  let dir = '';
  let shards: { features: string; alignments: string }[] = [];
  let targets = '';
  let byUtt: Map<string, UtteranceSoftTargets>;

  beforeAll(async () => {
    dir = tempDir();
    const utts = await utterances();
    // Two feature/alignment shards; one soft-target file for the whole split.
    shards = [
      await writeArrowCorpus(dir, utts.slice(0, 6), { numSenones: S, name: 'train.0-of-2' }),
      await writeArrowCorpus(dir, utts.slice(6), { numSenones: S, name: 'train.1-of-2' }),
    ];
    targets = join(dir, 'targets.arrow');
    await writeSoftTargets({
      source: corpus,
      members: [member(0), member(1)],
      numSenones: S,
      output: targets,
      logger: captureLogger(),
      provenance: { alignmentConfigHash: 'align-hash-1', featureConfigHash: 'feature-hash-1' },
      config: { topK: K, residual: 'store' },
    });
    byUtt = new Map();
    for await (const t of readSoftTargetFile(targets)) byUtt.set(t.uttId, t);
  });

  const open = (extra: Partial<Parameters<typeof openDistillationSource>[0]> = {}) =>
    openDistillationSource({
      features: shards.map((s) => s.features),
      alignments: shards.map((s) => s.alignments),
      softTargets: [targets],
      ...extra,
    });

  it('gives every row of a shuffled minibatch the targets of its own (utterance, frame)', async () => {
    const src = await open({ numSenones: S, k: K, temperature: 2 });
    let rows = 0;
    for (const seed of [1, 2]) {
      const batches = new Minibatches(src, {
        batchSize: 16,
        shuffle: true,
        shuffleBufferFrames: 40,
        seed,
        splice: { leftContext: 1, rightContext: 1 },
        numSenones: S,
      });
      for await (const b of batches) {
        const ids = b.extras[SOFT_IDS],
          probs = b.extras[SOFT_PROBS],
          res = b.extras[SOFT_RESIDUAL];
        expect([ids.dim, probs.dim, res.dim]).toEqual([K, K, 1]);
        for (let i = 0; i < b.size; i++) {
          const t = byUtt.get(b.uttIds[b.rowUtt[i]])!;
          const f = b.rowFrame[i];
          expect(Array.from(ids.data.subarray(i * K, (i + 1) * K))).toEqual(
            Array.from(t.ids.subarray(f * K, (f + 1) * K)),
          );
          expect(Array.from(probs.data.subarray(i * K, (i + 1) * K))).toEqual(
            Array.from(t.probs.subarray(f * K, (f + 1) * K)),
          );
          expect(res.data[i]).toBe(t.residual![f]);
          rows++;
        }
      }
    }
    expect(rows).toBe(2 * [...byUtt.values()].reduce((a, t) => a + t.numFrames, 0));
    expect(src.skips.done).toBe(10);
    await src.close();
  });

  it('counts utterances without targets as skips', async () => {
    const utts = await utterances();
    const partial = join(dir, 'partial.arrow');
    const meta = {
      configHash: 'x',
      teachers: [{ id: 't0', hash: 'h0' }],
      temperature: 2,
      k: K,
      combination: 'arithmetic' as const,
      numSenones: S,
      senoneInventoryId: null,
      residual: 'renormalise' as const,
      probType: 'float16' as const,
      alignmentConfigHash: 'align-hash-1',
      featureConfigHash: 'feature-hash-1',
    };
    const w = await SoftTargetFileWriter.open(partial, meta);
    const t = byUtt.get(utts[0].uttId)!;
    w.add(utts[0].uttId, {
      numFrames: t.numFrames,
      ids: t.ids,
      probs: t.probs,
      keptMass: new Float64Array(t.numFrames).fill(1),
    });
    await w.finish();
    const src = await SoftTargetFrameSource.open(new ArrayFrameSource(utts.slice(0, 3)), [partial]);
    const got: string[] = [];
    for await (const u of src.utterances()) got.push(u.uttId);
    expect(got).toEqual([utts[0].uttId]);
    expect(src.skips.reasons()).toEqual([
      { reason: NO_SOFT_TARGETS, count: 2, examples: [utts[1].uttId, utts[2].uttId] },
    ]);
    // Targets with another frame count than the features: made from other features, fatal.
    const shorter = new ArrayFrameSource([
      {
        ...utts[0],
        numFrames: utts[0].numFrames - 1,
        feats: utts[0].feats.subarray(0, (utts[0].numFrames - 1) * 4),
        labels: utts[0].labels!.subarray(1),
      },
    ]);
    const bad = await SoftTargetFrameSource.open(shorter, [partial]);
    await expect(
      (async () => {
        for await (const _ of bad.utterances()) void _;
      })(),
    ).rejects.toThrow(
      new RegExp(`partial\\.arrow, utterance '${utts[0].uttId}': soft targets and features differ in frame count`),
    );
  });

  it('refuses targets made from other alignments or features, or for another student inventory, k or T', async () => {
    const utts = await utterances();
    const other = await writeArrowCorpus(join(dir, 'realigned'), utts, {
      numSenones: S,
      alignHash: 'align-hash-2',
      name: 'train',
    });
    await expect(
      openDistillationSource({ features: [other.features], alignments: [other.alignments], softTargets: [targets] }),
    ).rejects.toThrow(
      /targets\.arrow: soft targets were made from other alignments; expected alignment config hash align-hash-2 \(of .*realigned\/train\.ali\.arrow\), found align-hash-1/,
    );
    const refeat = await writeArrowCorpus(join(dir, 'refeat'), utts, {
      numSenones: S,
      featureHash: 'feature-hash-2',
      name: 'train',
    });
    await expect(
      openDistillationSource({ features: [refeat.features], alignments: [refeat.alignments], softTargets: [targets] }),
    ).rejects.toThrow(/soft targets were made from other features; expected feature config hash feature-hash-2/);
    const more = await writeArrowCorpus(join(dir, 'more-senones'), utts, { numSenones: S + 4, name: 'train' });
    await expect(
      openDistillationSource({ features: [more.features], alignments: [more.alignments], softTargets: [targets] }),
    ).rejects.toThrow(/soft targets and student differ in senone inventory; expected 10 senones/);
    await expect(open({ numSenones: S + 1 })).rejects.toThrow(/student and alignments differ in senone inventory/);
    await expect(open({ k: K + 1 })).rejects.toThrow(FormatError);
    await expect(open({ temperature: 1 })).rejects.toThrow(/another temperature/);
  });

  it('follows a source that visits shards in a shuffled order', async () => {
    const base = await ArrowFrameSource.open({
      features: shards.map((s) => s.features),
      alignments: shards.map((s) => s.alignments),
    });
    const src = await SoftTargetFrameSource.open(base, [targets]);
    const seen: string[] = [];
    for await (const u of src.utterances({ orderSeed: 5 })) {
      const t = byUtt.get(u.uttId)!;
      expect(Array.from(u.extras![SOFT_IDS].data)).toEqual(Array.from(t.ids));
      seen.push(u.uttId);
    }
    expect(seen.sort()).toEqual([...byUtt.keys()].sort());
    await src.close();
  });
});
