import { readAlignmentFile } from '../../src/align/store.ts';
/**
 * `am-distill validate` on the three Arrow stores: feature, alignment and soft-target files are
 * told apart by their schema metadata, read in full and summarised; damaged ones fail with a
 * FormatError naming the file.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectArtefact, validateFile } from '../../src/pipeline/validate.ts';
import { ALIGN_META, readAlignmentMetadata } from '../../src/align/store.ts';
import {
  SOFT_META,
  SoftTargetFileWriter,
  readSoftTargetMetadata,
  type SoftTargetWriterOptions,
} from '../../src/distill/store.ts';
import { softmaxRows } from '../../src/util/softmax.ts';
import { topKRows, type TopKRows } from '../../src/distill/topk.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import type { Utterance } from '../../src/nnet/data.ts';
import { randomLogits, rewriteArrow, tempDir, writeArrowCorpus } from '../distill/helpers.ts';

const S = 50;
const K = 6;
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/am-distill.js');

let dir: string;
let features: string;
let alignments: string;
let utts: Utterance[];
let tops: { uttId: string; top: TopKRows }[];

/** Utterances with features and senone labels; the top id S - 1 occurs once, at frame 0 of u1. */
function makeUtterances(rng: Rng): Utterance[] {
  return [7, 12, 5].map((n, i) => ({
    uttId: `u${i}`,
    numFrames: n,
    dim: 4,
    feats: Float32Array.from({ length: n * 4 }, () => rng.gauss()),
    labels: Int32Array.from({ length: n }, (_, t) => (i === 1 && t === 0 ? S - 1 : rng.int(S - 1))),
  }));
}

const targetOptions = (extra: Partial<SoftTargetWriterOptions> = {}): SoftTargetWriterOptions => ({
  configHash: 'targets-hash',
  teachers: [
    { id: 'exp/t0', hash: 'h0' },
    { id: 'exp/t1', hash: 'h1' },
  ],
  temperature: 2,
  k: K,
  combination: 'arithmetic',
  numSenones: S,
  senoneInventoryId: 'tree-1',
  residual: 'renormalise',
  probType: 'float16',
  alignmentConfigHash: 'align-hash-1',
  featureConfigHash: 'feature-hash-1',
  split: 'train',
  ...extra,
});

async function writeTargets(name: string, extra: Partial<SoftTargetWriterOptions> = {}): Promise<string> {
  const path = join(dir, name);
  const w = await SoftTargetFileWriter.open(path, targetOptions(extra));
  for (const u of tops) w.add(u.uttId, u.top);
  await w.finish(1);
  return path;
}

/** The typed error `validateFile(path)` rejects with. */
async function failure(path: string): Promise<FormatError> {
  const err = await validateFile(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `${path} should be rejected`).toBeInstanceOf(FormatError);
  expect((err as FormatError).location.file).toBe(path);
  expect((err as FormatError).message).toContain(path);
  return err as FormatError;
}

beforeAll(async () => {
  dir = tempDir('amd-validate-arrow-');
  const rng = new Rng(11);
  utts = makeUtterances(rng);
  ({ features, alignments } = await writeArrowCorpus(dir, utts, { numSenones: S }));
  tops = utts.map((u) => ({
    uttId: u.uttId,
    top: topKRows(softmaxRows(randomLogits(rng, u.numFrames, S, 2.5), u.numFrames, S), u.numFrames, S, K),
  }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const totalFrames = () => utts.reduce((a, u) => a + u.numFrames, 0);

describe('validate: Arrow files by their schema metadata', () => {
  it('summarises an alignment file: utterances, frames, senones, inventory id, split', async () => {
    expect(await detectArtefact(alignments)).toBe('alignments');
    const s = await validateFile(alignments);
    expect(s.kind).toBe('alignments');
    const used = new Set(utts.flatMap((u) => Array.from(u.labels!))).size;
    const meta = await readAlignmentMetadata(alignments);
    expect(s.lines[0]).toBe('alignments (am-distill.alignments v1, stage align, split train)');
    expect(s.lines[1]).toBe(
      `  3 utterances, ${totalFrames()} frames (${((totalFrames() * 10) / 3_600_000).toFixed(3)} h), 0 failed`,
    );
    // No tree.json / senones.json next to the file: the inventory id falls back to the alignment config hash.
    expect(s.lines[2]).toBe(`  ${S} senones (${used} used), inventory align-config:${meta.configHash}, 1 phones`);
  });

  it('still summarises a feature file as a feature file', async () => {
    expect(await detectArtefact(features)).toBe('features');
    const s = await validateFile(features);
    expect(s.kind).toBe('features');
    expect(s.lines[1]).toContain(`3 utterances, ${totalFrames()} frames`);
  });

  it('summarises soft-target files: frames, k, T, teachers, mean kept mass, bytes per frame', async () => {
    for (const [probType, residual] of [
      ['float16', 'renormalise'],
      ['float32', 'store'],
    ] as const) {
      const path = await writeTargets(`targets-${probType}-${residual}.arrow`, { probType, residual });
      expect(await detectArtefact(path)).toBe('soft-targets');
      const s = await validateFile(path);
      expect(s.kind).toBe('soft-targets');
      const meta = await readSoftTargetMetadata(path);
      const n = totalFrames();
      expect(s.lines).toEqual([
        'soft targets (am-distill.soft-targets v1, stage targets, split train)',
        `  3 utterances, ${n} frames, 1 skipped`,
        `  top k ${K} of ${S} senones (inventory tree-1), T 2, arithmetic of 2 teacher(s): exp/t0, exp/t1`,
        `  mean kept mass ${meta.meanKeptMass.toFixed(4)}, residual ${residual}, uint16 ids, ${probType} probabilities, ${(statSync(path).size / n).toFixed(1)} bytes per frame`,
        '  config hash targets-hash, alignment config hash align-hash-1, feature config hash feature-hash-1',
      ]);
      expect(meta.meanKeptMass).toBeGreaterThan(0);
      expect(meta.meanKeptMass).toBeLessThan(1);
    }
  });

  it('prints the kind through the CLI and exits 2 for a damaged file', () => {
    const ok = spawnSync(process.execPath, [bin, 'validate', alignments], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`ok: ${alignments} is a valid alignment file`);
    const help = spawnSync(process.execPath, [bin, 'validate', '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/alignment/);
    expect(help.stdout).toMatch(/soft-target/);
    const bad = rewriteArrow(alignments, join(dir, 'cli-bad.arrow'), {
      metadata: (m) => m.set(ALIGN_META.numSenones, String(S - 1)),
    });
    const r = spawnSync(process.execPath, [bin, 'validate', bad], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`error [E_FORMAT]: ${bad}, utterance 'u1': senone id outside the inventory`);
  });
});

describe('validate: damaged alignment and soft-target files', () => {
  it('rejects an alignment file with a senone id at or above the metadata senone count, naming utterance and frame', async () => {
    // The writer refuses such ids, so the count is lowered in the metadata afterwards.
    const bad = rewriteArrow(alignments, join(dir, 'ali-senones.arrow'), {
      metadata: (m) => m.set(ALIGN_META.numSenones, String(S - 1)),
    });
    expect(await detectArtefact(bad)).toBe('alignments');
    const err = await failure(bad);
    expect(err.message).toContain('senone id outside the inventory');
    expect(err.location.uttId).toBe('u1');
    expect(err.expected).toBe(`0 <= senone < ${S - 1} (num_senones in the metadata)`);
    expect(err.found).toBe(`${S - 1} at frame 0`);
  });

  it('rejects an alignment file whose counts disagree with its metadata', async () => {
    const bad = rewriteArrow(alignments, join(dir, 'ali-counts.arrow'), {
      metadata: (m) =>
        m.set(ALIGN_META.counts, JSON.stringify({ utterances: 3, frames: totalFrames() + 1, failed: 0 })),
    });
    const err = await failure(bad);
    expect(err.message).toContain('alignment file contents disagree with its metadata');
    expect(err.found).toBe(`3 utterances, ${totalFrames()} frames`);
  });

  it('rejects a truncated alignment file', async () => {
    const tail = join(dir, 'ali-truncated.arrow');
    writeFileSync(tail, readFileSync(alignments));
    truncateSync(tail, Math.floor(statSync(tail).size / 2));
    const err = await failure(tail);
    expect(err.code).toBe('E_FORMAT');
    expect(err.message).toContain(
      `${tail}: truncated or damaged Arrow IPC file: no footer; expected the file to end with its footer and magic "ARROW1", found ${statSync(tail).size} bytes ending in 0x`,
    );
    expect(err.message).not.toMatch(/Cannot read properties|fieldsLength/);
    // The readers the trainer uses say the same.
    const read = async () => {
      for await (const _u of readAlignmentFile(tail)) {
        /* drain */
      }
    };
    await expect(read()).rejects.toThrow('truncated or damaged Arrow IPC file: no footer');
  });

  it('rejects, without hanging, an alignment file with bytes cut from the middle (footer intact)', async () => {
    // The footer's offsets now point past the messages; arrow-js can loop forever on such a file.
    const bytes = readFileSync(alignments);
    for (const [a, b] of [
      [200, 208],
      [400, 464],
    ]) {
      const cut = join(dir, `ali-cut-${a}-${b}.arrow`);
      writeFileSync(cut, Buffer.concat([bytes.subarray(0, a), bytes.subarray(b)]));
      const err = await failure(cut);
      expect(err.message).toContain('damaged Arrow file: a message is not where the footer puts it');
      expect(err.expected).toMatch(/^(dictionary|record) batch \d+ of \d+ at byte \d+ with \d+ bytes of metadata$/);
      // The store's own reader (training, eval, decode read through it) refuses it too, instead of looping.
      const read = async () => {
        for await (const _u of readAlignmentFile(cut)) {
          /* drain */
        }
      };
      await expect(read()).rejects.toThrow(/damaged Arrow file: a message is not where the footer puts it/);
    }
  }, 20_000);

  it('rejects a soft-target file with an id at or above the metadata senone count', async () => {
    const path = await writeTargets('targets-ok.arrow');
    const maxId = Math.max(...tops.flatMap((u) => Array.from(u.top.ids)));
    const first = tops.find((u) => u.top.ids.includes(maxId))!;
    const frame = Math.floor(first.top.ids.indexOf(maxId) / K);
    // As above: the writer checks ids against numSenones, so the metadata is lowered afterwards.
    const bad = rewriteArrow(path, join(dir, 'targets-senones.arrow'), {
      metadata: (m) => m.set(SOFT_META.numSenones, String(maxId)),
    });
    expect(await detectArtefact(bad)).toBe('soft-targets');
    const err = await failure(bad);
    expect(err.message).toContain('senone id outside the inventory');
    expect(err.location.uttId).toBe(first.uttId);
    expect(err.found).toBe(`${maxId} at frame ${frame}`);
  });

  it("rejects a 'renormalise' soft-target file whose stored probabilities do not sum to 1 (the reader would renormalise them)", async () => {
    const path = await writeTargets('targets-f32.arrow', { probType: 'float32' });
    const bad = rewriteArrow(path, join(dir, 'targets-halved.arrow'), {
      mutate: (t) => {
        const probs = t.batches[1].getChild('probs')!.data[0].children[0];
        (probs.values as Float32Array).subarray(probs.offset, probs.offset + K).forEach((p, j, row) => {
          row[j] = p / 2;
        });
      },
    });
    const err = await failure(bad);
    expect(err.message).toContain('stored probabilities of a frame do not sum to 1');
    expect(err.location.uttId).toBe('u1');
    const [sum, at] = err.found!.split(' at frame ');
    expect(Number(sum)).toBeCloseTo(0.5, 5);
    expect(at).toBe('0');
  });

  it('rejects a soft-target file whose counts disagree with its metadata', async () => {
    const path = await writeTargets('targets-ok2.arrow');
    const bad = rewriteArrow(path, join(dir, 'targets-counts.arrow'), {
      metadata: (m) => m.set(SOFT_META.counts, JSON.stringify({ utterances: 4, frames: totalFrames(), skipped: 0 })),
    });
    const err = await failure(bad);
    expect(err.message).toContain('soft-target file contents disagree with its metadata');
    expect(err.expected).toBe(`4 utterances, ${totalFrames()} frames`);
  });

  it('refuses an Arrow file of another format instead of reading it as a feature file', async () => {
    const other = rewriteArrow(features, join(dir, 'other.arrow'), {
      metadata: (m) => m.set('am_distill.format', 'am-distill.something-else'),
    });
    await expect(detectArtefact(other)).rejects.toThrow(FormatError);
    const err = await failure(other);
    expect(err.message).toContain('not an am-distill Arrow file');
    expect(err.found).toBe('"am-distill.something-else"');
  });
});

describe('validate: values the stores check while reading', () => {
  /** Set `value` at `row` of `column` (a flat values buffer) in record batch `batch`. */
  const poke = (column: string, batch: number, index: number, value: number) => (t: import('apache-arrow').Table) => {
    const d = t.batches[batch].getChild(column)!.data[0];
    const flat = d.children.length ? d.children[0] : d;
    (flat.values as Float32Array | Int32Array)[flat.offset + index] = value;
  };

  it('a non-finite feature value, naming utterance and frame', async () => {
    const bad = rewriteArrow(features, join(dir, 'feats-nan.arrow'), { mutate: poke('fbank', 1, 2 * 4 + 1, NaN) });
    const err = await failure(bad);
    expect(err.message).toContain('non-finite feature value');
    expect(err.location.uttId).toBe('u1');
    expect(err.found).toBe('NaN at frame 2');
  });

  it('a phone id outside the phone list and a word index below -1', async () => {
    let bad = rewriteArrow(alignments, join(dir, 'ali-phones.arrow'), {
      metadata: (m) => m.set(ALIGN_META.phones, '["<eps>"]'),
    });
    let err = await failure(bad);
    expect(err.message).toContain('phone id outside the phone list');
    expect(err.location.uttId).toBe('u0');
    expect(err.found).toBe('1 at frame 0');
    bad = rewriteArrow(alignments, join(dir, 'ali-word.arrow'), { mutate: poke('word', 2, 3, -2) });
    err = await failure(bad);
    expect(err.message).toContain('bad word index');
    expect(err.location.uttId).toBe('u2');
    expect(err.found).toBe('-2 at frame 3');
  });

  it("a soft-target probability that is not a number: the store's reader refuses it", async () => {
    const path = await writeTargets('targets-f32-store.arrow', { probType: 'float32', residual: 'store' });
    const bad = rewriteArrow(path, join(dir, 'targets-nan.arrow'), { mutate: poke('probs', 2, K + 1, NaN) });
    const err = await failure(bad);
    expect(err.message).toContain('probability outside [0, 1]');
    expect(err.location.uttId).toBe('u2');
    expect(err.found).toBe('NaN at frame 1');
  });
});

describe('validate: schema metadata, read by one helper for the three stores', () => {
  it('a missing key, malformed JSON and out-of-range values name the file and the key', async () => {
    const targets = await writeTargets('targets-meta.arrow');
    const cases: [string, string, (m: Map<string, string>) => void, string, string | undefined][] = [
      [
        alignments,
        'meta-stage.arrow',
        (m) => m.delete(ALIGN_META.stage),
        'not an am-distill alignment file: schema metadata key missing',
        undefined,
      ],
      [
        alignments,
        'meta-phones.arrow',
        (m) => m.set(ALIGN_META.phones, '[oops'),
        'malformed JSON in schema metadata',
        ALIGN_META.phones,
      ],
      [
        alignments,
        'meta-senones.arrow',
        (m) => m.set(ALIGN_META.numSenones, '0'),
        'bad senone count in schema metadata',
        ALIGN_META.numSenones,
      ],
      [targets, 'meta-k.arrow', (m) => m.set(SOFT_META.k, '2.5'), 'bad value in schema metadata', SOFT_META.k],
      [
        targets,
        'meta-residual.arrow',
        (m) => m.set(SOFT_META.residual, 'keep'),
        'bad value in schema metadata',
        SOFT_META.residual,
      ],
      [
        targets,
        'meta-temperature.arrow',
        (m) => m.set(SOFT_META.temperature, '-1'),
        'bad temperature in schema metadata',
        SOFT_META.temperature,
      ],
      [
        features,
        'meta-version.arrow',
        (m) => m.set('am_distill.format_version', '7'),
        'unsupported feature file format version',
        undefined,
      ],
    ];
    for (const [src, name, edit, message, key] of cases) {
      const err = await failure(rewriteArrow(src, join(dir, name), { metadata: edit }));
      expect(err.message, name).toContain(message);
      expect(err.location.keyPath, name).toBe(key);
    }
  });
});
