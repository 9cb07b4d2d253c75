/**
 * What a finished experiment gives people outside the pipeline, on one tiny run (prepare ..
 * targets, test/pipeline/tiny-experiment.ts):
 * - its Arrow files have exactly the columns, types and metadata keys that docs/arrow-schema.md
 *   lists, and so do the files pyarrow read (test/golden/arrow-schema/pyarrow-schema.json);
 * - `am-distill export kaldi` writes them as Kaldi archives that read back to the same numbers.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataType, Field, Precision, RecordBatchFileReader } from 'apache-arrow';
import { main } from '../../src/cli/main.ts';
import { readFeatureFile } from '../../src/features/store.ts';
import { readAlignmentFile, type UtteranceAlignment } from '../../src/align/store.ts';
import { readSoftTargetFile } from '../../src/distill/store.ts';
import { readSplit } from '../../src/corpus/manifest.ts';
import { readInt32VectorText, readScpObjects } from '../../src/formats/kaldi-io.ts';
import { captureLogger, REPO_ROOT, tempDir } from '../helpers.ts';
import { runTinyExperiment, TINY_EXPERIMENT_ARROW_FILES } from './tiny-experiment.ts';

const root = tempDir('amd-finished-');
const exp = join(root, 'exp');
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await runTinyExperiment(exp, captureLogger());
});

// ---------------------------------------------------------------------------------------------
// docs/arrow-schema.md

interface DocEntry {
  name: string;
  types: string[];
  optional: boolean;
}
interface DocFormat {
  columns: DocEntry[];
  keys: DocEntry[];
}

/** The column and metadata-key tables of each `## Title (`format`)` section. */
function parseSchemaDoc(text: string): Map<string, DocFormat> {
  const out = new Map<string, DocFormat>();
  let cur: DocFormat | null = null;
  let table: DocEntry[] | null = null;
  for (const line of text.split('\n')) {
    const h = /^## .*\(`([a-z.-]+)`\)\s*$/.exec(line);
    if (h) {
      cur = { columns: [], keys: [] };
      out.set(h[1], cur);
      table = null;
      continue;
    }
    if (line.startsWith('## ')) cur = null;
    if (!cur || !line.startsWith('|')) {
      table = null;
      continue;
    }
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim());
    if (cells[0] === 'column') table = cur.columns;
    else if (cells[0] === 'metadata key') table = cur.keys;
    else if (table && !/^-+$/.test(cells[0])) {
      const ticks = (c: string) => [...c.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      const isColumns = table === cur.columns;
      table.push({
        name: ticks(cells[0])[0],
        types: isColumns ? ticks(cells[1]) : [],
        optional: (isColumns ? cells[2] : cells[1]) !== 'always',
      });
    }
  }
  return out;
}

/** A documented type (`[D]`, `[k]`: any size) as a pattern. */
function typePattern(docType: string): RegExp {
  const escaped = docType.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\\\[[A-Za-z]+\\\]/g, '\\[\\d+\\]')}$`);
}

/** An apache-arrow type printed as pyarrow prints it. */
function pyarrowType(t: DataType): string {
  if (DataType.isDictionary(t))
    return `dictionary<values=${pyarrowType(t.dictionary)}, indices=${pyarrowType(t.indices)}, ordered=${t.isOrdered ? 1 : 0}>`;
  if (DataType.isUtf8(t)) return 'string';
  if (DataType.isInt(t)) return `${t.isSigned ? '' : 'u'}int${t.bitWidth}`;
  if (DataType.isFloat(t))
    return t.precision === Precision.HALF ? 'halffloat' : t.precision === Precision.SINGLE ? 'float' : 'double';
  if (DataType.isFixedSizeList(t)) {
    const child = t.children[0] as Field;
    return `fixed_size_list<${child.name}: ${pyarrowType(child.type)}${child.nullable ? '' : ' not null'}>[${t.listSize}]`;
  }
  throw new Error(`no pyarrow name for ${String(t)}`);
}

interface PyFile {
  format: string;
  schema: string[];
  nullable: string[];
  metadata_keys: string[];
}
const golden = JSON.parse(readFileSync(join(REPO_ROOT, 'test/golden/arrow-schema/pyarrow-schema.json'), 'utf8')) as {
  pyarrow: string;
  files: Record<string, PyFile>;
};
const doc = parseSchemaDoc(readFileSync(join(REPO_ROOT, 'docs/arrow-schema.md'), 'utf8'));

/** Check one file's schema (as pyarrow prints it) and keys against the docs' tables. */
function checkAgainstDoc(rel: string, f: PyFile): void {
  const d = doc.get(f.format);
  expect(d, `${rel}: format ${f.format} has a section in docs/arrow-schema.md`).toBeDefined();
  const fields = f.schema.map((s) => {
    const i = s.indexOf(': ');
    return { name: s.slice(0, i), type: s.slice(i + 2) };
  });
  const documented = d!.columns.filter((c) => fields.some((x) => x.name === c.name)).map((c) => c.name);
  expect(
    fields.map((x) => x.name),
    `${rel}: columns in the documented order, none undocumented`,
  ).toEqual(documented);
  for (const c of d!.columns) {
    const x = fields.find((y) => y.name === c.name);
    if (!x) {
      expect(c.optional, `${rel}: column ${c.name} is documented as always present`).toBe(true);
      continue;
    }
    expect(
      c.types.some((t) => typePattern(t).test(x.type)),
      `${rel}: ${c.name}: ${x.type} is one of ${c.types.join(' | ')}`,
    ).toBe(true);
  }
  for (const k of f.metadata_keys)
    expect(
      d!.keys.map((x) => x.name),
      `${rel}: metadata key ${k} documented`,
    ).toContain(k);
  for (const k of d!.keys.filter((x) => !x.optional))
    expect(f.metadata_keys, `${rel}: documented key ${k.name} present`).toContain(k.name);
  expect(f.nullable, `${rel}: no nullable field`).toEqual([]);
}

describe('docs/arrow-schema.md lists every column and metadata key of the Arrow files', () => {
  it('documents three formats, each with columns, types and keys', () => {
    expect([...doc.keys()].sort()).toEqual(['am-distill.alignments', 'am-distill.features', 'am-distill.soft-targets']);
    for (const [f, d] of doc) {
      expect(d.columns.length, f).toBeGreaterThanOrEqual(3);
      expect(d.keys.length, f).toBeGreaterThanOrEqual(8);
      for (const c of d.columns) expect(c.types.length, `${f} ${c.name}`).toBeGreaterThan(0);
    }
    expect(
      typePattern('fixed_size_list<item: float not null>[D]').test('fixed_size_list<item: float not null>[40]'),
    ).toBe(true);
    expect(
      typePattern('fixed_size_list<item: float not null>[D]').test('fixed_size_list<item: halffloat not null>[40]'),
    ).toBe(false);
  });

  it(`matches what pyarrow ${golden.pyarrow} read from the files of a tiny run (golden), every optional entry seen`, () => {
    expect(Object.keys(golden.files).sort()).toEqual([...TINY_EXPERIMENT_ARROW_FILES].sort());
    for (const [rel, f] of Object.entries(golden.files)) checkAgainstDoc(rel, f);
    for (const [format, d] of doc) {
      const files = Object.values(golden.files).filter((f) => f.format === format);
      const seenColumns = new Set(files.flatMap((f) => f.schema.map((s) => s.split(':')[0])));
      const seenKeys = new Set(files.flatMap((f) => f.metadata_keys));
      expect([...seenColumns].sort(), `${format}: every documented column in some file`).toEqual(
        d.columns.map((c) => c.name).sort(),
      );
      expect([...seenKeys].sort(), `${format}: every documented key in some file`).toEqual(
        d.keys.map((c) => c.name).sort(),
      );
    }
  });

  it('matches the files this run wrote, read with apache-arrow (same schema and keys as the golden: regenerate it when a writer changes)', () => {
    for (const rel of TINY_EXPERIMENT_ARROW_FILES) {
      const reader = RecordBatchFileReader.from(readFileSync(join(exp, rel))).open();
      const schema = reader.schema;
      const f: PyFile = {
        format: schema.metadata.get('am_distill.format') ?? '(none)',
        schema: schema.fields.map((x) => `${x.name}: ${pyarrowType(x.type)}`),
        nullable: schema.fields.filter((x) => x.nullable).map((x) => x.name),
        metadata_keys: [...schema.metadata.keys()].sort(),
      };
      checkAgainstDoc(rel, f);
      expect(f, `${rel} as written now vs test/golden/arrow-schema/pyarrow-schema.json`).toEqual(golden.files[rel]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// am-distill export kaldi

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '',
    stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    stdout += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  try {
    return { code: await main(['node', 'am-distill', ...args]), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The one float comparison of these tests: |a - b| <= tol * max(1, |b|). */
function expectRelClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++)
    if (!(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])))) expect.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

const SPLITS = ['dev', 'test', 'train'];
const lines = (p: string) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
const isCopy = (id: string) => id.startsWith('vtlp');

describe('am-distill export kaldi <expDir>: Kaldi files of a finished experiment', () => {
  const out = join(root, 'kaldi');
  let run: { code: number; stdout: string; stderr: string };
  beforeAll(async () => {
    run = await cli('export', 'kaldi', exp, '--out', out);
  });

  it('exits 0, prints a line per split, writes export.json', () => {
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    for (const s of SPLITS) expect(run.stdout).toContain(`${s}: `);
    const j = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8'));
    expect(j).toMatchObject({
      format: 'am-distill.kaldi-export',
      version: 1,
      features: { stored: 'raw, before CMVN', frameShiftMs: 10 },
    });
    expect(Object.keys(j.splits).sort()).toEqual(SPLITS);
    expect(j.targets.sets.map((s: { name: string; exported: boolean }) => [s.name, s.exported])).toEqual([
      ['main', true],
      ['T1', true],
      ['dense', false],
    ]);
  });

  it('features: feats.scp (fbank) and <split>_mfcc/feats.scp are the Arrow values bit for bit, raw; VTLP copies left out', async () => {
    const j = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8'));
    for (const split of SPLITS) {
      const arrow = [];
      for await (const u of readFeatureFile(join(exp, 'features', `${split}.arrow`))) arrow.push(u);
      const kept = arrow.filter((u) => !isCopy(u.uttId));
      const manifest = await readSplit(join(exp, 'prepare'), split);
      expect(kept.map((u) => u.uttId).sort()).toEqual(manifest.supervisions.map((s) => s.id).sort());
      expect(j.splits[split]).toMatchObject({
        utterances: kept.length,
        leftOut: arrow.length - kept.length,
        frames: kept.reduce((n, u) => n + u.fbank.numFrames, 0),
      });
      for (const [dir, pick] of [
        [split, 'fbank'],
        [`${split}_mfcc`, 'mfcc'],
      ] as const) {
        const got = await readScpObjects(join(out, 'data', dir, 'feats.scp'), 'matrix');
        expect(
          got.map((e) => e.key),
          `${dir} feats.scp sorted`,
        ).toEqual(kept.map((u) => u.uttId).sort());
        for (const e of got) {
          const m = kept.find((u) => u.uttId === e.key)![pick]!;
          expect(e.value.data).toBeInstanceOf(Float32Array);
          expect(e.value).toEqual({ numRows: m.numFrames, numCols: m.dim, data: m.data });
        }
      }
    }
    expect(j.splits.train.leftOut).toBe(j.splits.train.utterances);
  });

  it('cmvn.scp: per speaker of utt2spk, 2 x (D+1) doubles equal to statistics recomputed from the exported frames', async () => {
    for (const split of SPLITS) {
      for (const dir of [split, `${split}_mfcc`]) {
        const feats = new Map(
          (await readScpObjects(join(out, 'data', dir, 'feats.scp'), 'matrix')).map((e) => [e.key, e.value]),
        );
        const utt2spk = new Map(lines(join(out, 'data', dir, 'utt2spk')).map((l) => l.split(' ') as [string, string]));
        const cmvn = await readScpObjects(join(out, 'data', dir, 'cmvn.scp'), 'matrix');
        expect(cmvn.map((e) => e.key)).toEqual(lines(join(out, 'data', dir, 'spk2utt')).map((l) => l.split(' ')[0]));
        for (const { key: spk, value } of cmvn) {
          const dim = [...feats.values()][0].numCols;
          const want = new Float64Array(2 * (dim + 1));
          for (const [utt, m] of feats) {
            if (utt2spk.get(utt) !== spk) continue;
            for (let t = 0; t < m.numRows; t++) {
              for (let d = 0; d < dim; d++) {
                const x = m.data[t * dim + d];
                want[d] += x;
                want[dim + 1 + d] += x * x;
              }
            }
            want[dim] += m.numRows;
          }
          expect(value.data).toBeInstanceOf(Float64Array);
          expect([value.numRows, value.numCols]).toEqual([2, dim + 1]);
          expect(value.data[dim], `${dir} ${spk} count`).toBe(want[dim]);
          expect(value.data[2 * dim + 1], `${dir} ${spk} row 1 last column`).toBe(0);
          expectRelClose(value.data, want, 1e-9, `${dir} ${spk} stats`);
        }
      }
    }
  });

  it('alignments: ali_pdf = senone and ali_phone = phone per frame (ark, scp and text form), phones.txt, pdf_map.txt, num_pdfs', async () => {
    const senones = JSON.parse(readFileSync(join(exp, 'align', 'senones.json'), 'utf8'));
    expect(readFileSync(join(out, 'ali', 'phones.txt'), 'utf8')).toBe(
      readFileSync(join(exp, 'align', 'lang', 'phones.txt'), 'utf8'),
    );
    expect(lines(join(out, 'ali', 'pdf_map.txt'))).toEqual(
      senones.senones.map((s: { id: number; phone: string; hmmState: number }) => `${s.id} ${s.phone} ${s.hmmState}`),
    );
    expect(readFileSync(join(out, 'ali', 'num_pdfs'), 'utf8')).toBe(`${senones.numSenones}\n`);
    const j = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8'));
    for (const split of SPLITS) {
      const want: UtteranceAlignment[] = [];
      for await (const a of readAlignmentFile(join(exp, 'align', `${split}.arrow`))) if (!isCopy(a.uttId)) want.push(a);
      expect(want.length).toBeGreaterThan(0);
      expect(j.splits[split].alignments).toEqual({ utterances: want.length });
      const featKeys = new Set(
        (await readScpObjects(join(out, 'data', split, 'feats.scp'), 'matrix')).map((e) => e.key),
      );
      for (const [name, pick] of [
        ['ali_pdf', 'senone'],
        ['ali_phone', 'phone'],
      ] as const) {
        const scp = await readScpObjects(join(out, 'ali', split, `${name}.scp`), 'int32-vector');
        expect(scp.map((e) => e.key)).toEqual(want.map((a) => a.uttId).sort());
        for (const e of scp) expect(e.value).toEqual(want.find((a) => a.uttId === e.key)![pick]);
        const text = await readInt32VectorText(join(out, 'ali', split, `${name}.txt`));
        expect(text.map((e) => e.key)).toEqual(want.map((a) => a.uttId));
        text.forEach((e, i) => expect(e.value).toEqual(want[i][pick]));
        for (const e of scp) expect(featKeys.has(e.key)).toBe(true);
      }
    }
  });

  it('soft targets: post.scp of the main and T1 sets = ids and probabilities of the Arrow files; the dense set only on request', async () => {
    for (const [set, file] of [
      ['main', 'train.arrow'],
      ['T1', 'T1/train.arrow'],
    ]) {
      const want = [];
      for await (const u of readSoftTargetFile(join(exp, 'targets', file))) if (!isCopy(u.uttId)) want.push(u);
      const got = await readScpObjects(join(out, 'post', 'train', set, 'post.scp'), 'posterior');
      expect(got.map((e) => e.key)).toEqual(want.map((u) => u.uttId).sort());
      for (const e of got) {
        const u = want.find((x) => x.uttId === e.key)!;
        expect(e.value.length).toBe(u.numFrames);
        e.value.forEach((fr, t) => {
          expect(fr.ids).toEqual(u.ids.subarray(t * u.k, (t + 1) * u.k));
          expect(fr.weights).toEqual(u.probs.subarray(t * u.k, (t + 1) * u.k));
        });
      }
    }
    expect(existsSync(join(out, 'post', 'train', 'dense'))).toBe(false);
    expect(readdirSync(join(out, 'post'))).toEqual(['train']);
  });

  it('data dirs: the prepared manifests of the exported utterances, as export kaldi-data writes them', async () => {
    const dataOut = join(root, 'kaldi-data');
    const r = await cli('export', 'kaldi-data', join(exp, 'prepare'), '--out', dataOut);
    expect(r.code).toBe(0);
    expect(readdirSync(dataOut).sort()).toEqual(SPLITS);
    for (const split of SPLITS) {
      for (const f of ['wav.scp', 'text', 'utt2spk', 'spk2utt', 'utt2dur', 'reco2dur']) {
        expect(readFileSync(join(out, 'data', split, f), 'utf8'), `${split}/${f}`).toBe(
          readFileSync(join(dataOut, split, f), 'utf8'),
        );
        expect(readFileSync(join(out, 'data', `${split}_mfcc`, f), 'utf8'), `${split}_mfcc/${f}`).toBe(
          readFileSync(join(dataOut, split, f), 'utf8'),
        );
      }
      expect(lines(join(out, 'data', split, 'utt2spk')).map((l) => l.split(' ')[0])).toEqual(
        lines(join(out, 'data', split, 'feats.scp')).map((l) => l.split(' ')[0]),
      );
    }
    const manifest = await readSplit(join(exp, 'prepare'), 'test');
    expect(lines(join(dataOut, 'test', 'text'))).toEqual(manifest.supervisions.map((s) => `${s.id} ${s.text}`).sort());
  });

  it('a second export replaces the first (--split, --dense-targets); bad outputs, splits and experiments are located errors, exit 2', async () => {
    const again = await cli('export', 'kaldi', exp, '--out', out, '--split', 'train', '--dense-targets');
    expect(again.code).toBe(0);
    expect(readdirSync(join(out, 'data')).sort()).toEqual(['train', 'train_mfcc']);
    const dense = await readScpObjects(join(out, 'post', 'train', 'dense', 'post.scp'), 'posterior');
    const numPdfs = Number(readFileSync(join(out, 'ali', 'num_pdfs'), 'utf8'));
    expect(dense[0].value[0].ids.length).toBe(numPdfs);

    const busy = join(root, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'keep.txt'), 'mine');
    const refused = await cli('export', 'kaldi', exp, '--out', busy);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${busy}: output directory exists and is not a Kaldi export`);
    expect(readdirSync(busy)).toEqual(['keep.txt']);

    const badSplit = await cli('export', 'kaldi', exp, '--out', join(root, 'x'), '--split', 'nope');
    expect(badSplit.code).toBe(2);
    expect(badSplit.stderr).toContain("no features for split 'nope'; expected one of dev, test, train");
    const noExp = await cli('export', 'kaldi', join(root, 'kaldi-data'), '--out', join(root, 'y'));
    expect(noExp.code).toBe(2);
    expect(noExp.stderr).toContain(`${resolve(root, 'kaldi-data', 'features')}: not a finished experiment`);
    expect(existsSync(join(root, 'x')) || existsSync(join(root, 'y'))).toBe(false);
  });
});
