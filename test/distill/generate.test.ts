import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  calibrateTopK,
  generateSoftTargets,
  modelDirHash,
  resolveSoftTargetConfig,
  writeSoftTargets,
  type EnsembleMember,
  type WriteSoftTargetsOptions,
} from '../../src/distill/generate.ts';
import { combineEnsemble } from '../../src/distill/combine.ts';
import { KeptMassCurve, topKRows } from '../../src/distill/topk.ts';
import { readSoftTargetFile, readSoftTargetMetadata, type UtteranceSoftTargets } from '../../src/distill/store.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { ArrayFrameSource, scanSource, type Utterance } from '../../src/nnet/data.ts';
import { ArrowFrameSource } from '../../src/nnet/arrow-source.ts';
import { createFrameClassifier } from '../../src/nnet/model.ts';
import { SIDECAR_KIND, SIDECAR_VERSION, loadModelDir, saveModelDir, type ModelSidecar } from '../../src/nnet/io.ts';
import { utteranceLogits } from '../../src/nnet/train.ts';
import { initBackend } from '../../src/nnet/backend.ts';
import { ConfigError, CorpusError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { captureLogger, expectClose, featureConfig, tempDir, writeArrowCorpus } from './helpers.ts';

const S = 8;
const corpus = new SyntheticFrameSource({
  featureDim: 5,
  numSenones: S,
  numUtterances: 12,
  minFrames: 10,
  maxFrames: 30,
  dataSeed: 4,
  idPrefix: 'tr',
});

/** A member whose logits favour the aligned senone, with its own seeded noise (independent of visiting order). */
function member(i: number, numSenones = S): EnsembleMember {
  return {
    id: `exp/teacher-${i}`,
    hash: `hash-${i}`,
    numSenones,
    predictLogits: (u: Utterance) => {
      const r = new Rng(`${i}:${u.uttId}`);
      const z = new Float32Array(u.numFrames * numSenones);
      for (let f = 0; f < u.numFrames; f++) {
        for (let s = 0; s < numSenones; s++) z[f * numSenones + s] = 2 * r.gauss();
        z[f * numSenones + u.labels![f]] += 2.5;
      }
      return z;
    },
  };
}

const members = [member(0), member(1), member(2)];
const provenance = { alignmentConfigHash: 'align-hash', featureConfigHash: 'feat-hash' };

function opts(output: string, extra: Partial<WriteSoftTargetsOptions> = {}): WriteSoftTargetsOptions {
  return {
    source: corpus,
    members,
    numSenones: S,
    provenance,
    output,
    logger: captureLogger(),
    split: 'train',
    ...extra,
  };
}

async function readAll(path: string): Promise<UtteranceSoftTargets[]> {
  const out: UtteranceSoftTargets[] = [];
  for await (const u of readSoftTargetFile(path)) out.push(u);
  return out;
}

async function allUtts(): Promise<Utterance[]> {
  const out: Utterance[] = [];
  for await (const u of corpus.utterances()) out.push(u);
  return out;
}

describe('writeSoftTargets (abstract members)', () => {
  it('writes the top k of the combined members for every frame, with the stats of the run', async () => {
    const dir = tempDir();
    const out = join(dir, 'train.arrow');
    const stats = await writeSoftTargets(opts(out, { config: { temperature: 2, topK: 3, probType: 'float32' } }));
    const utts = await allUtts();
    const got = await readAll(out);
    expect(got.map((g) => g.uttId)).toEqual(utts.map((u) => u.uttId));
    let hits = 0,
      frames = 0;
    const memberHits = [0, 0, 0];
    for (let i = 0; i < utts.length; i++) {
      const u = utts[i];
      const logits = members.map((m) => m.predictLogits(u) as Float32Array);
      const p = combineEnsemble(logits, u.numFrames, S, { temperature: 2 });
      const top = topKRows(p, u.numFrames, S, 3);
      expect(Array.from(got[i].ids)).toEqual(Array.from(top.ids));
      expectClose(
        got[i].probs,
        Array.from(top.probs, (v, j) => v / top.keptMass[Math.floor(j / 3)]),
        1e-7,
        u.uttId,
      );
      for (let f = 0; f < u.numFrames; f++) {
        if (top.ids[f * 3] === u.labels![f]) hits++;
        logits.forEach((z, m) => {
          const row = Array.from(z.subarray(f * S, (f + 1) * S));
          if (row.indexOf(Math.max(...row)) === u.labels![f]) memberHits[m]++;
        });
      }
      frames += u.numFrames;
    }
    expect(stats).toMatchObject({ utterances: 12, frames, k: 3, kChosenBy: 'config', calibration: null });
    expect(stats.ensembleFrameAccuracy).toBeCloseTo(hits / frames, 12);
    expectClose(
      stats.memberFrameAccuracy,
      memberHits.map((h) => h / frames),
      1e-12,
      'member accuracies',
    );
    // The ensemble beats its members on this task, as the paper's ensembles do.
    expect(stats.ensembleFrameAccuracy).toBeGreaterThan(Math.max(...stats.memberFrameAccuracy));
    expect(stats.storage.frames).toBe(frames);
    expect(stats.storage.bytesPerFrame).toBeGreaterThan(stats.storage.layout.row);
    const meta = await readSoftTargetMetadata(out);
    expect(meta).toMatchObject({
      teachers: members.map((m) => ({ id: m.id, hash: m.hash })),
      temperature: 2,
      k: 3,
      combination: 'arithmetic',
      numSenones: S,
      ...provenance,
      split: 'train',
    });
    expect(meta.config).toMatchObject({ temperature: 2, topK: 3, chosenK: 3 });
  });

  it("chooses k = 'auto' by calibration so that the mean kept mass reaches the target", async () => {
    const dir = tempDir();
    const out = join(dir, 'train.arrow');
    // calibrationFrames above the corpus size: the sample is the whole corpus, so the stored mean is exactly the sample's.
    const stats = await writeSoftTargets(
      opts(out, { config: { temperature: 1, targetKeptMass: 0.95, calibrationFrames: 100_000 } }),
    );
    const curve = new KeptMassCurve(S);
    for (const u of await allUtts())
      curve.addRows(
        combineEnsemble(
          members.map((m) => m.predictLogits(u) as Float32Array),
          u.numFrames,
          S,
          { temperature: 1 },
        ),
        u.numFrames,
      );
    const want = curve.chooseK(0.95);
    expect(stats.kChosenBy).toBe('calibration');
    expect(stats.k).toBe(want.k);
    expect(stats.calibration).toMatchObject({
      k: want.k,
      reached: true,
      frames: stats.frames,
      utterances: 12,
      sampleFraction: 1,
    });
    expect(stats.meanKeptMass).toBeGreaterThanOrEqual(0.95);
    expect(curve.meanMass(want.k - 1)).toBeLessThan(0.95);
    // A small sample: drawn by utterance id, the same sample in any visiting order.
    const small = { calibrationFrames: 60, calibrationSeed: 3, temperature: 1, targetKeptMass: 0.9 };
    const a = await calibrateTopK({ source: corpus, members, numSenones: S, config: small, logger: captureLogger() });
    const reversed = new ArrayFrameSource((await allUtts()).reverse());
    const b = await calibrateTopK({ source: reversed, members, numSenones: S, config: small, logger: captureLogger() });
    expect({ ...a, meanKeptMass: 0 }).toEqual({ ...b, meanKeptMass: 0 }); // the sum order differs in the last bit
    expect(a.meanKeptMass).toBeCloseTo(b.meanKeptMass, 12);
    expect(a.frames).toBeLessThan(stats.frames);
    expect(a.k).toBeLessThan(S);
  });

  it('gives the same bytes for the same config and inputs; the config hash follows the config', async () => {
    const dir = tempDir();
    const cfg = { temperature: 2, targetKeptMass: 0.9, combination: 'geometric' as const, residual: 'store' as const };
    await writeSoftTargets(opts(join(dir, 'a.arrow'), { config: cfg }));
    await writeSoftTargets(opts(join(dir, 'b.arrow'), { config: cfg }));
    expect(readFileSync(join(dir, 'a.arrow')).equals(readFileSync(join(dir, 'b.arrow')))).toBe(true);
    await writeSoftTargets(opts(join(dir, 'c.arrow'), { config: { ...cfg, temperature: 3 } }));
    const [a, c] = [
      await readSoftTargetMetadata(join(dir, 'a.arrow')),
      await readSoftTargetMetadata(join(dir, 'c.arrow')),
    ];
    expect(a.configHash).not.toBe(c.configHash);
    expect(a).toMatchObject({ combination: 'geometric', residual: 'store' });
  });

  it('stops with typed errors naming the teacher on inventory mismatches and bad outputs, leaving no file', async () => {
    const dir = tempDir();
    const out = join(dir, 'x.arrow');
    await expect(writeSoftTargets(opts(out, { members: [members[0], member(7, S + 1)] }))).rejects.toThrow(
      /exp\/teacher-7: teacher and alignments differ in senone inventory; expected 8 senones.*found 9 senones/,
    );
    const inv = [
      { ...members[0], senoneInventoryId: 'tree-a' },
      { ...members[1], senoneInventoryId: 'tree-b' },
    ];
    await expect(writeSoftTargets(opts(out, { members: inv }))).rejects.toThrow(/teachers differ in senone inventory/);
    const nan: EnsembleMember = {
      ...member(5),
      predictLogits: (u) => new Float32Array(u.numFrames * S).fill(Number.NaN),
    };
    await expect(writeSoftTargets(opts(out, { members: [members[0], nan], config: { topK: 2 } }))).rejects.toThrow(
      /not finite.*teacher exp\/teacher-5, utterance 'tr-00'/,
    );
    await expect(writeSoftTargets(opts(out, { config: { topK: S + 1 } }))).rejects.toThrow(ConfigError);
    await expect(writeSoftTargets(opts(out, { config: { topk: 3 } as never }))).rejects.toThrow(
      /unknown soft-target option/,
    );
    await expect(writeSoftTargets(opts(out, { members: [] }))).rejects.toThrow(ConfigError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('counts bad utterances as skips and fails when nothing is left', async () => {
    const dir = tempDir();
    const utts = await allUtts();
    const broken: Utterance = { ...utts[1], feats: utts[1].feats.map((v, i) => (i === 3 ? Number.NaN : v)) };
    const unaligned: Utterance = { ...utts[2], labels: undefined };
    const src = new ArrayFrameSource([utts[0], broken, unaligned, utts[3]]);
    const stats = await writeSoftTargets(opts(join(dir, 'a.arrow'), { source: src, config: { topK: 2 } }));
    expect(stats.utterances).toBe(2);
    expect(stats.skips.skipped).toBe(2);
    expect(stats.skips.reasons.map((r) => r.reason).sort()).toEqual(['no alignment', 'non-finite feature value']);
    expect((await readSoftTargetMetadata(join(dir, 'a.arrow'))).counts.skipped).toBe(2);
    await expect(
      writeSoftTargets(opts(join(dir, 'b.arrow'), { source: new ArrayFrameSource([broken]), config: { topK: 2 } })),
    ).rejects.toThrow(CorpusError);
    expect(existsSync(join(dir, 'b.arrow'))).toBe(false);
  });

  it('validates its options', () => {
    expect(resolveSoftTargetConfig({})).toMatchObject({
      temperature: 2,
      combination: 'arithmetic',
      topK: 'auto',
      targetKeptMass: 0.99,
      residual: 'renormalise',
      probType: 'float16',
      idType: 'auto',
    });
    expect(() => resolveSoftTargetConfig({ targetKeptMass: 1.5 })).toThrow(/targetKeptMass/);
    expect(() => resolveSoftTargetConfig({ topK: 0 })).toThrow(ConfigError);
    expect(() => resolveSoftTargetConfig({ residual: 'drop' as never })).toThrow(ConfigError);
  });
});

describe('generateSoftTargets (the targets stage on Arrow files and model directories)', () => {
  const dim = 5,
    splice = { leftContext: 1, rightContext: 1 };
  let dir = '';
  let files: { features: string[]; alignments: string[] };
  let teachers: string[] = [];

  async function saveTeacher(
    path: string,
    seed: number,
    numSenones = S,
    fc: Record<string, unknown> | null = featureConfig(dim) as never,
  ): Promise<void> {
    const classifier = createFrameClassifier({ inputDim: dim * 3, hiddenLayers: 1, hiddenUnits: 6, numSenones }, seed);
    const sidecar: ModelSidecar = {
      kind: SIDECAR_KIND,
      formatVersion: SIDECAR_VERSION,
      shape: classifier.shape,
      senones: { numSenones },
      featureConfig: fc,
      featureDim: dim,
      splice,
      cmvn: { mode: 'speaker', normVars: true },
      priors: Array(numSenones).fill(1 / numSenones),
      output: 'posteriors',
    };
    await saveModelDir(path, classifier, sidecar);
    classifier.dispose();
  }

  beforeAll(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    dir = tempDir();
    const written = await writeArrowCorpus(dir, await allUtts(), { numSenones: S });
    files = { features: [written.features], alignments: [written.alignments] };
    teachers = [join(dir, 'teacher-0'), join(dir, 'teacher-1')];
    await saveTeacher(teachers[0], 1);
    await saveTeacher(teachers[1], 2);
  });

  it('runs the teachers on the aligned utterances with their CMVN and splicing, recording their weight hashes and the input hashes', async () => {
    const out = join(dir, 'targets', 'train.arrow');
    const logger = captureLogger();
    const stats = await generateSoftTargets({
      ...files,
      output: out,
      teachers,
      config: { topK: 4, temperature: 2, probType: 'float32' },
      backend: 'cpu',
      logger,
      split: 'train',
    });
    const meta = await readSoftTargetMetadata(out);
    expect(meta.teachers).toEqual([
      { id: teachers[0], hash: await modelDirHash(teachers[0]) },
      { id: teachers[1], hash: await modelDirHash(teachers[1]) },
    ]);
    expect(meta).toMatchObject({
      alignmentConfigHash: 'align-hash-1',
      featureConfigHash: 'feature-hash-1',
      numSenones: S,
      k: 4,
    });
    expect(stats.frames).toBe((await allUtts()).reduce((a, u) => a + u.numFrames, 0));
    expect(logger.lines.some((l) => /soft targets ->/.test(l))).toBe(true);
    // Same numbers as running the models by hand.
    const src = await ArrowFrameSource.open(files);
    const cmvn = (await scanSource(src, { cmvn: { mode: 'speaker', normVars: true } })).cmvn;
    const models = await Promise.all(teachers.map((t) => loadModelDir(t)));
    const got = await readAll(out);
    let i = 0;
    for await (const u of src.utterances()) {
      const logits = models.map((m) => utteranceLogits(m.classifier, u, { cmvn, splice }));
      const top = topKRows(combineEnsemble(logits, u.numFrames, S, { temperature: 2 }), u.numFrames, S, 4);
      expect(Array.from(got[i].ids)).toEqual(Array.from(top.ids));
      expectClose(
        got[i].probs,
        Array.from(top.probs, (v, j) => v / top.keptMass[Math.floor(j / 4)]),
        1e-6,
        u.uttId,
      );
      i++;
    }
    expect(i).toBe(got.length);
    models.forEach((m) => m.classifier.dispose());
  });

  it('refuses teachers trained for another senone inventory or other features (FormatError naming the teacher)', async () => {
    const wrongSenones = join(dir, 'teacher-9-senones');
    await saveTeacher(wrongSenones, 3, S + 1);
    await expect(
      generateSoftTargets({
        ...files,
        output: join(dir, 'bad.arrow'),
        teachers: [teachers[0], wrongSenones],
        backend: 'cpu',
        logger: captureLogger(),
      }),
    ).rejects.toThrow(
      /model and data do not match \(teacher .*teacher-9-senones vs features .*train\.feats\.arrow.*senone count 9 vs 8/,
    );
    const wrongFeatures = join(dir, 'teacher-other-features');
    await saveTeacher(wrongFeatures, 4, S, { ...featureConfig(dim), frameShiftMs: 15 } as never);
    await expect(
      generateSoftTargets({
        ...files,
        output: join(dir, 'bad.arrow'),
        teachers: [wrongFeatures],
        backend: 'cpu',
        logger: captureLogger(),
      }),
    ).rejects.toThrow(/model and data do not match.*feature config/);
    expect(existsSync(join(dir, 'bad.arrow'))).toBe(false);
  });
});
