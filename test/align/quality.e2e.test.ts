/**
 * Alignment quality and speed on real-size corpora (minutes; run with
 * `npx vitest run --config vitest.e2e.config.ts test/align/quality.e2e.test.ts`):
 *   - synth (12 speakers x 20 sentences, the demo recipe's voices and grammar): word boundaries of the TEST voices
 *     against espeak's reference word timings, goal >= 90% within 50 ms;
 *   - FSDD connected digits (needs ../shared): senones, frames per senone, speed, boundaries
 *     against the joined takes' timings (informative: a take's edges still hold some silence);
 *   - PocketSphinx LibriVox (needs ../shared): aligned with a model trained on FSDD (resampled to
 *     16 kHz) + synth, word boundaries against PocketSphinx's word alignment (informative only).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareSynth } from '../../corpora/synth/index.ts';
import { prepareCorpus } from '../../corpora/index.ts';
import { computeFeatures } from '../../src/features/compute.ts';
import { readCorpusInfo } from '../../src/corpus/manifest.ts';
import { alignCorpus, type AlignCorpusResult } from '../../src/align/corpus.ts';
import { scoreAlignmentFile, type BoundaryScore } from '../../src/align/score.ts';
import type { TimedSymbol } from '../../src/corpus/types.ts';
import { quietLogger } from '../hmm/helpers.ts';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/corpora');
const FSDD = join(SHARED, 'fsdd');
const LIBRIVOX = join(SHARED, 'pocketsphinx-librivox');
const haveShared = existsSync(FSDD) && existsSync(LIBRIVOX);
if (!haveShared) console.warn(`SKIPPED: FSDD / LibriVox alignment checks need ${SHARED} (not found)`);

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'amd-alignq-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function features(dataDir: string, outDir: string): Promise<void> {
  for (const split of (await readCorpusInfo(dataDir)).splits)
    await computeFeatures({ dataDir, split, outDir, logger: quietLogger });
}

function show(name: string, r: AlignCorpusResult, score?: BoundaryScore): void {
  const f = r.summary.framesPerSenone;
  const lines = [
    `${name}: ${r.summary.numSenones} senones, ${r.summary.numGaussians} Gaussians; ${Object.entries(r.summary.splits)
      .map(([s, x]) => `${s}: ${x.message}`)
      .join('; ')}`,
    `  frames per senone (${f.splits.join(', ')}): min ${f.min}, median ${f.median}, max ${f.max}, mean ${f.mean.toFixed(1)}, unseen ${f.unseen}; histogram ${f.histogram.map((h) => `[${h.fromFrames},${h.toFrames}):${h.senones}`).join(' ')}`,
    `  alignment speed ${r.timing.framesPerSec.toFixed(0)} frames/s (${Object.entries(r.timing.splits)
      .map(([s, x]) => `${s} ${x.framesPerSec.toFixed(0)}`)
      .join(', ')}), training ${r.timing.trainingSec.toFixed(1)} s`,
  ];
  if (score)
    lines.push(
      `  word boundaries (${score.utterances} utts, ${score.boundaries}): ${score.within.map((w) => `${(w.toleranceSec * 1000).toFixed(0)} ms ${w.percent.toFixed(1)}%`).join(', ')}; mean |err| ${(score.meanAbsErrorSec * 1000).toFixed(1)} ms, median ${(score.medianAbsErrorSec * 1000).toFixed(1)} ms`,
    );
  console.log(lines.join('\n'));
}

const pct = (s: BoundaryScore, tolSec: number): number => s.within.find((w) => w.toleranceSec === tolSec)!.percent;

describe('alignment quality on the synth corpus (test voices)', () => {
  let synthData: string;
  let synthFeats: string;
  it("puts >= 90% of the test voices' word boundaries within 50 ms of espeak's", async () => {
    synthData = join(root, 'synth');
    synthFeats = join(root, 'synth-feats');
    await prepareSynth(synthData, {
      numSpeakers: 12,
      utterancesPerSpeaker: 20,
      splits: { train: 8, dev: 2, test: 2 },
      seed: 1,
      sampleRateHz: 16000,
      logger: quietLogger,
    });
    await features(synthData, synthFeats);
    const r = await alignCorpus({
      dataDir: synthData,
      featuresDir: synthFeats,
      outDir: join(root, 'synth-ali'),
      numLeaves: 200,
      logger: quietLogger,
    });
    const score = await scoreAlignmentFile(join(root, 'synth-ali', 'test.arrow'), synthData, 'test');
    show('synth', r, score);
    expect(r.summary.splits.train.failed).toBe(0);
    expect(r.summary.splits.test.done).toBeGreaterThanOrEqual(36);
    expect(pct(score, 0.05)).toBeGreaterThanOrEqual(90);
  }, 600_000);

  describe.skipIf(!haveShared)('FSDD connected digits and LibriVox (needs ../shared)', () => {
    it('FSDD: senones, frames per senone and speed; boundaries against the joined takes', async () => {
      const data = join(root, 'fsdd');
      await prepareCorpus('fsdd', FSDD, { outDir: data, numUtterancesPerSpeaker: 100, logger: quietLogger });
      await features(data, join(root, 'fsdd-feats'));
      const r = await alignCorpus({
        dataDir: data,
        featuresDir: join(root, 'fsdd-feats'),
        outDir: join(root, 'fsdd-ali'),
        numLeaves: 150,
        logger: quietLogger,
      });
      const score = await scoreAlignmentFile(join(root, 'fsdd-ali', 'test.arrow'), data, 'test');
      show('fsdd (8 kHz)', r, score);
      expect(r.summary.numSenones).toBeLessThanOrEqual(150);
      expect(r.summary.splits.test.done).toBeGreaterThanOrEqual(90);
      expect(pct(score, 0.05)).toBeGreaterThan(50);
    }, 600_000);

    it('LibriVox: aligned with a model trained on FSDD (16 kHz) + synth, against PocketSphinx word times', async () => {
      const fsdd16 = join(root, 'fsdd16');
      await prepareCorpus('fsdd', FSDD, {
        outDir: fsdd16,
        numUtterancesPerSpeaker: 100,
        resampleToHz: 16000,
        logger: quietLogger,
      });
      await features(fsdd16, join(root, 'fsdd16-feats'));
      const mix = await alignCorpus({
        dataDir: synthData,
        featuresDir: synthFeats,
        outDir: join(root, 'mix-ali'),
        numLeaves: 300,
        splits: ['train'],
        extraTrain: [{ dataDir: fsdd16, featuresDir: join(root, 'fsdd16-feats') }],
        logger: quietLogger,
      });
      show('synth + fsdd16 model', mix);
      // A Kaldi data dir of the five LibriVox sentences, imported with the kaldi adapter.
      const kaldi = join(root, 'librivox-kaldi');
      mkdirSync(kaldi, { recursive: true });
      const ids = readFileSync(join(LIBRIVOX, 'fileids'), 'utf8').trim().split('\n');
      writeFileSync(join(kaldi, 'wav.scp'), ids.map((id) => `${id} ${join(LIBRIVOX, `${id}.wav`)}\n`).join(''));
      writeFileSync(
        join(kaldi, 'text'),
        ids
          .map(
            (id) =>
              `${id} ${readFileSync(join(LIBRIVOX, `${id}.txt`), 'utf8')
                .trim()
                .toUpperCase()}\n`,
          )
          .join(''),
      );
      writeFileSync(join(kaldi, 'utt2spk'), ids.map((id) => `${id} austen\n`).join(''));
      const lv = join(root, 'librivox');
      await prepareCorpus('kaldi', kaldi, { outDir: lv, splitName: 'test', logger: quietLogger });
      await features(lv, join(root, 'librivox-feats'));
      const reference = new Map<string, TimedSymbol[]>();
      for (const id of ids) {
        // PocketSphinx word JSON: {"w": [{"b": start s, "d": duration s, "t": "word(2)" | "<sil>"}]}
        const j = JSON.parse(readFileSync(join(LIBRIVOX, `${id}.json`), 'utf8')) as {
          w: { b: number; d: number; t: string }[];
        };
        reference.set(
          id,
          j.w
            .filter((w) => !w.t.startsWith('<'))
            .map((w) => ({ symbol: w.t.replace(/\(\d+\)$/, '').toUpperCase(), startSec: w.b, durationSec: w.d })),
        );
      }
      for (const retryBeam of [40, 400]) {
        const out = join(root, `librivox-ali-${retryBeam}`);
        const r = await alignCorpus({
          dataDir: lv,
          featuresDir: join(root, 'librivox-feats'),
          outDir: out,
          modelDir: join(root, 'mix-ali'),
          retryBeam,
          logger: quietLogger,
        });
        // PocketSphinx reports frame t at t x 10 ms: compare in that convention too.
        const score = await scoreAlignmentFile(join(out, 'test.arrow'), null, 'test', { reference });
        const ctm = await scoreAlignmentFile(join(out, 'test.arrow'), null, 'test', { reference, frameOffsetSec: 0 });
        show(`librivox (retry beam ${retryBeam})`, r, score);
        console.log(
          `  same, frame t at t x 10 ms: ${ctm.within.map((w) => `${(w.toleranceSec * 1000).toFixed(0)} ms ${w.percent.toFixed(1)}%`).join(', ')}; skipped: ${JSON.stringify(r.summary.splits.test.reasons.map((x) => `${x.count} x ${x.reason}`))}`,
        );
        expect(r.summary.splits.test.done + r.summary.splits.test.failed).toBe(5);
        expect(score.utterances).toBe(r.summary.splits.test.done);
      }
    }, 600_000);
  });
});
