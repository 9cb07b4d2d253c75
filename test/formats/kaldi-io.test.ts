/**
 * Kaldi binary archives: the writer's bytes against bytes built by hand from Kaldi's sources
 * (kaldi-asr/kaldi f4007661: src/base/io-funcs-inl.h WriteBasicType / InitKaldiOutputStream,
 * src/base/io-funcs.cc WriteToken and WriteBasicType<float|double>, src/matrix/kaldi-matrix.cc
 * MatrixBase::Write, src/util/kaldi-holder-inl.h BasicVectorHolder::Write, src/hmm/posterior.cc
 * WritePosterior, src/util/kaldi-table-inl.h TableWriterBothImpl::Write for "key " and scp offsets),
 * and round trips through the readers.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeObject,
  encodeInt32Vector,
  encodeMatrix,
  encodePosterior,
  formatInt32VectorText,
  KaldiArchiveWriter,
  readInt32VectorText,
  readKaldiArchive,
  readScp,
  readScpObjects,
  type PosteriorFrame,
} from '../../src/formats/kaldi-io.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { tempDir } from '../helpers.ts';

/** Bytes from a spec: strings are ASCII, numbers single bytes, arrays of numbers bytes too. */
function bytes(...parts: (string | number | number[])[]): Buffer {
  return Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(typeof p === 'number' ? [p] : p))),
  );
}
const B = [0x00, 0x42]; // "\0B"

async function writeArchive(path: string, entries: [string, Uint8Array][], scpPath?: string): Promise<void> {
  const w = await KaldiArchiveWriter.open(path, { scpPath });
  for (const [k, o] of entries) await w.write(k, o);
  await w.finish();
}

describe('Kaldi binary objects, byte for byte', () => {
  it('float matrix: "\\0B", token "FM ", int32 rows and columns with size byte 4, raw float32 rows', () => {
    const got = encodeMatrix({ numRows: 2, numCols: 3, data: Float32Array.of(1, -2, 0.5, 0, 3.25, -0.125) });
    expect(Buffer.from(got)).toEqual(
      bytes(
        B,
        'FM ',
        [4, 2, 0, 0, 0],
        [4, 3, 0, 0, 0],
        [0, 0, 0x80, 0x3f],
        [0, 0, 0, 0xc0],
        [0, 0, 0, 0x3f],
        [0, 0, 0, 0],
        [0, 0, 0x50, 0x40],
        [0, 0, 0, 0xbe],
      ),
    );
  });

  it('CMVN statistics: a 2 x (D+1) double matrix "DM " (sums and count in row 0, sums of squares and 0 in row 1)', () => {
    const got = encodeMatrix({ numRows: 2, numCols: 3, data: Float64Array.of(2, 4, 2, 2.5, 8, 0) });
    const d = (hi: number[]) => [0, 0, 0, 0, 0, 0, ...hi];
    expect(Buffer.from(got)).toEqual(
      bytes(
        B,
        'DM ',
        [4, 2, 0, 0, 0],
        [4, 3, 0, 0, 0],
        d([0, 0x40]),
        d([0x10, 0x40]),
        d([0, 0x40]),
        d([0x04, 0x40]),
        d([0x20, 0x40]),
        d([0, 0]),
      ),
    );
  });

  it('int32 vector (ali-to-pdf output): "\\0B", int32 count, every element an int32 with size byte 4', () => {
    expect(Buffer.from(encodeInt32Vector([3, 3, 7, -1]))).toEqual(
      bytes(B, [4, 4, 0, 0, 0], [4, 3, 0, 0, 0], [4, 3, 0, 0, 0], [4, 7, 0, 0, 0], [4, 0xff, 0xff, 0xff, 0xff]),
    );
    expect(Buffer.from(encodeInt32Vector([]))).toEqual(bytes(B, [4, 0, 0, 0, 0]));
  });

  it('posterior: "\\0B", int32 frames, per frame int32 count and (int32 pdf, float weight) pairs', () => {
    const got = encodePosterior([
      { ids: [5, 2], weights: [0.75, 0.25] },
      { ids: [], weights: [] },
      { ids: [0], weights: [1] },
    ]);
    expect(Buffer.from(got)).toEqual(
      bytes(
        B,
        [4, 3, 0, 0, 0],
        [4, 2, 0, 0, 0],
        [4, 5, 0, 0, 0],
        [4, 0, 0, 0x40, 0x3f],
        [4, 2, 0, 0, 0],
        [4, 0, 0, 0x80, 0x3e],
        [4, 0, 0, 0, 0],
        [4, 1, 0, 0, 0],
        [4, 0, 0, 0, 0],
        [4, 0, 0, 0x80, 0x3f],
      ),
    );
  });

  it('archive: "key " then the object; scp: "key ark:offset" with the offset of "\\0B", sorted by key', async () => {
    const dir = tempDir('kaldi-io-');
    const ark = join(dir, 'a.ark');
    const scp = join(dir, 'a.scp');
    const vb = encodeInt32Vector([1]);
    const va = encodeInt32Vector([2, 3]);
    await writeArchive(
      ark,
      [
        ['utt_b', vb],
        ['utt_a', va],
      ],
      scp,
    );
    expect(readFileSync(ark)).toEqual(bytes('utt_b ', [...vb], 'utt_a ', [...va]));
    expect(readFileSync(scp, 'utf8')).toBe(`utt_a ${ark}:${6 + vb.length + 6}\nutt_b ${ark}:6\n`);
    expect(readdirSync(dir).sort()).toEqual(['a.ark', 'a.scp']);
  });

  it('int32 vector text form (ark,t): "key v1 v2 ... \\n", each value followed by a space', async () => {
    expect(formatInt32VectorText('u1', [0, 12, -3])).toBe('u1 0 12 -3 \n');
    expect(formatInt32VectorText('u2', [])).toBe('u2 \n');
    const p = join(tempDir('kaldi-io-'), 'a.txt');
    writeFileSync(p, formatInt32VectorText('u1', [0, 12, -3]) + formatInt32VectorText('u2', []));
    expect((await readInt32VectorText(p)).map((e) => [e.key, Array.from(e.value)])).toEqual([
      ['u1', [0, 12, -3]],
      ['u2', []],
    ]);
  });
});

describe('round trips: write, read back (archive in order and through the scp), equal', () => {
  const rng = new Rng('kaldi-io');
  const keys = ['spk2-u1', 'spk1-u2', 'spk1-u1'];

  it('float and double matrices', async () => {
    const dir = tempDir('kaldi-io-');
    const mats = keys.map((_, i) => {
      const numRows = 1 + rng.int(20),
        numCols = 1 + rng.int(9);
      const values = Array.from({ length: numRows * numCols }, () => 100 * rng.gauss());
      const data = i === 1 ? Float64Array.from(values) : Float32Array.from(values);
      return { numRows, numCols, data };
    });
    await writeArchive(
      join(dir, 'm.ark'),
      keys.map((k, i) => [k, encodeMatrix(mats[i])]),
      join(dir, 'm.scp'),
    );
    const inOrder = await readKaldiArchive(join(dir, 'm.ark'), 'matrix');
    expect(inOrder.map((e) => e.key)).toEqual(keys);
    inOrder.forEach((e, i) => expect(e.value).toEqual(mats[i]));
    const viaScp = await readScpObjects(join(dir, 'm.scp'), 'matrix');
    expect(viaScp.map((e) => e.key)).toEqual([...keys].sort());
    for (const e of viaScp) expect(e.value).toEqual(mats[keys.indexOf(e.key)]);
    expect((await readScp(join(dir, 'm.scp'))).map((e) => e.offset)).toEqual(
      viaScp.map((e) => inOrder.find((x) => x.key === e.key)!.offset),
    );
  });

  it('int32 vectors and posteriors', async () => {
    const dir = tempDir('kaldi-io-');
    const vecs = keys.map(() => Int32Array.from({ length: rng.int(30) }, () => rng.int(5000) - 10));
    const posts: PosteriorFrame[][] = keys.map(() =>
      Array.from({ length: 1 + rng.int(10) }, () => {
        const k = rng.int(4);
        return {
          ids: Int32Array.from({ length: k }, () => rng.int(2000)),
          weights: Float32Array.from({ length: k }, () => rng.next()),
        };
      }),
    );
    await writeArchive(
      join(dir, 'v.ark'),
      keys.map((k, i) => [k, encodeInt32Vector(vecs[i])]),
      join(dir, 'v.scp'),
    );
    await writeArchive(
      join(dir, 'p.ark'),
      keys.map((k, i) => [k, encodePosterior(posts[i])]),
      join(dir, 'p.scp'),
    );
    expect((await readKaldiArchive(join(dir, 'v.ark'), 'int32-vector')).map((e) => e.value)).toEqual(vecs);
    expect((await readKaldiArchive(join(dir, 'p.ark'), 'posterior')).map((e) => e.value)).toEqual(posts);
    for (const e of await readScpObjects(join(dir, 'p.scp'), 'posterior'))
      expect(e.value).toEqual(posts[keys.indexOf(e.key)]);
    for (const e of await readScpObjects(join(dir, 'v.scp'), 'int32-vector'))
      expect(e.value).toEqual(vecs[keys.indexOf(e.key)]);
  });

  it('reads posterior weights Kaldi wrote as doubles (size byte 8), as ReadBasicType<float> does', () => {
    const d = Buffer.alloc(9);
    d[0] = 8;
    d.writeDoubleLE(0.1, 1);
    const post = decodeObject('posterior', bytes(B, [4, 1, 0, 0, 0], [4, 1, 0, 0, 0], [4, 7, 0, 0, 0], [...d]));
    expect(post).toEqual([{ ids: Int32Array.of(7), weights: Float32Array.of(0.1) }]);
  });
});

describe('bad archives and keys: typed errors naming the file, key and byte', () => {
  const expectFormatError = async (p: Promise<unknown>, pattern: RegExp) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(String((err as Error).message)).toMatch(pattern);
  };

  it('a truncated archive, a text archive, a compressed matrix, a wrong size byte', async () => {
    const dir = tempDir('kaldi-io-');
    const full = bytes('u1 ', [...encodeMatrix({ numRows: 2, numCols: 2, data: Float32Array.of(1, 2, 3, 4) })]);
    writeFileSync(join(dir, 'cut.ark'), full.subarray(0, full.length - 3));
    await expectFormatError(
      readKaldiArchive(join(dir, 'cut.ark'), 'matrix'),
      /cut\.ark, utterance 'u1': archive ends inside the matrix values \(byte 18\); expected 16 more bytes, found 13/,
    );
    writeFileSync(join(dir, 'text.ark'), 'u1  [\n  1 2 ]\n');
    await expectFormatError(readKaldiArchive(join(dir, 'text.ark'), 'matrix'), /not a binary Kaldi object/);
    writeFileSync(join(dir, 'cm.ark'), bytes('u1 ', B, 'CM ', [0, 0, 0, 0]));
    await expectFormatError(readKaldiArchive(join(dir, 'cm.ark'), 'matrix'), /compressed Kaldi matrices are not read/);
    writeFileSync(join(dir, 'size.ark'), bytes('u1 ', B, [8, 1, 0, 0, 0, 0, 0, 0, 0]));
    await expectFormatError(
      readKaldiArchive(join(dir, 'size.ark'), 'int32-vector'),
      /bad size byte of the vector length.*expected size byte 4 \(int32\), found 8/,
    );
    writeFileSync(
      join(dir, 'dup.ark'),
      Buffer.concat([
        bytes('u1 '),
        Buffer.from(encodeInt32Vector([1])),
        bytes('u1 '),
        Buffer.from(encodeInt32Vector([1])),
      ]),
    );
    await expectFormatError(readKaldiArchive(join(dir, 'dup.ark'), 'int32-vector'), /key appears twice/);
    writeFileSync(join(dir, 'a.scp'), `u1 ${join(dir, 'cut.ark')}:999\n`);
    await expectFormatError(
      readScpObjects(join(dir, 'a.scp'), 'matrix'),
      /a\.scp:1, utterance 'u1': scp offset past the end/,
    );
    writeFileSync(join(dir, 'b.scp'), 'u1 no-offset\n');
    await expectFormatError(readScp(join(dir, 'b.scp')), /b\.scp:1: bad scp line/);
  });

  it('the writer refuses bad and repeated keys and leaves nothing behind on abort', async () => {
    const dir = tempDir('kaldi-io-');
    const w = await KaldiArchiveWriter.open(join(dir, 'x.ark'), { scpPath: join(dir, 'x.scp') });
    await w.write('u1', encodeInt32Vector([1]));
    await expectFormatError(w.write('u1', encodeInt32Vector([1])), /key written twice/);
    await expectFormatError(w.write('u 2', encodeInt32Vector([1])), /not a valid Kaldi key/);
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, 'x.ark'))).toBe(false);
    expect(() => encodeMatrix({ numRows: 2, numCols: 2, data: new Float32Array(3) })).toThrow(FormatError);
    expect(() => encodeInt32Vector([2 ** 31])).toThrow(/not an int32/);
  });
});
