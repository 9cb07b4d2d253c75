import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  countSource,
  FilteredFrameSource,
  findSplitFiles,
  inSubset,
  inventoryOf,
  passesFilter,
  validateSubset,
} from '../../src/nnet/split-data.ts';
import { ArrayFrameSource, scanSource, type Utterance } from '../../src/nnet/data.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { main } from '../../src/cli/main.ts';
import { captureLogger, tempDir, writeTinyCorpus } from '../stages/nets/helpers.ts';

function utts(n: number): Utterance[] {
  const rng = new Rng(7);
  return Array.from({ length: n }, (_, i) => ({
    uttId: `u${i}`,
    numFrames: 3,
    dim: 2,
    feats: Float32Array.from({ length: 6 }, () => rng.gauss()),
    labels: new Int32Array(3),
  }));
}

describe('training data counts (models.json trainFrames / trainUtterances)', () => {
  it('count only the utterances the trainer uses: not those it skips (non-finite features, no frames, no alignment)', async () => {
    const list = utts(5);
    list[1] = { ...list[1], feats: Float32Array.from(list[1].feats, (x, i) => (i === 2 ? Number.NaN : x)) };
    list[2] = { ...list[2], numFrames: 0, feats: new Float32Array(0), labels: new Int32Array(0) };
    list[3] = { ...list[3], labels: undefined };
    const src = new ArrayFrameSource(list);
    const scan = await scanSource(src, { numSenones: 1 });
    expect(scan.skips.skipped).toBe(3);
    expect(await countSource(src)).toEqual({ utterances: scan.numUtterances, frames: scan.numFrames });
    expect(await countSource(src)).toEqual({ utterances: 2, frames: 6 });
  });
});

describe('small-fraction subsets (Table 5)', () => {
  it('keeps about the requested share of utterances, chosen by id only (any visiting order gives the same set)', async () => {
    const all = utts(2000);
    const s = { fraction: 0.03, seed: 1 };
    const kept = all.filter((u) => inSubset(u.uttId, s)).map((u) => u.uttId);
    expect(kept.length).toBeGreaterThan(0.02 * 2000);
    expect(kept.length).toBeLessThan(0.04 * 2000);
    const src = new FilteredFrameSource(new ArrayFrameSource(all), { subset: s, vtlpCopies: true });
    const seen: string[] = [];
    for await (const u of src.utterances({ orderSeed: 5 })) seen.push(u.uttId);
    expect(seen.slice().sort()).toEqual(kept.slice().sort());
    expect(seen).not.toEqual(kept); // shuffled order, same set
    expect(src.skips.done).toBe(kept.length);
    // Another seed draws another subset; fraction 1 keeps everything.
    expect(all.filter((u) => inSubset(u.uttId, { fraction: 0.03, seed: 2 })).map((u) => u.uttId)).not.toEqual(kept);
    expect(all.every((u) => inSubset(u.uttId, { fraction: 1, seed: 9 }))).toBe(true);
  });

  it('draws a VTLP copy by its source: the copies of the kept utterances, and no other, are kept', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `spk${i % 3}-u${i}`);
    const s = { fraction: 0.03, seed: 1 };
    const kept = new Set(ids.filter((u) => inSubset(u, s)));
    expect(kept.size).toBeGreaterThan(0);
    for (const w of ['0.9', '1.1']) {
      const copies = ids.map((u) => `vtlp${w}-${u}`).filter((c) => inSubset(c, s));
      expect(copies).toEqual([...kept].map((u) => `vtlp${w}-${u}`));
    }
    // Not a copy's name: drawn by the whole id.
    expect(ids.map((u) => `vtlpx-${u}`).filter((c) => inSubset(c, s))).not.toEqual([...kept].map((u) => `vtlpx-${u}`));
  });

  it('drops the VTLP copies on request, alone or with a subset; other ids that start with vtlp stay', async () => {
    const orig = utts(300);
    const copy = (w: string) => orig.map((u) => ({ ...u, uttId: `vtlp${w}-${u.uttId}` }));
    const all = [...orig, ...copy('0.9'), ...copy('1.1'), { ...orig[0], uttId: 'vtlpx-u0' }];
    const ids = async (src: FilteredFrameSource) => {
      const seen: string[] = [];
      for await (const u of src.utterances()) seen.push(u.uttId);
      return seen;
    };
    const originals = new FilteredFrameSource(new ArrayFrameSource(all), { subset: null, vtlpCopies: false });
    expect(await ids(originals)).toEqual([...orig.map((u) => u.uttId), 'vtlpx-u0']);
    expect(originals.skips.done).toBe(301);
    expect(originals.name).toMatch(/without VTLP copies/);
    const s = { fraction: 0.1, seed: 4 };
    const both = await ids(new FilteredFrameSource(new ArrayFrameSource(all), { subset: s, vtlpCopies: false }));
    expect(both.length).toBeGreaterThan(0);
    expect(both).toEqual(all.map((u) => u.uttId).filter((u) => !/^vtlp[0-9]/.test(u) && inSubset(u, s)));
    // Copies kept: the subset and its copies, as before.
    const withCopies = await ids(new FilteredFrameSource(new ArrayFrameSource(all), { subset: s, vtlpCopies: true }));
    expect(withCopies.length).toBe(3 * both.length + (inSubset('vtlpx-u0', s) ? 1 : 0));
    expect(passesFilter('vtlp1.1-u3', { subset: null, vtlpCopies: true })).toBe(true);
    expect(passesFilter('vtlp1.1-u3', { subset: null, vtlpCopies: false })).toBe(false);
  });

  it('rejects fractions outside (0, 1]', () => {
    expect(() => validateSubset({ fraction: 0, seed: 1 })).toThrow(ConfigError);
    expect(() => validateSubset({ fraction: 1.5, seed: 1 })).toThrow(/expected a number in \(0, 1\]/);
  });
});

describe('split files and the senone inventory of an align output', () => {
  it('finds features, alignments and utt2spk; a missing split names the ones there', async () => {
    const dirs = await writeTinyCorpus(tempDir(), { splits: { train: 4, dev: 2 } });
    const f = await findSplitFiles(dirs.featuresDir, dirs.alignDir, 'dev');
    expect(f.features).toEqual([join(dirs.featuresDir, 'dev.arrow')]);
    expect(f.alignments).toEqual([join(dirs.alignDir, 'dev.arrow')]);
    expect(Object.keys(f.uttToSpeaker)).toEqual(['dev-0', 'dev-1']);
    await expect(findSplitFiles(dirs.featuresDir, dirs.alignDir, 'test')).rejects.toThrow(
      /no features for split 'test'; expected test\.arrow, found splits dev, train/,
    );
  });

  it('identifies the inventory by the tree, not only by the align options', async () => {
    const a = await writeTinyCorpus(tempDir(), { splits: { train: 2 } });
    const b = await writeTinyCorpus(tempDir(), { splits: { train: 2 } });
    const ia = await inventoryOf(a.alignDir, join(a.alignDir, 'train.arrow'));
    expect(ia).toEqual(await inventoryOf(b.alignDir, join(b.alignDir, 'train.arrow')));
    writeFileSync(join(b.alignDir, 'tree.json'), '{"tree": "another"}');
    const ib = await inventoryOf(b.alignDir, join(b.alignDir, 'train.arrow'));
    expect(ib.alignmentConfigHash).toBe(ia.alignmentConfigHash);
    expect(ib.senoneInventoryId).not.toBe(ia.senoneInventoryId);
  });
});

describe('am-distill train|targets|distill|eval (CLI)', () => {
  it('maps bad flags and missing inputs to exit code 2 with a message', async () => {
    const dir = tempDir();
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => {
      writes.push(String(s));
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(
        await main([
          'node',
          'am-distill',
          'train',
          '--features',
          dir,
          '--align',
          dir,
          '--out',
          join(dir, 'o'),
          '--members',
          '0',
        ]),
      ).toBe(2);
      expect(
        await main([
          'node',
          'am-distill',
          'targets',
          '--models',
          dir,
          '--features',
          dir,
          '--align',
          dir,
          '--out',
          join(dir, 'o'),
          '--top-k',
          'many',
        ]),
      ).toBe(2);
      expect(
        await main([
          'node',
          'am-distill',
          'distill',
          '--models',
          dir,
          '--targets',
          dir,
          '--features',
          dir,
          '--align',
          dir,
          '--out',
          join(dir, 'o'),
        ]),
      ).toBe(2);
      expect(
        await main([
          'node',
          'am-distill',
          'eval',
          '--models',
          dir,
          '--features',
          dir,
          '--align',
          dir,
          '--out',
          join(dir, 'o'),
          '--split',
          'test',
        ]),
      ).toBe(2);
    } finally {
      process.stderr.write = orig;
    }
    const text = writes.join('');
    expect(text).toMatch(/--members 0: bad --members; expected an integer >= 1, found 0/);
    expect(text).toMatch(/--top-k many: bad --top-k/);
    expect(text).toMatch(/models\.json: no trained models here/);
    void captureLogger;
  });
});
