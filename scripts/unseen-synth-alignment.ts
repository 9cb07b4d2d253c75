/**
 * Label quality on synthetic voices and sentences that no stage of the demo saw (issue 30's check):
 * a test-only synth corpus with seed 99 and pitch and speaking rate outside the demo's ranges,
 * aligned with the models of finished align directories (`modelDir`), scored against the
 * synthesiser's word timings.
 *
 *   node bin/run-ts.js scripts/unseen-synth-alignment.ts [--work exp/unseen-synth] [--demo exp/demo] <alignDir>...
 *
 * The corpus and its features are made once under --work (12 test speakers x 20 sentences,
 * 16 kHz) and reused. Prints, per align directory, the test split's label quality (word
 * boundaries and starts within 20 / 50 ms, median offsets, failures) and alignment frames/s,
 * and how many of the sentences also occur in the demo's training split (--demo).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { prepareSynth } from '../corpora/synth/index.ts';
import { computeFeatures } from '../src/features/compute.ts';
import { alignCorpus } from '../src/align/corpus.ts';
import { readSplit } from '../src/corpus/manifest.ts';
import { createLogger } from '../src/util/log.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const root = opt('--work', 'exp/unseen-synth');
const demoDir = opt('--demo', 'exp/demo');
if (args.length === 0) {
  console.error(
    'usage: node bin/run-ts.js scripts/unseen-synth-alignment.ts [--work DIR] [--demo EXPDIR] <alignDir>...',
  );
  process.exit(2);
}
const quiet = createLogger({ stream: { write: () => true } });
const dataDir = join(root, 'data');
const featuresDir = join(root, 'features');
if (!existsSync(join(dataDir, 'corpus.json'))) {
  await prepareSynth(dataDir, {
    numSpeakers: 14,
    utterancesPerSpeaker: 20,
    splits: { train: 1, dev: 1, test: 12 },
    seed: 99,
    sampleRateHz: 16000,
    pitchMin: 15,
    pitchMax: 85,
    rateMinWpm: 120,
    rateMaxWpm: 215,
    logger: quiet,
  });
  await computeFeatures({ dataDir, split: 'test', outDir: featuresDir, logger: quiet });
}
const test = (await readSplit(dataDir, 'test')).supervisions;
const demoPrepare = join(demoDir, 'prepare');
const inDemo = existsSync(join(demoPrepare, 'corpus.json'))
  ? (() => {
      const p = readSplit(demoPrepare, 'train');
      return p.then((s) => {
        const texts = new Set(s.supervisions.map((x) => x.text));
        return `${test.filter((x) => texts.has(x.text)).length} sentences also in ${demoDir}'s train split`;
      });
    })()
  : Promise.resolve(`no ${demoPrepare} to compare sentences with`);
console.log(
  `unseen set: ${test.length} utterances, ${new Set(test.map((s) => s.speaker)).size} speakers; ${await inDemo}`,
);
for (const modelDir of args) {
  const t0 = Date.now();
  const r = await alignCorpus({
    dataDir,
    featuresDir,
    outDir: join(root, 'ali-' + modelDir.replace(/\W+/g, '_')),
    modelDir,
    splits: ['test'],
    logger: quiet,
  });
  const s = r.summary.splits.test;
  console.log(
    modelDir,
    s.message,
    JSON.stringify(s.labelQuality),
    `${((Date.now() - t0) / 1000).toFixed(1)} s`,
    `${r.timing.framesPerSec.toFixed(0)} frames/s`,
  );
}
