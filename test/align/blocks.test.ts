/**
 * The fixed blocks of the GMM training utterances (src/align/blocks.ts): contiguous, covering every
 * position once, each position's block found again, and the same whatever the number of shards
 * that run them.
 */
import { describe, it, expect } from 'vitest';
import { cutBlocks } from '../../src/align/blocks.ts';
import { shardRange } from '../../src/features/compute.ts';

describe('training blocks', () => {
  it('tile the utterances in order, fewer utterances than blocks included, and find each one again', () => {
    for (const [total, count] of [
      [12, 32],
      [100, 32],
      [28539, 32],
      [1, 32],
      [5, 1],
    ]) {
      const b = cutBlocks(total, count);
      let at = 0;
      for (let k = 0; k < count; k++) {
        const [s, e] = b.positions(k, k + 1);
        expect(s).toBe(at);
        for (let i = s; i < e; i++) expect(b.blockAt(i)).toBe(k);
        at = e;
      }
      expect(at).toBe(total);
      expect(b.nonEmpty.length).toBe(Math.min(total, count));
      // A shard's blocks are one contiguous run of positions.
      for (let i = 0; i < 3; i++) {
        const [b0, b1] = shardRange(count, { index: i, count: 3 });
        const [s, e] = b.positions(b0, b1);
        expect([s, e]).toEqual([b.positions(b0, b0 + 1)[0], b1 > b0 ? b.positions(b1 - 1, b1)[1] : s]);
      }
    }
  });
});
