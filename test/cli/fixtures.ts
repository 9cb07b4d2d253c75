/**
 * A tiny Kaldi-format corpus generated in code (seeded): data/{train,test}/{wav.scp,text,utt2spk}
 * with short 16 kHz WAVs of tones in noise. Needs nothing from ../shared.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeWav } from '../../src/audio/index.ts';
import { Rng } from '../../src/util/rng.ts';

const WORDS = ['ONE', 'TWO', 'THREE', 'FOUR', 'FIVE'];

export async function makeKaldiCorpus(root: string, seed = 1, utterancesPerSplit = 3): Promise<string> {
  const rng = new Rng(seed);
  const sampleRateHz = 16000;
  const dataDir = join(root, 'data');
  for (const [split, speakers] of [
    ['train', ['spk1', 'spk2']],
    ['test', ['spk3']],
  ] as const) {
    const dir = join(dataDir, split);
    mkdirSync(dir, { recursive: true });
    const wavScp: string[] = [];
    const text: string[] = [];
    const utt2spk: string[] = [];
    for (let i = 0; i < utterancesPerSplit; i++) {
      const spk = speakers[i % speakers.length];
      const utt = `${spk}-${split}-${i}`;
      const n = Math.round(sampleRateHz * rng.uniform(0.4, 0.8));
      const f0 = rng.uniform(100, 300);
      const samples = new Float32Array(n);
      for (let t = 0; t < n; t++)
        samples[t] = 0.3 * Math.sin((2 * Math.PI * f0 * t) / sampleRateHz) + 0.01 * rng.gauss();
      const wav = join(root, 'wav', `${utt}.wav`);
      mkdirSync(join(root, 'wav'), { recursive: true });
      await writeWav(wav, samples, sampleRateHz);
      wavScp.push(`${utt} ${wav}`);
      text.push(`${utt} ${rng.pick(WORDS)} ${rng.pick(WORDS)}`);
      utt2spk.push(`${utt} ${spk}`);
    }
    writeFileSync(join(dir, 'wav.scp'), wavScp.sort().join('\n') + '\n');
    writeFileSync(join(dir, 'text'), text.sort().join('\n') + '\n');
    writeFileSync(join(dir, 'utt2spk'), utt2spk.sort().join('\n') + '\n');
  }
  return dataDir;
}

export function tinyRecipe(name = 'tiny'): string {
  return `name: ${name}
seed: 3
corpus:
  name: kaldi
  dir: data
stages:
  prepare:
    disjointSpeakers: true
  features:
    fbank:
      numMelBins: 23
`;
}
