/**
 * prepare (synth, 4 speakers x 6 sentences) -> features -> align, on a corpus small enough for the
 * unit suite: output schema, frame counts against the feature files, determinism, bad transcripts.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSynth } from '../../corpora/synth/index.ts';
import { computeFeatures } from '../../src/features/compute.ts';
import { readFeatureFile } from '../../src/features/store.ts';
import { perturbedSupervisions, vtlpSourceId } from '../../src/features/perturb.ts';
import { scoreAlignmentFile } from '../../src/align/score.ts';
import { referenceWordSpans } from '../../src/align/spans.ts';
import { readSplit } from '../../src/corpus/manifest.ts';
import { alignCorpus, type AlignCorpusOptions, type AlignCorpusResult } from '../../src/align/corpus.ts';
import { readAlignmentFile, readAlignmentMetadata } from '../../src/align/store.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { quietLogger } from '../hmm/helpers.ts';
import { main } from '../../src/cli/main.ts';
import { setLogLevel, getLogLevel } from '../../src/util/log.ts';

let root: string;
let dataDir: string;
let featuresDir: string;
let first: AlignCorpusResult;
const SPLITS = ['train', 'dev', 'test'];
/** Test-split utterances whose transcripts are replaced by bad ones, by failure reason. */
const BAD: Record<string, string> = {};

const small = (outDir: string): AlignCorpusOptions => ({
  dataDir,
  featuresDir,
  outDir,
  numLeaves: 130,
  minLeafOccupancy: 10,
  monoIters: 8,
  monoGaussians: 150,
  triIters: 6,
  triGaussians: 150,
  seed: 3,
  logger: quietLogger,
});

/** Rewrite some supervisions of a split (JSON Lines, one object per line). */
function editSupervisions(split: string, edit: (s: { id: string; text: string }, i: number) => void): void {
  const file = join(dataDir, split, 'supervisions.jsonl');
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  lines.forEach(edit);
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-align-'));
  dataDir = join(root, 'data');
  featuresDir = join(root, 'features');
  await prepareSynth(dataDir, {
    numSpeakers: 4,
    utterancesPerSpeaker: 6,
    splits: { train: 2, dev: 1, test: 1 },
    seed: 5,
    logger: quietLogger,
  });
  for (const split of SPLITS) await computeFeatures({ dataDir, split, outDir: featuresDir, logger: quietLogger });
  // Bad transcripts in the test split: one per failure the aligner must count rather than crash on.
  editSupervisions('test', (s, i) => {
    const reason = ['too-few-frames', 'oov', 'empty-transcript', 'phone-not-in-tree'][i];
    if (!reason) return;
    BAD[reason] = s.id;
    if (reason === 'too-few-frames') s.text = Array.from({ length: 80 }, () => 'ABSOLUTELY').join(' ');
    if (reason === 'oov') s.text = `${s.text} QWXZYQ`;
    if (reason === 'empty-transcript') s.text = '';
    if (reason === 'phone-not-in-tree') s.text = 'VISION'; // V IH ZH AH N: ZH does not occur in the training sentences
  });
  first = await alignCorpus(small(join(root, 'ali1')));
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('alignCorpus: prepare -> features -> align on a tiny synth corpus', () => {
  it('writes the lang dir, model, tree, senone inventory, transitions and one alignment file per split', () => {
    const out = join(root, 'ali1');
    for (const f of [
      'lang/phones.txt',
      'lang/lexicon.txt',
      'lang/oov.txt',
      'model.json',
      'tree.json',
      'senones.json',
      'transitions.json',
      'topo',
      'summary.json',
      'config.json',
      'timing.json',
      'train.arrow',
      'dev.arrow',
      'test.arrow',
    ]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const senones = JSON.parse(readFileSync(join(out, 'senones.json'), 'utf8'));
    expect(senones.numSenones).toBe(first.summary.numSenones);
    expect(senones.senones).toHaveLength(senones.numSenones);
    // One root per (phone, HMM state) seen in training, split up to numLeaves.
    const tree = JSON.parse(readFileSync(join(out, 'tree.json'), 'utf8'));
    expect(tree.roots.length).toBeLessThan(senones.numSenones);
    expect(senones.numSenones).toBeLessThanOrEqual(130);
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('labels exactly the frames of the feature files, with senones of the inventory and phones that match it', async () => {
    const out = join(root, 'ali1');
    const senones = JSON.parse(readFileSync(join(out, 'senones.json'), 'utf8')).senones as {
      phone: string;
      hmmState: number;
    }[];
    for (const split of SPLITS) {
      const meta = await readAlignmentMetadata(join(out, `${split}.arrow`));
      expect(meta).toMatchObject({ numSenones: senones.length, frameShiftMs: 10, split, configHash: first.configHash });
      const featureFrames = new Map<string, number>();
      for await (const u of readFeatureFile(join(featuresDir, `${split}.arrow`)))
        featureFrames.set(u.uttId, u.fbank.numFrames);
      let n = 0;
      for await (const a of readAlignmentFile(join(out, `${split}.arrow`))) {
        n++;
        expect(a.senone.length, a.uttId).toBe(featureFrames.get(a.uttId));
        for (let t = 0; t < a.senone.length; t++) {
          const s = senones[a.senone[t]];
          expect(meta.phones[a.phone[t]]).toBe(s.phone);
          expect(a.hmmState[t]).toBe(s.hmmState);
        }
        expect(a.word[0]).toBeGreaterThanOrEqual(-1);
      }
      expect(n).toBe(first.summary.splits[split].done);
      expect(meta.counts.failed).toBe(first.summary.splits[split].failed);
    }
    expect(first.summary.splits.train.message).toBe('Done 12, failed 0');
  });

  it('counts each bad transcript as a skip with its reason and lists the OOV word', () => {
    const t = first.summary.splits.test;
    expect(t.done + t.failed).toBe(6);
    expect(t.message).toBe(`Done ${t.done}, failed ${t.failed}`);
    const byReason = Object.fromEntries(t.reasons.map((r) => [r.reason, r.examples]));
    for (const [reason, id] of Object.entries(BAD)) expect(byReason[reason], reason).toEqual([id]);
    // Anything else that failed is a search failure of this tiny model on an unseen voice, never a crash.
    expect(t.reasons.map((r) => r.reason).filter((r) => !(r in BAD))).toEqual(t.failed > 4 ? ['beam'] : []);
    expect(readFileSync(join(root, 'ali1', 'lang', 'oov.txt'), 'utf8')).toBe('QWXZYQ 1\n');
    const treePhones = new Set(
      JSON.parse(readFileSync(join(root, 'ali1', 'senones.json'), 'utf8')).senones.map(
        (s: { phone: string }) => s.phone,
      ),
    );
    expect(treePhones.has('ZH')).toBe(false);
  });

  it('reports senone counts and the frames-per-senone distribution of the training split', () => {
    const f = first.summary.framesPerSenone;
    expect(f.splits).toEqual(['train']);
    expect(f.numSenones).toBe(first.summary.numSenones);
    expect(f.histogram.reduce((a, b) => a + b.senones, 0)).toBe(f.numSenones);
    expect(f.min).toBeLessThanOrEqual(f.median);
    expect(f.median).toBeLessThanOrEqual(f.max);
    expect(first.timing.splits.train.framesPerSec).toBeGreaterThan(0);
  });

  it('gives byte-identical outputs for the same options and seed (timing.json aside)', async () => {
    const again = join(root, 'ali2');
    await alignCorpus(small(again));
    const files = (d: string): string[] =>
      readdirSync(d, { recursive: true })
        .map(String)
        .filter((f) => f !== 'timing.json' && !f.endsWith('lang'))
        .sort();
    expect(files(again)).toEqual(files(join(root, 'ali1')));
    for (const f of files(again))
      expect(readFileSync(join(again, f)).equals(readFileSync(join(root, 'ali1', f))), f).toBe(true);
  }, 60_000);

  it('aligns with a saved model (no training) and refuses a model trained on other features', async () => {
    const out = join(root, 'ali-model');
    const r = await alignCorpus({
      dataDir,
      featuresDir,
      outDir: out,
      modelDir: join(root, 'ali1'),
      splits: ['dev'],
      logger: quietLogger,
    });
    expect(r.summary.training).toBeNull();
    expect(r.summary.splits.dev.done).toBe(first.summary.splits.dev.done);
    const cfg = join(root, 'ali1', 'config.json');
    const saved = readFileSync(cfg, 'utf8');
    writeFileSync(
      cfg,
      saved.replace('"deltaOrder": 2', '"deltaOrder": 1').replace(/"hash": "[0-9a-f]+"/, '"hash": "other"'),
    );
    try {
      await expect(
        alignCorpus({
          dataDir,
          featuresDir,
          outDir: join(root, 'ali-bad'),
          modelDir: join(root, 'ali1'),
          logger: quietLogger,
        }),
      ).rejects.toThrow(/the model was trained on other GMM features/);
    } finally {
      writeFileSync(cfg, saved);
    }
    expect(existsSync(join(root, 'ali-bad'))).toBe(false);
  });

  it('refuses unknown options, unknown splits and missing features before doing any work', async () => {
    await expect(alignCorpus({ ...small(join(root, 'x')), numLeafs: 3 } as AlignCorpusOptions)).rejects.toThrow(
      ConfigError,
    );
    await expect(alignCorpus({ ...small(join(root, 'x')), splits: ['eval'] })).rejects.toThrow(
      /split 'eval' is not in the corpus/,
    );
    await expect(alignCorpus({ ...small(join(root, 'x')), featuresDir: join(root, 'nowhere') })).rejects.toThrow(
      FormatError,
    );
    expect(existsSync(join(root, 'x'))).toBe(false);
  });

  it('runs as `am-distill align` and `am-distill score-alignment`, and maps bad flags to exit code 2', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      out.push(String(c));
      return true;
    });
    const level = getLogLevel();
    setLogLevel('error');
    try {
      const cli = join(root, 'ali-cli');
      const code = await main([
        'node',
        'am-distill',
        'align',
        '--data',
        dataDir,
        '--features',
        featuresDir,
        '--out',
        cli,
        '--split',
        'train',
        '--num-leaves',
        '130',
        '--min-leaf-occupancy',
        '10',
        '--mono-iters',
        '8',
        '--mono-gaussians',
        '150',
        '--tri-iters',
        '6',
        '--tri-gaussians',
        '150',
        '--seed',
        '3',
      ]);
      expect(code).toBe(0);
      expect(out.join('')).toMatch(/^train: Done 12, failed 0, \d+ frames/m);
      // Same options and seed as the library run (which also aligned dev and test): the same train labels.
      const labels = async (f: string) => {
        const m = new Map<string, number[]>();
        for await (const a of readAlignmentFile(f)) m.set(a.uttId, [...a.senone]);
        return m;
      };
      expect(await labels(join(cli, 'train.arrow'))).toEqual(await labels(join(root, 'ali1', 'train.arrow')));
      expect(
        await main([
          'node',
          'am-distill',
          'score-alignment',
          '--alignments',
          join(root, 'ali1', 'dev.arrow'),
          '--data',
          dataDir,
          '--split',
          'dev',
          '--json',
        ]),
      ).toBe(0);
      const score = JSON.parse(out.slice(out.findIndex((l) => l.startsWith('{'))).join(''));
      expect(score.within.map((w: { toleranceSec: number }) => w.toleranceSec)).toEqual([0.02, 0.05]);
      expect(score.utterances).toBe(first.summary.splits.dev.done);
      expect(
        await main([
          'node',
          'am-distill',
          'align',
          '--data',
          dataDir,
          '--features',
          featuresDir,
          '--out',
          cli,
          '--num-leaves',
          'many',
        ]),
      ).toBe(2);
      expect(
        await main([
          'node',
          'am-distill',
          'align',
          '--data',
          dataDir,
          '--features',
          featuresDir,
          '--out',
          cli,
          '--extra-train',
          'nocolon',
        ]),
      ).toBe(2);
      expect(
        await main([
          'node',
          'am-distill',
          'align',
          '--data',
          dataDir,
          '--features',
          featuresDir,
          '--out',
          cli,
          '--vtlp-copies',
          'copy',
        ]),
      ).toBe(2);
    } finally {
      spy.mockRestore();
      setLogLevel(level);
    }
  }, 60_000);
});

describe('alignCorpus: constrained to the reference word timings (referenceTimings: constrain)', () => {
  let con: AlignCorpusResult;
  // A wide retry beam: the synth corpus' edges are near-digital silence, and a model trained with
  // them pinned to silence scores the unseen test speakers' edges far below any 40-unit beam.
  beforeAll(async () => {
    con = await alignCorpus({
      ...small(join(root, 'ali-con')),
      referenceTimings: 'constrain',
      referenceCollarMs: 0,
      retryBeam: 1e7,
    });
  }, 120_000);

  it('keeps every aligned word of every split within the frames of its reference span', async () => {
    let words = 0;
    for (const split of SPLITS) {
      const sups = new Map((await readSplit(dataDir, split)).supervisions.map((x) => [x.id, x]));
      for await (const a of readAlignmentFile(join(root, 'ali-con', `${split}.arrow`))) {
        const sup = sups.get(a.uttId)!;
        const r = referenceWordSpans(sup.alignment!.word!, sup.text.split(' '), sup.startSec, a.word.length, {
          frameShiftMs: 10,
          frameLengthMs: 25,
          collarSec: 0,
        });
        if ('mismatch' in r) throw new Error(`${a.uttId}: ${r.mismatch}`);
        for (let t = 0; t < a.word.length; t++) {
          const w = a.word[t];
          if (w < 0) continue;
          expect(t >= r.first[w] && t <= r.last[w], `${a.uttId} frame ${t} word ${w}`).toBe(true);
          words++;
        }
      }
    }
    expect(words).toBeGreaterThan(1000);
    expect(con.summary.splits.train.referenceTimings).toEqual({ kept: 12, dropped: 0, noReference: 0, mismatched: {} });
    expect(con.summary.training!.referenceTimings).toEqual({ noReference: 0, mismatched: {}, droppedLastRealign: 0 });
  });

  it('is not the free alignment: the unconstrained run puts word frames outside their spans, and fewer boundaries within 20 ms', async () => {
    const free = await scoreAlignmentFile(join(root, 'ali1', 'train.arrow'), dataDir, 'train', {
      tolerancesSec: [0.02],
    });
    const kept = await scoreAlignmentFile(join(root, 'ali-con', 'train.arrow'), dataDir, 'train', {
      tolerancesSec: [0.02],
    });
    expect(kept.pauses.pauseFramesInWords).toBe(0);
    expect(kept.within[0].count).toBeGreaterThan(free.within[0].count);
    expect(con.configHash).not.toBe(first.configHash);
    expect(first.summary.splits.train).not.toHaveProperty('referenceTimings');
  });

  it('counts the test transcripts whose timings no longer fit (edited above) by reason', () => {
    const rt = con.summary.splits.test.referenceTimings!;
    // Four transcripts were replaced: each fails alignment, and its timings were counted as unusable first.
    expect(Object.values(rt.mismatched).reduce((a, b) => a + (b ?? 0), 0)).toBe(4);
    expect(rt.kept).toBe(con.summary.splits.test.done);
  });

  it('takes --reference-timings and --reference-collar-ms on the command line (with a saved model), and refuses a mode it does not know', async () => {
    const level = getLogLevel();
    setLogLevel('error');
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
      out.push(String(c));
      return true;
    });
    try {
      const cli = join(root, 'ali-con-cli');
      expect(
        await main([
          'node',
          'am-distill',
          'align',
          '--data',
          dataDir,
          '--features',
          featuresDir,
          '--out',
          cli,
          '--model',
          join(root, 'ali-con'),
          '--split',
          'train',
          '--reference-timings',
          'constrain',
          '--reference-collar-ms',
          '0',
          '--retry-beam',
          '10000000',
        ]),
      ).toBe(0);
      expect(JSON.parse(readFileSync(join(cli, 'config.json'), 'utf8')).options).toMatchObject({
        referenceTimings: 'constrain',
        referenceCollarMs: 0,
        retryBeam: 1e7,
      });
      expect(out.join('')).toContain('within reference word spans 12, without (no path) 0, no timings 0');
      expect(
        await main([
          'node',
          'am-distill',
          'align',
          '--data',
          dataDir,
          '--features',
          featuresDir,
          '--out',
          cli,
          '--reference-timings',
          'strict',
        ]),
      ).toBe(2);
    } finally {
      spy.mockRestore();
      setLogLevel(level);
    }
  });

  it('refuses an unknown mode and a negative collar', async () => {
    await expect(
      alignCorpus({ ...small(join(root, 'ali-bad')), referenceTimings: 'strict' as 'constrain' }),
    ).rejects.toThrow(ConfigError);
    await expect(
      alignCorpus({ ...small(join(root, 'ali-bad')), referenceTimings: 'constrain', referenceCollarMs: -5 }),
    ).rejects.toThrow(/referenceCollarMs/);
    expect(existsSync(join(root, 'ali-bad'))).toBe(false);
  });
});

describe('alignCorpus: VTLP copies in the training features', () => {
  let vtlpFeatures: string;
  let data2: string;
  beforeAll(async () => {
    vtlpFeatures = join(root, 'features-vtlp');
    await computeFeatures({
      dataDir,
      split: 'train',
      outDir: vtlpFeatures,
      logger: quietLogger,
      vtlpWarps: [0.9, 1.1],
    });
    for (const split of ['dev', 'test'])
      await computeFeatures({ dataDir, split, outDir: vtlpFeatures, logger: quietLogger });
    // One more supervision in the manifest than in the features: counted once, not once per copy.
    data2 = join(root, 'data-vtlp');
    cpSync(dataDir, data2, { recursive: true });
    const supFile = join(data2, 'train', 'supervisions.jsonl');
    const lastSup = JSON.parse(readFileSync(supFile, 'utf8').trim().split('\n').at(-1)!);
    writeFileSync(
      supFile,
      readFileSync(supFile, 'utf8') + JSON.stringify({ ...lastSup, id: 'no-features-utt' }) + '\n',
    );
  }, 120_000);

  const readAli = async (file: string) => {
    const ali = new Map<string, { senone: number[]; phone: number[]; word: number[] }>();
    for await (const a of readAlignmentFile(file))
      ali.set(a.uttId, { senone: [...a.senone], phone: [...a.phone], word: [...a.word] });
    return ali;
  };

  it("realign: aligns each copy on its own warped frames with its source's transcript, as a speaker of its own", async () => {
    const out = join(root, 'ali-vtlp');
    const r = await alignCorpus({
      ...small(out),
      dataDir: data2,
      featuresDir: vtlpFeatures,
      splits: ['train'],
      vtlpCopies: 'realign',
    });
    expect(r.summary.splits.train.message).toBe('Done 36, failed 0');
    expect(r.summary.splits.train.withoutFeatures).toBe(1);
    expect(r.summary.training!.utterances).toBe(36);
    const ali = await readAli(join(out, 'train.arrow'));
    const sources = [...ali.keys()].filter((id) => !id.startsWith('vtlp'));
    expect(sources).toHaveLength(12);
    let same = 0;
    let total = 0;
    for (const id of sources) {
      for (const w of [0.9, 1.1]) {
        const copy = ali.get(`vtlp${w}-${id}`)!;
        expect(copy, `vtlp${w}-${id}`).toBeDefined();
        const src = ali.get(id)!;
        expect(copy.phone.length).toBe(src.phone.length);
        // Same transcript: the same number of words.
        expect(Math.max(...copy.word)).toBe(Math.max(...src.word));
        for (let t = 0; t < src.phone.length; t++) if (copy.phone[t] === src.phone[t]) same++;
        total += src.phone.length;
      }
    }
    // A warp of +-10 % moves few phone boundaries, but some.
    expect(same / total).toBeGreaterThan(0.8);
    expect(same / total).toBeLessThan(1);
    // The copies are scored against their source's reference word timings.
    const score = await scoreAlignmentFile(join(out, 'train.arrow'), data2, 'train');
    expect(score.skipped.reasons.filter((x) => x.reason === 'no reference word timings')).toEqual([]);
    expect(score.utterances + score.skipped.skipped).toBe(36);
    expect(vtlpSourceId('vtlp0.9-a-b')).toBe('a-b');
    expect(vtlpSourceId('vtlp1.1-vtlp0.9-u')).toBe('vtlp0.9-u');
    expect(vtlpSourceId('vtlpx-u')).toBeNull();
    expect(vtlpSourceId('u1')).toBeNull();
  }, 120_000);

  it("inherit (default): the model of the corpus without copies; each copy gets its source's alignment, right after it", async () => {
    const plain = join(root, 'ali-plain-train');
    await alignCorpus({ ...small(plain), splits: ['train'] });
    const out = join(root, 'ali-vtlp-inherit');
    const r = await alignCorpus({ ...small(out), dataDir: data2, featuresDir: vtlpFeatures, splits: ['train'] });
    expect(r.summary.training!.utterances).toBe(12);
    expect(r.summary.splits.train.message).toBe('Done 36, failed 0');
    expect(r.summary.splits.train.withoutFeatures).toBe(1);
    // Trained on the real recordings only: the very model (and tree) of the corpus without copies.
    for (const f of ['model.json', 'tree.json', 'senones.json'])
      expect(readFileSync(join(out, f)).equals(readFileSync(join(plain, f))), f).toBe(true);
    const base = await readAli(join(plain, 'train.arrow'));
    const ali = await readAli(join(out, 'train.arrow'));
    // In the feature files' order: each source, then its copies.
    const order: string[] = [];
    for await (const u of readFeatureFile(join(vtlpFeatures, 'train.arrow'))) order.push(u.uttId);
    expect([...ali.keys()]).toEqual(order);
    expect(ali.size).toBe(36);
    for (const [id, a] of base) {
      expect(ali.get(id), id).toEqual(a);
      for (const w of [0.9, 1.1]) expect(ali.get(`vtlp${w}-${id}`), `vtlp${w}-${id}`).toEqual(a);
    }
    expect(r.summary.framesPerSenone.mean).toBeCloseTo(
      3 * (await alignCorpus({ ...small(join(root, 'ali-plain-2')), splits: ['train'] })).summary.framesPerSenone.mean,
      6,
    );
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).options.vtlpCopies).toBe('inherit');
    expect(r.configHash).not.toBe(
      (
        await alignCorpus({
          ...small(join(root, 'ali-vtlp-3')),
          dataDir: data2,
          featuresDir: vtlpFeatures,
          splits: ['train'],
          vtlpCopies: 'realign',
          monoIters: 1,
          triIters: 1,
        })
      ).configHash,
    );
  }, 120_000);

  it('inherit: a source that fails fails its copies, for the same reason', async () => {
    const data3 = join(root, 'data-vtlp-bad');
    cpSync(data2, data3, { recursive: true });
    const file = join(data3, 'train', 'supervisions.jsonl');
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const bad = lines[0].id as string;
    lines[0].text = `${lines[0].text} QWXZYQ`;
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const out = join(root, 'ali-vtlp-bad');
    const r = await alignCorpus({ ...small(out), dataDir: data3, featuresDir: vtlpFeatures, splits: ['train'] });
    expect(r.summary.splits.train.message).toBe('Done 33, failed 3');
    expect(r.summary.splits.train.reasons).toHaveLength(1);
    expect(r.summary.splits.train.reasons[0].count).toBe(3);
    expect(r.summary.splits.train.reasons[0].examples.sort()).toEqual([bad, `vtlp0.9-${bad}`, `vtlp1.1-${bad}`].sort());
    const ali = await readAli(join(out, 'train.arrow'));
    expect(ali.size).toBe(33);
    expect([...ali.keys()].some((id) => id.endsWith(bad))).toBe(false);
  }, 120_000);

  it('takes --vtlp-copies on the command line, and refuses a mode it does not know', async () => {
    await expect(alignCorpus({ ...small(join(root, 'ali-x')), vtlpCopies: 'copy' as 'inherit' })).rejects.toThrow(
      /bad align option 'vtlpCopies'.*expected 'inherit' or 'realign'/s,
    );
    const level = getLogLevel();
    setLogLevel('error');
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const cli = join(root, 'ali-cli-realign');
      expect(
        await main([
          'node',
          'am-distill',
          'align',
          '--data',
          data2,
          '--features',
          vtlpFeatures,
          '--out',
          cli,
          '--split',
          'train',
          '--mono-iters',
          '2',
          '--tri-iters',
          '2',
          '--num-leaves',
          '130',
          '--min-leaf-occupancy',
          '10',
          '--vtlp-copies',
          'realign',
        ]),
      ).toBe(0);
      const cfg = JSON.parse(readFileSync(join(cli, 'config.json'), 'utf8'));
      expect(cfg.options.vtlpCopies).toBe('realign');
      expect(JSON.parse(readFileSync(join(cli, 'summary.json'), 'utf8')).training.utterances).toBe(36);
    } finally {
      spy.mockRestore();
      setLogLevel(level);
    }
  }, 60_000);

  it('refuses features whose copy ids would take the id of a real utterance', () => {
    const sources = new Map([
      ['u1', { speaker: 's' }],
      ['vtlp1.1-u1', { speaker: 's' }],
    ]);
    expect(() => perturbedSupervisions(sources, [1.1], 'f.arrow')).toThrow(
      /f\.arrow, utterance 'vtlp1\.1-u1': a VTLP copy would take the id of a real utterance/,
    );
    const ok = perturbedSupervisions(new Map([['u1', { speaker: 's', words: ['A'] }]]), [0.9], 'f.arrow');
    expect([...ok]).toEqual([['vtlp0.9-u1', { speaker: 'vtlp0.9-s', words: ['A'] }]]);
  });
});
