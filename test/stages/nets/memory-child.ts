/**
 * Child process of memory.e2e.test.ts: writes a generated corpus of N training utterances in the
 * pipeline layout, trains the baseline and one member on it (one epoch, one worker thread, a
 * 20000-frame shuffle buffer) and prints peak RSS of the whole process as JSON.
 *   node bin/run-ts.js test/stages/nets/memory-child.ts <dir> <trainUtterances>
 */
import { join } from 'node:path';
import { trainAcousticModels } from '../../../src/stages/train.ts';
import { setLogLevel } from '../../../src/util/log.ts';
import { writeTinyCorpus } from './helpers.ts';

const [dir, n] = [process.argv[2], Number(process.argv[3])];
setLogLevel('warn');
const dirs = await writeTinyCorpus(join(dir, 'corpus'), {
  featureDim: 40,
  numSenones: 50,
  splits: { train: n, dev: 20 },
  minFrames: 100,
  maxFrames: 300,
});
const before = process.resourceUsage().maxRSS;
const r = await trainAcousticModels({
  ...dirs,
  outDir: join(dir, 'train'),
  members: 1,
  hiddenLayers: 2,
  hiddenUnits: 128,
  maxEpochs: 1,
  shuffleBufferFrames: 20_000,
  maxWorkers: 1,
  backend: 'wasm',
});
process.stdout.write(
  JSON.stringify({
    trainUtterances: n,
    trainFrames: r.file.models[0].trainFrames,
    maxRssBytesBeforeTraining: before * 1024,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    peakBufferedFrames: Math.max(...r.timing.models.map((m) => m.peakBufferedFrames)),
    framesPerSecond: r.timing.models.map((m) => Math.round(m.framesPerSecond)),
  }) + '\n',
);
