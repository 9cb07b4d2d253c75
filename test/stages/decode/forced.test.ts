/**
 * End to end through the decode stage's code (model directory -> posteriors -> hybrid scores ->
 * decoder -> trn/ctm): an LM that only allows the transcript reproduces the forced alignment of
 * src/hmm on the same scores (word sequence, word boundaries, path score).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src/nnet/backend.ts';
import { decodeCorpus } from '../../../src/stages/decode.ts';
import { ModelBank } from '../../../src/decode/systems.ts';
import { compileGraph } from '../../../src/hmm/graph.ts';
import { transitionWeights, viterbi } from '../../../src/hmm/align.ts';
import { readTrn } from '../../../src/score/trn.ts';
import { writeTinyExperiment, forcedArpa, PHONES, VOCAB, FEATURE_DIM, quiet } from './fixtures.ts';
import { expectClose } from '../../decode/helpers.ts';

let root: string;
let x: Awaited<ReturnType<typeof writeTinyExperiment>>;

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  root = mkdtempSync(join(tmpdir(), 'amd-forced-'));
  x = await writeTinyExperiment(join(root, 'exp'), { sigma: 2.5, seed: 'forced' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('decode stage with a forced LM', () => {
  it('reproduces the forced alignment of src/hmm: same words, word boundaries and path score', async () => {
    const student = join(x.dirs.distill, 'student', 'final');
    const bank = await ModelBank.open([{ name: 'student', models: [student] }]);
    const hmm = x.world.hmm;
    const tw = transitionWeights(hmm.tm, {});
    let checked = 0;
    try {
      for (const u of x.splits.dev.filter((v) => v.words.length >= 2).slice(0, 3)) {
        const lm = join(root, `${u.uttId}.arpa`);
        writeFileSync(lm, forcedArpa(VOCAB, u.words));
        const out = join(root, u.uttId);
        await decodeCorpus({
          systems: [{ name: 'student', models: [student] }],
          langDir: join(x.dirs.align, 'lang'),
          hmmModel: join(x.dirs.align, 'model.json'),
          lm,
          splits: [
            {
              name: 'dev',
              features: [join(x.dirs.features, 'dev.arrow')],
              refs: [{ uttId: u.uttId, words: u.words, line: 1 }],
            },
          ],
          outDir: out,
          backend: 'cpu',
          search: { beam: 1e6, maxActive: 1e6, lmWeight: 1 },
          logger: quiet,
        });
        // The reference: src/hmm's forced alignment of the transcript on the same hybrid scores.
        const scores = bank.systems[0].scores(
          { uttId: u.uttId, numFrames: u.numFrames, dim: FEATURE_DIM, feats: u.feats },
          0.1,
        );
        const graph = compileGraph(u.uttId, u.words, { phones: PHONES, lexicon: x.world.lex }, hmm.ctx, hmm.tm, {
          optionalSilenceProb: 0.5,
        });
        if ('ok' in graph) throw new Error(graph.message);
        const ref = viterbi(
          graph,
          u.numFrames,
          (t, lp) => scores.data[t * scores.numPdfs + graph.localPdfs[lp]],
          tw,
          1e9,
          1,
        );
        expect(ref).not.toBeNull();

        const hyp = readTrn(join(out, 'student', 'dev.trn'));
        expect(hyp).toEqual([{ uttId: u.uttId, words: u.words, line: 1 }]);
        const ctm = readFileSync(join(out, 'student', 'dev.ctm'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => l.split(' '));
        u.words.forEach((w, wi) => {
          const frames = [...ref!.states].map((s, t) => (graph.word[s] === wi ? t : -1)).filter((t) => t >= 0);
          const [, , start, dur, word] = ctm[wi];
          expect(word).toBe(w);
          expect([Math.round(Number(start) / 0.01), Math.round((Number(start) + Number(dur)) / 0.01) - 1]).toEqual([
            frames[0],
            frames[frames.length - 1],
          ]);
        });
        const stats = JSON.parse(readFileSync(join(out, 'student', 'dev.utts.jsonl'), 'utf8'));
        expectClose(stats.score, ref!.score, 1e-3, `${u.uttId} path score`);
        checked++;
      }
    } finally {
      bank.dispose();
    }
    expect(checked).toBe(3);
  });
});
