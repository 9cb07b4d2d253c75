/**
 * A large, well-formed 3-gram ARPA file written as a stream (for the 1 GB loading test, issue 34),
 * without holding its n-grams: every word but `</s>` has `successors` bigram successors (distinct
 * by construction: (h * 7919 + j * STEP) mod the successor vocabulary, STEP prime to it), every
 * `contextEvery`-th bigram is a context with `trigramSuccessors` trigram successors, built the
 * same way; probabilities and back-off weights come from a seeded generator. So the header's
 * counts are known before writing, and the same options give the same bytes.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Rng } from '../../src/util/rng.ts';

export interface BigArpaOptions {
  /** Words besides <s>, </s>, <unk>. */
  words: number;
  successors: number;
  contextEvery: number;
  trigramSuccessors: number;
  seed?: number;
}

const STEP = 1_000_003;

/** n-grams per order of the file these options give. */
export function bigArpaCounts(o: BigArpaOptions): [number, number, number] {
  const V = o.words + 3,
    histories = V - 1;
  const bigrams = histories * o.successors;
  const contexts = histories * Math.ceil(o.successors / o.contextEvery);
  return [V, bigrams, contexts * o.trigramSuccessors];
}

/** Write the file; returns its n-gram counts. */
export async function writeBigArpa(path: string, o: BigArpaOptions): Promise<[number, number, number]> {
  const counts = bigArpaCounts(o);
  const vocab = ['</s>', '<s>', '<unk>', ...Array.from({ length: o.words }, (_, i) => `w${i.toString(36)}`)];
  const V = vocab.length;
  // Successors are any word but <s> (id 1): index k -> id k < 1 ? 0 : k + 1.
  const S = V - 1;
  if (o.successors > S || o.trigramSuccessors > S || S % STEP === 0) throw new RangeError('bad big ARPA options');
  const succ = (h: number, j: number): number => {
    const k = (h * 7919 + j * STEP) % S;
    return k < 1 ? 0 : k + 1;
  };
  const rng = new Rng(o.seed ?? 1);
  const f = (x: number): string => x.toFixed(6);
  const out = createWriteStream(path);
  let buf = '';
  const put = async (s: string): Promise<void> => {
    buf += s;
    if (buf.length < 1 << 20) return;
    const ok = out.write(buf);
    buf = '';
    if (!ok) await once(out, 'drain');
  };
  await put(`\\data\\\nngram 1=${counts[0]}\nngram 2=${counts[1]}\nngram 3=${counts[2]}\n\n\\1-grams:\n`);
  for (let i = 0; i < V; i++)
    await put(`${i === 1 ? '-99' : f(-1 - 5 * rng.next())}\t${vocab[i]}${i === 0 ? '' : `\t${f(-rng.next())}`}\n`);
  await put('\n\\2-grams:\n');
  for (let h = 1; h < V; h++) {
    for (let j = 0; j < o.successors; j++) {
      const bow = j % o.contextEvery === 0 ? `\t${f(-rng.next())}` : '';
      await put(`${f(-3 * rng.next())}\t${vocab[h]} ${vocab[succ(h, j)]}${bow}\n`);
    }
  }
  await put('\n\\3-grams:\n');
  for (let h = 1; h < V; h++) {
    for (let j = 0; j < o.successors; j += o.contextEvery) {
      const b = succ(h, j);
      const prefix = `${vocab[h]} ${vocab[b]}`;
      for (let k = 0; k < o.trigramSuccessors; k++)
        await put(`${f(-2 * rng.next())}\t${prefix} ${vocab[succ(b * 31 + h, k)]}\n`);
    }
  }
  await put('\n\\end\\\n');
  out.end(buf);
  await once(out, 'finish');
  return counts;
}
