import { describe, it, expect } from 'vitest';
import {
  ArrayFrameSource,
  Minibatches,
  SpeakerCmvn,
  scanSource,
  senonePriors,
  type Minibatch,
  type Utterance,
} from '../../src/nnet/data.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { expectRelClose, TINY } from './helpers.ts';

async function collect(it: AsyncIterable<Minibatch>): Promise<Minibatch[]> {
  const out: Minibatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** An utterance whose feature (t, d) is 100 t + d, so splicing can be read off the values. */
function rampUtt(uttId: string, numFrames: number, dim: number, speaker?: string): Utterance {
  const feats = new Float32Array(numFrames * dim);
  for (let t = 0; t < numFrames; t++) for (let d = 0; d < dim; d++) feats[t * dim + d] = 100 * t + d;
  return { uttId, speaker, numFrames, dim, feats, labels: Int32Array.from({ length: numFrames }, (_, t) => t % 3) };
}

describe('minibatches in corpus order', () => {
  it('splice each frame with its context and replicate the edge frames', async () => {
    const src = new ArrayFrameSource([rampUtt('a', 4, 2), rampUtt('b', 3, 2)]);
    const batches = await collect(
      new Minibatches(src, {
        shuffle: false,
        batchSize: 5,
        splice: { leftContext: 2, rightContext: 1 },
        numSenones: 3,
      }),
    );
    expect(batches.map((b) => b.size)).toEqual([5, 2]);
    const b0 = batches[0];
    expect(b0.inputDim).toBe(8);
    // Frame 0 of 'a': context -2,-1 replicate frame 0; +1 is frame 1.
    expect(Array.from(b0.x.subarray(0, 8))).toEqual([0, 1, 0, 1, 0, 1, 100, 101]);
    // Frame 3 (last) of 'a': frames 1, 2, 3 and 3 again.
    expect(Array.from(b0.x.subarray(3 * 8, 4 * 8))).toEqual([100, 101, 200, 201, 300, 301, 300, 301]);
    // Row 4 is frame 0 of 'b': no context leaks across utterances.
    expect(Array.from(b0.x.subarray(4 * 8, 5 * 8))).toEqual([0, 1, 0, 1, 0, 1, 100, 101]);
    expect(b0.uttIds).toEqual(['a', 'b']);
    expect(Array.from(b0.rowUtt)).toEqual([0, 0, 0, 0, 1]);
    expect(Array.from(b0.rowFrame)).toEqual([0, 1, 2, 3, 0]);
    expect(Array.from(b0.labels!)).toEqual([0, 1, 2, 0, 0]);
  });

  it('carry extra per-frame arrays (e.g. soft targets) with their frames', async () => {
    const u = rampUtt('a', 3, 1);
    u.extras = { ids: { dim: 2, data: Int32Array.from([1, 2, 3, 4, 5, 6]) } };
    const [b] = await collect(
      new Minibatches(new ArrayFrameSource([u]), { shuffle: false, splice: { leftContext: 0, rightContext: 0 } }),
    );
    expect(Array.from(b.extras.ids.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b.extras.ids.data).toBeInstanceOf(Int32Array);
  });
});

describe('shuffled minibatches from a bounded buffer', () => {
  const source = new SyntheticFrameSource({ ...TINY, numUtterances: 30 });

  it('visit every frame exactly once per pass, not in corpus order', async () => {
    const mb = new Minibatches(source, {
      batchSize: 50,
      shuffleBufferFrames: 300,
      seed: 1,
      splice: { leftContext: 1, rightContext: 1 },
      numSenones: 8,
    });
    const batches = await collect(mb);
    const seen: string[] = [];
    for (const b of batches) for (let i = 0; i < b.size; i++) seen.push(`${b.uttIds[b.rowUtt[i]]}/${b.rowFrame[i]}`);
    let total = 0;
    const expected: string[] = [];
    for await (const u of source.utterances()) {
      total += u.numFrames;
      for (let t = 0; t < u.numFrames; t++) expected.push(`${u.uttId}/${t}`);
    }
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
    expect([...seen].sort()).toEqual([...expected].sort());
    expect(seen.slice(0, 50)).not.toEqual(expected.slice(0, 50));
    // Labels travel with their frames.
    const u3 = source.utterance(3);
    for (const b of batches)
      for (let i = 0; i < b.size; i++)
        if (b.uttIds[b.rowUtt[i]] === u3.uttId) expect(b.labels![i]).toBe(u3.labels![b.rowFrame[i]]);
    expect(mb.stats.frames).toBe(total);
  });

  it('are the same for the same seed and differ for another', async () => {
    const rows = async (seed: number) =>
      (
        await collect(new Minibatches(source, { batchSize: 64, shuffleBufferFrames: 200, seed, numSenones: 8 }))
      ).flatMap((b) => Array.from(b.rowFrame));
    expect(await rows(7)).toEqual(await rows(7));
    expect(await rows(7)).not.toEqual(await rows(8));
  });

  it('hold no more than the buffer capacity plus one utterance, whatever the corpus size', async () => {
    const peak = async (numUtterances: number) => {
      const mb = new Minibatches(new SyntheticFrameSource({ ...TINY, numUtterances }), {
        batchSize: 32,
        shuffleBufferFrames: 400,
        seed: 3,
        numSenones: 8,
      });
      for await (const _ of mb) {
        /* drain */
      }
      return mb.stats.peakBufferedFrames;
    };
    const small = await peak(25),
      large = await peak(100);
    expect(small).toBeLessThanOrEqual(400 + TINY.maxFrames!);
    expect(large).toBeLessThanOrEqual(400 + TINY.maxFrames!);
    expect(large).toBeGreaterThanOrEqual(400);
  });

  it('rejects a bad batch size or buffer capacity', () => {
    expect(() => new Minibatches(source, { batchSize: 0 })).toThrow(ConfigError);
    expect(() => new Minibatches(source, { shuffleBufferFrames: 1.5 })).toThrow(ConfigError);
    expect(() => new Minibatches(source, { splice: { leftContext: -1, rightContext: 0 } })).toThrow(
      /splice.leftContext/,
    );
  });
});

describe('bad utterances', () => {
  it('count a length mismatch, empty or non-finite features as skips and go on', async () => {
    const good = rampUtt('good', 5, 2);
    const short = { ...rampUtt('short-ali', 5, 2), labels: new Int32Array(4) };
    const empty = { ...rampUtt('empty', 1, 2), numFrames: 0, feats: new Float32Array(0), labels: new Int32Array(0) };
    const nan = rampUtt('nan', 3, 2);
    nan.feats[3] = NaN;
    const unlabelled = { ...rampUtt('no-ali', 2, 2), labels: undefined };
    const mb = new Minibatches(new ArrayFrameSource([good, short, empty, nan, unlabelled]), {
      shuffle: false,
      numSenones: 3,
      splice: { leftContext: 0, rightContext: 0 },
    });
    const batches = await collect(mb);
    expect(batches.reduce((n, b) => n + b.size, 0)).toBe(5);
    expect(mb.skips.done).toBe(1);
    expect(mb.skips.skipped).toBe(4);
    const reasons = mb.skips
      .reasons()
      .map((r) => `${r.reason}: ${r.examples.join(',')}`)
      .sort();
    expect(reasons).toEqual([
      'alignment length differs from the number of feature frames: short-ali',
      'no alignment: no-ali',
      'no frames: empty',
      'non-finite feature value: nan',
    ]);
  });

  it('stop on a senone id outside the inventory, naming the utterance and frame', async () => {
    const u = rampUtt('u7', 4, 2);
    u.labels![2] = 9;
    const err = await collect(new Minibatches(new ArrayFrameSource([u]), { numSenones: 3 })).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(
      /utterance 'u7'.*senone id outside the inventory.*expected 0 <= id < 3, found 9 at frame 2/,
    );
  });

  it('stop on a feature dimension that differs from the source', async () => {
    const src = new ArrayFrameSource([rampUtt('a', 3, 2), rampUtt('b', 3, 4)]);
    const err = await collect(new Minibatches(src, {})).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/utterance 'b'.*expected 2, found 4/);
  });
});

describe('per-speaker CMVN and priors', () => {
  it('normalise every speaker to zero mean and unit variance', async () => {
    const source = new SyntheticFrameSource({ ...TINY, numUtterances: 12, numSpeakers: 3, speakerOffset: 10 });
    const scan = await scanSource(source, { numSenones: 8 });
    expect([...scan.cmvn.stats.keys()].sort()).toEqual(['syn-spk0', 'syn-spk1', 'syn-spk2']);
    const bySpk = new Map<string, number[][]>();
    for await (const u of source.utterances()) {
      const n = scan.cmvn.apply(u);
      const rows = bySpk.get(u.speaker!) ?? [];
      for (let t = 0; t < u.numFrames; t++) rows.push(Array.from(n.subarray(t * u.dim, (t + 1) * u.dim)));
      bySpk.set(u.speaker!, rows);
    }
    for (const rows of bySpk.values()) {
      const dim = rows[0].length;
      const mean = new Float64Array(dim),
        sq = new Float64Array(dim);
      for (const r of rows)
        r.forEach((v, d) => {
          mean[d] += v / rows.length;
          sq[d] += (v * v) / rows.length;
        });
      expectRelClose(mean, new Float64Array(dim), 1e-4, 'speaker mean', 1);
      expectRelClose(sq, new Float64Array(dim).fill(1), 1e-4, 'speaker second moment');
    }
    // Round trip through JSON gives the same transform.
    const u0 = source.utterance(0);
    expect(Array.from(SpeakerCmvn.fromJSON(JSON.parse(JSON.stringify(scan.cmvn.toJSON()))).apply(u0))).toEqual(
      Array.from(scan.cmvn.apply(u0)),
    );
  });

  it('count senone frames into floored priors that sum to one', async () => {
    const counts = Float64Array.from([3, 0, 7]);
    const p = senonePriors(counts, 1);
    expectRelClose(p, [4 / 13, 1 / 13, 8 / 13], 1e-12, 'priors');
    const scan = await scanSource(new ArrayFrameSource([rampUtt('a', 7, 2)]), { numSenones: 4 });
    expect(Array.from(scan.senoneCounts)).toEqual([3, 2, 2, 0]);
    expect(scan.numFrames).toBe(7);
  });

  it('fails clearly for a speaker without statistics', () => {
    const cmvn = new SpeakerCmvn(new Map());
    expect(() => cmvn.apply(rampUtt('x', 2, 2, 'spk9'))).toThrow(/utterance 'x'.*no CMVN statistics.*spk9/);
  });
});
