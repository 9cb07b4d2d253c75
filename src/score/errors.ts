/**
 * Which words a system gets wrong: the error lists of NIST sclite's detailed report (`-o dtl`),
 * counted over the word alignments of a scored split.
 *
 *   confusionPairs     reference word ==> hypothesis word, per substitution
 *   insertions         hypothesis words inserted
 *   deletions          reference words deleted
 *   substitutions      reference words substituted (whatever replaced them)
 *   falselyRecognized  hypothesis words that replaced a reference word
 *
 * Each list is sorted as sclite sorts it: by count, descending, then by the text of the item
 * (byte order). In sclite's default case-insensitive mode words are printed lower-cased, as sclite
 * does; the counts are checked against sclite's own dtl output (test/golden/score).
 */
import type { AlignedPair } from './align.ts';

export interface WordCount {
  word: string;
  count: number;
}

export interface ConfusionPair {
  ref: string;
  hyp: string;
  count: number;
}

export interface ErrorLists {
  confusionPairs: ConfusionPair[];
  insertions: WordCount[];
  deletions: WordCount[];
  substitutions: WordCount[];
  falselyRecognized: WordCount[];
}

/** The aligned pairs of each utterance (e.g. `WerResult.utterances`). */
export interface AlignedUtterance {
  pairs: readonly AlignedPair[];
}

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sorted<T>(m: Map<string, T & { count: number }>): (T & { count: number })[] {
  return [...m.entries()].sort((a, b) => b[1].count - a[1].count || byteOrder(a[0], b[0])).map(([, v]) => v);
}

function add(m: Map<string, WordCount>, word: string): void {
  const e = m.get(word);
  if (e) e.count++;
  else m.set(word, { word, count: 1 });
}

/**
 * sclite's error lists over every utterance. `caseSensitive` false (sclite's default) folds words
 * to lower case, as sclite prints them.
 */
export function errorLists(utts: Iterable<AlignedUtterance>, caseSensitive = false): ErrorLists {
  const fold = caseSensitive ? (w: string) => w : (w: string) => w.toLowerCase();
  const pairs = new Map<string, ConfusionPair>();
  const ins = new Map<string, WordCount>(),
    del = new Map<string, WordCount>();
  const sub = new Map<string, WordCount>(),
    fal = new Map<string, WordCount>();
  for (const u of utts) {
    for (const p of u.pairs) {
      if (p.op === 'S') {
        const ref = fold(p.ref!),
          hyp = fold(p.hyp!);
        const key = `${ref} ==> ${hyp}`;
        const e = pairs.get(key);
        if (e) e.count++;
        else pairs.set(key, { ref, hyp, count: 1 });
        add(sub, ref);
        add(fal, hyp);
      } else if (p.op === 'I') add(ins, fold(p.hyp!));
      else if (p.op === 'D') add(del, fold(p.ref!));
    }
  }
  return {
    confusionPairs: sorted(pairs),
    insertions: sorted(ins),
    deletions: sorted(del),
    substitutions: sorted(sub),
    falselyRecognized: sorted(fal),
  };
}

/** The lists of several scorings (e.g. the folds of a cross-validation) added up, sorted as sclite sorts. */
export function sumErrorLists(all: readonly ErrorLists[]): ErrorLists {
  const pairs = new Map<string, ConfusionPair>();
  const words = {
    insertions: new Map<string, WordCount>(),
    deletions: new Map<string, WordCount>(),
    substitutions: new Map<string, WordCount>(),
    falselyRecognized: new Map<string, WordCount>(),
  };
  for (const e of all) {
    for (const x of e.confusionPairs) {
      const key = `${x.ref} ==> ${x.hyp}`;
      const c = pairs.get(key);
      if (c) c.count += x.count;
      else pairs.set(key, { ...x });
    }
    for (const k of Object.keys(words) as (keyof typeof words)[]) {
      for (const x of e[k]) {
        const c = words[k].get(x.word);
        if (c) c.count += x.count;
        else words[k].set(x.word, { ...x });
      }
    }
  }
  return {
    confusionPairs: sorted(pairs),
    insertions: sorted(words.insertions),
    deletions: sorted(words.deletions),
    substitutions: sorted(words.substitutions),
    falselyRecognized: sorted(words.falselyRecognized),
  };
}

/** The first `n` entries of every list (the rest are summed in the totals of a full report). */
export function topErrors(e: ErrorLists, n: number): ErrorLists {
  return {
    confusionPairs: e.confusionPairs.slice(0, n),
    insertions: e.insertions.slice(0, n),
    deletions: e.deletions.slice(0, n),
    substitutions: e.substitutions.slice(0, n),
    falselyRecognized: e.falselyRecognized.slice(0, n),
  };
}

const NOTES: Record<string, string[]> = {
  SUBSTITUTIONS: [
    "* NOTE: The 'Substitution' words are those reference words",
    '        for which the recognizer supplied an incorrect word.',
  ],
  'FALSELY RECOGNIZED': [
    "* NOTE: The 'Falsely Recognized' words are those hypothesis words",
    '        which the recognizer incorrectly substituted for a reference word.',
  ],
};

function section(title: string, items: { text: string; count: number }[]): string[] {
  const total = items.reduce((a, x) => a + x.count, 0);
  const lines = [
    `${title.padEnd(33)}Total                 (${items.length})`,
    `${' '.repeat(33)}With >=  1 occurrences (${items.length})`,
    '',
    ...items.map((x, i) => `${String(i + 1).padStart(4)}:${String(x.count).padStart(5)}  ->  ${x.text}`),
    '     -------',
    String(total).padStart(10),
    '',
    '',
  ];
  const note = NOTES[title];
  if (note) lines.push(...note, '', '');
  else lines.push('');
  return lines;
}

/** The error sections of sclite's `-o dtl` report, from CONFUSION PAIRS to the end, as sclite writes them. */
export function formatErrorLists(e: ErrorLists): string {
  const words = (l: WordCount[]) => l.map((x) => ({ text: x.word, count: x.count }));
  return [
    ...section(
      'CONFUSION PAIRS',
      e.confusionPairs.map((x) => ({ text: `${x.ref} ==> ${x.hyp}`, count: x.count })),
    ),
    ...section('INSERTIONS', words(e.insertions)),
    ...section('DELETIONS', words(e.deletions)),
    ...section('SUBSTITUTIONS', words(e.substitutions)),
    ...section('FALSELY RECOGNIZED', words(e.falselyRecognized)),
  ].join('\n');
}
