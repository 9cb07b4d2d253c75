/**
 * exportKaldi on small experiment directories built in code (no pipeline run): what is exported
 * when parts are missing, and the located errors when the parts disagree. The export of a real
 * finished run is tested in finished-experiment.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeCorpus } from '../../src/corpus/manifest.ts';
import type { CorpusInfo, Recording, Supervision } from '../../src/corpus/types.ts';
import { FeatureFileWriter } from '../../src/features/store.ts';
import { SpeakerCmvn, writeCmvnFile } from '../../src/features/cmvn-file.ts';
import { AlignmentFileWriter } from '../../src/align/store.ts';
import { exportKaldi } from '../../src/pipeline/export-kaldi.ts';
import { readScpObjects } from '../../src/formats/kaldi-io.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { captureLogger, tempDir } from '../helpers.ts';
import { featureConfig } from '../stages/nets/helpers.ts';

const DIM = 4;
const UTTS = [
  ['s1-a', 's1', 5],
  ['s1-b', 's1', 3],
  ['s2-a', 's2', 4],
] as const;

interface FakeExpOptions {
  /** Frames of the alignment of s2-a (default: as its features). */
  alignFrames?: number;
  /** Leave speaker s2 out of the CMVN statistics. */
  dropCmvnSpeaker?: boolean;
  withAlign?: boolean;
}

/** prepare/ (manifests), features/train.arrow + .cmvn.json, align/train.arrow + senones.json. */
async function fakeExperiment(o: FakeExpOptions = {}): Promise<string> {
  const exp = tempDir('amd-export-');
  const rng = new Rng('export-kaldi');
  const recordings: Recording[] = UTTS.map(([id, speaker, n]) => ({
    id,
    speaker,
    path: join(exp, 'wav', `${id}.wav`),
    format: 'wav',
    channel: 0,
    sampleRateHz: 16000,
    numSamples: 160 * n + 240,
    durationSec: (160 * n + 240) / 16000,
  }));
  const supervisions: Supervision[] = recordings.map((r) => ({
    id: r.id,
    recordingId: r.id,
    speaker: r.speaker,
    startSec: 0,
    durationSec: r.durationSec,
    text: 'A B',
  }));
  const info: CorpusInfo = {
    corpus: 'fake',
    splits: ['train'],
    sampleRateHz: 16000,
    counts: { train: { recordings: 3, supervisions: 3, durationSec: 0.2, speakers: 2 } },
    skipped: { done: 3, skipped: 0, reasons: [] },
    options: {},
  };
  await writeCorpus(join(exp, 'prepare'), info, { train: { recordings, supervisions } });
  const fw = await FeatureFileWriter.open(join(exp, 'features', 'train.arrow'), {
    configHash: 'f',
    featureConfig: featureConfig(DIM),
    split: 'train',
  });
  const cmvn = new SpeakerCmvn(DIM);
  for (const [id, spk, n] of UTTS) {
    const m = { numFrames: n, dim: DIM, data: Float32Array.from({ length: n * DIM }, () => rng.gauss()) };
    fw.add(id, m);
    if (!(o.dropCmvnSpeaker && spk === 's2')) cmvn.of(spk).accumulate(m);
  }
  await fw.finish();
  await writeCmvnFile(join(exp, 'features', 'train.cmvn.json'), {
    configHash: 'f',
    split: 'train',
    shard: null,
    utt2spk: new Map(UTTS.map(([id, spk]) => [id, spk])),
    streams: new Map([['fbank', cmvn]]),
  });
  if (o.withAlign !== false) {
    mkdirSync(join(exp, 'align'));
    const phones = ['<eps>', 'SIL', 'A'];
    writeFileSync(
      join(exp, 'align', 'senones.json'),
      JSON.stringify({
        format: 'am-distill.senones',
        version: 1,
        numSenones: 2,
        phones,
        senones: [
          { id: 0, phone: 'SIL', hmmState: 0 },
          { id: 1, phone: 'A', hmmState: 1 },
        ],
      }),
    );
    const aw = await AlignmentFileWriter.open(join(exp, 'align', 'train.arrow'), {
      configHash: 'a',
      featureConfigHash: 'f',
      numSenones: 2,
      frameShiftMs: 10,
      phones,
      split: 'train',
    });
    for (const [id, , n0] of UTTS) {
      const n = id === 's2-a' && o.alignFrames !== undefined ? o.alignFrames : n0;
      aw.add({
        uttId: id,
        senone: Int32Array.from({ length: n }, (_, t) => t % 2),
        phone: Int32Array.from({ length: n }, (_, t) => 1 + (t % 2)),
        hmmState: new Int32Array(n),
        word: new Int32Array(n).fill(-1),
      });
    }
    await aw.finish();
  }
  return exp;
}

describe('exportKaldi on experiments built in code', () => {
  it('fbank only (no MFCC column), no targets: data/train with feats.scp and cmvn.scp, alignments, no post/', async () => {
    const exp = await fakeExperiment();
    const out = join(exp, 'kaldi');
    const s = await exportKaldi({ expDir: exp, outDir: out, logger: captureLogger() });
    expect(readdirSync(out).sort()).toEqual(['ali', 'data', 'export.json', 'fbank']);
    expect(readdirSync(join(out, 'data'))).toEqual(['train']);
    expect(s.targets).toBeNull();
    expect(s.splits.train).toEqual({
      utterances: 3,
      frames: 12,
      leftOut: 0,
      fbank: { dim: DIM, cmvnSpeakers: 2 },
      mfcc: null,
      alignments: { utterances: 3 },
      posteriors: {},
    });
    const cmvn = await readScpObjects(join(out, 'data', 'train', 'cmvn.scp'), 'matrix');
    expect(cmvn.map((e) => [e.key, e.value.data[DIM]])).toEqual([
      ['s1', 8],
      ['s2', 4],
    ]);
  });

  it('without an align stage: features and data dirs only', async () => {
    const exp = await fakeExperiment({ withAlign: false });
    const s = await exportKaldi({ expDir: exp, outDir: join(exp, 'kaldi'), logger: captureLogger() });
    expect(s.numPdfs).toBeNull();
    expect(s.splits.train.alignments).toBeNull();
    expect(existsSync(join(exp, 'kaldi', 'ali'))).toBe(false);
  });

  it('an alignment whose frame count differs from the features: a located error, nothing written', async () => {
    const exp = await fakeExperiment({ alignFrames: 3 });
    const err = await exportKaldi({ expDir: exp, outDir: join(exp, 'kaldi'), logger: captureLogger() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(String(err)).toContain(
      `${join(exp, 'align', 'train.arrow')}, utterance 's2-a': frame count differs from the features; expected 4 frames (features of split 'train'), found 3 frames`,
    );
    expect(readdirSync(exp).sort()).toEqual(['align', 'features', 'prepare']);
  });

  it('a speaker without CMVN statistics: a located error naming the key', async () => {
    const exp = await fakeExperiment({ dropCmvnSpeaker: true });
    const err = await exportKaldi({ expDir: exp, outDir: join(exp, 'kaldi'), logger: captureLogger() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(String(err)).toContain("key 'streams.fbank.speakers.s2': speaker without CMVN statistics");
    expect(existsSync(join(exp, 'kaldi'))).toBe(false);
  });
});
