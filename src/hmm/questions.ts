/**
 * Phonetic questions for the context-dependency tree.
 *  - clusterPhoneQuestions: derived from data like Kaldi's cluster-phones, but bottom-up: start from
 *    one cluster per phone (its pooled Gaussian statistics for the listed pdf classes), repeatedly
 *    merge the pair that loses the least log-likelihood; every cluster ever formed (singletons
 *    included, the set of all phones excluded) is a question. The silence phones form an extra
 *    question (Kaldi's extra_questions.txt).
 *  - arpabetClassQuestions: a fixed ARPAbet phone-class table (below), for when there is too little
 *    data to cluster.
 * With word-position phones both work on base phones, as Kaldi's on phones/sets.txt: a phone's
 * variants are clustered together and every question holds all of them; questions on the word
 * position (all _B, _E, _I, _S phones; word-initial B+S; word-final E+S) are added (Kaldi's
 * extra_questions.txt), which the tree asks of the centre phone within a shared root too.
 */
import { WORD_POSITIONS, basePhone, phoneRoots, type PhoneSet } from '../lang/phones.ts';
import { GaussStats, gaussObjf, type Question, type TreeStats } from './tree.ts';

export interface ClusterPhonesOptions {
  /** Pdf classes whose statistics describe a phone. Default [1] (the middle state, as Kaldi). */
  pdfClasses?: number[];
  /** Variance floor. Default 0.01. */
  varianceFloor?: number;
}

export function clusterPhoneQuestions(stats: TreeStats, phones: PhoneSet, opts: ClusterPhonesOptions = {}): Question[] {
  const pcs = new Set(opts.pdfClasses ?? [1]);
  const vf = opts.varianceFloor ?? 0.01;
  const rootOf = phoneRoots(phones.symbols);
  const perPhone = new Map<number, GaussStats>();
  for (const e of stats.sorted()) {
    if (!pcs.has(e.pdfClass)) continue;
    let g = perPhone.get(rootOf[e.centre]);
    if (!g) {
      g = new GaussStats(stats.dim);
      perPhone.set(rootOf[e.centre], g);
    }
    g.addStats(e.stats);
  }
  let clusters = [...perPhone.entries()].sort((a, b) => a[0] - b[0]).map(([p, s]) => ({ phones: [p], stats: s }));
  const questions: Question[] = clusters.map((c) => ({ phones: [...c.phones], name: 'cluster' }));
  const objf = (s: GaussStats) => gaussObjf(s.count, s.sum, s.sumSq, vf);
  while (clusters.length > 2) {
    let bi = -1,
      bj = -1,
      bestLoss = Infinity;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        const m = clusters[i].stats.clone();
        m.addStats(clusters[j].stats);
        const loss = objf(clusters[i].stats) + objf(clusters[j].stats) - objf(m);
        if (loss < bestLoss) {
          bestLoss = loss;
          bi = i;
          bj = j;
        }
      }
    }
    const merged = clusters[bi].stats.clone();
    merged.addStats(clusters[bj].stats);
    const c = { phones: [...clusters[bi].phones, ...clusters[bj].phones].sort((a, b) => a - b), stats: merged };
    questions.push({ phones: [...c.phones], name: 'cluster' });
    clusters = clusters.filter((_, k) => k !== bi && k !== bj);
    clusters.push(c);
  }
  const sil = [...phones.silencePhones].map((p) => phones.id(p)).sort((a, b) => a - b);
  questions.push({ phones: sil, name: 'silence' });
  return dedupeQuestions([
    ...questions.map((q) => ({ ...q, phones: withVariants(q.phones, rootOf) })),
    ...wordPositionQuestions(phones),
  ]);
}

/** The phones whose root is one of `roots`' roots (every word-position variant), sorted. */
function withVariants(ids: readonly number[], rootOf: Int32Array): number[] {
  const want = new Set(ids.map((p) => rootOf[p]));
  const out: number[] = [];
  for (let p = 1; p < rootOf.length; p++) if (want.has(rootOf[p])) out.push(p);
  return out;
}

/** Questions on the word position (none for a set without position phones). */
export function wordPositionQuestions(phones: PhoneSet): Question[] {
  if (!phones.wordPositions) return [];
  const withSuffix = (ws: readonly string[]) =>
    phones.phones
      .filter((p) => ws.some((w) => p.endsWith(`_${w}`)))
      .map((p) => phones.id(p))
      .sort((a, b) => a - b);
  return dedupeQuestions([
    ...WORD_POSITIONS.map((w) => ({ phones: withSuffix([w]), name: `position:${w}` })),
    { phones: withSuffix(['B', 'S']), name: 'position:word-initial' },
    { phones: withSuffix(['E', 'S']), name: 'position:word-final' },
  ]);
}

/**
 * ARPAbet phone classes (stress-free CMUdict phones), after standard phonetics tables
 * (place/manner for consonants, height/backness/rounding for vowels).
 */
export const ARPABET_CLASSES: Record<string, string[]> = {
  silence: ['SIL', 'SPN'],
  vowel: ['AA', 'AE', 'AH', 'AO', 'AW', 'AY', 'EH', 'ER', 'EY', 'IH', 'IY', 'OW', 'OY', 'UH', 'UW'],
  frontVowel: ['AE', 'EH', 'EY', 'IH', 'IY'],
  centralVowel: ['AH', 'ER'],
  backVowel: ['AA', 'AO', 'OW', 'UH', 'UW'],
  highVowel: ['IH', 'IY', 'UH', 'UW'],
  lowVowel: ['AA', 'AE', 'AO'],
  roundedVowel: ['AO', 'OW', 'OY', 'UH', 'UW'],
  diphthong: ['AW', 'AY', 'EY', 'OW', 'OY'],
  consonant: [
    'B',
    'CH',
    'D',
    'DH',
    'F',
    'G',
    'HH',
    'JH',
    'K',
    'L',
    'M',
    'N',
    'NG',
    'P',
    'R',
    'S',
    'SH',
    'T',
    'TH',
    'V',
    'W',
    'Y',
    'Z',
    'ZH',
  ],
  stop: ['B', 'D', 'G', 'K', 'P', 'T'],
  voicedStop: ['B', 'D', 'G'],
  unvoicedStop: ['K', 'P', 'T'],
  affricate: ['CH', 'JH'],
  fricative: ['DH', 'F', 'HH', 'S', 'SH', 'TH', 'V', 'Z', 'ZH'],
  voicedFricative: ['DH', 'V', 'Z', 'ZH'],
  unvoicedFricative: ['F', 'HH', 'S', 'SH', 'TH'],
  sibilant: ['CH', 'JH', 'S', 'SH', 'Z', 'ZH'],
  nasal: ['M', 'N', 'NG'],
  liquid: ['L', 'R', 'ER'],
  glide: ['W', 'Y'],
  approximant: ['L', 'R', 'W', 'Y'],
  labial: ['B', 'F', 'M', 'P', 'V', 'W'],
  dental: ['DH', 'TH'],
  alveolar: ['D', 'L', 'N', 'R', 'S', 'T', 'Z'],
  postalveolar: ['CH', 'JH', 'SH', 'ZH'],
  velar: ['G', 'K', 'NG'],
  voiced: [
    'AA',
    'AE',
    'AH',
    'AO',
    'AW',
    'AY',
    'B',
    'D',
    'DH',
    'EH',
    'ER',
    'EY',
    'G',
    'IH',
    'IY',
    'JH',
    'L',
    'M',
    'N',
    'NG',
    'OW',
    'OY',
    'R',
    'UH',
    'UW',
    'V',
    'W',
    'Y',
    'Z',
    'ZH',
  ],
};

/** Questions from ARPABET_CLASSES plus one singleton per phone; classes are cut to the phone set. */
export function arpabetClassQuestions(phones: PhoneSet): Question[] {
  const qs: Question[] = [];
  // Classes name base phones: a class holds every word-position variant of its phones.
  for (const [name, list] of Object.entries(ARPABET_CLASSES)) {
    const ids = phones.phones
      .filter((p) => list.includes(basePhone(p)))
      .map((p) => phones.id(p))
      .sort((a, b) => a - b);
    if (ids.length > 0) qs.push({ phones: ids, name: `class:${name}` });
  }
  const rootOf = phoneRoots(phones.symbols);
  for (const p of phones.phones)
    qs.push({ phones: withVariants([phones.id(p)], rootOf), name: `phone:${basePhone(p)}` });
  return dedupeQuestions([...qs, ...wordPositionQuestions(phones)]);
}

function dedupeQuestions(qs: Question[]): Question[] {
  const seen = new Set<string>();
  return qs.filter((q) => {
    const k = q.phones.join(',');
    if (q.phones.length === 0 || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
