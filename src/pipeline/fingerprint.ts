/**
 * Fingerprints of directories and files, for the runner's skip decision.
 * - Output hash: sha256 over the sorted (relative path, size, sha256 of bytes) of every file a
 *   stage wrote (stage.json excluded). Outputs are deterministic, so a rerun that produces the
 *   same bytes gives the same hash and does not invalidate downstream stages.
 * - External inputs (corpora) in `stat` mode: sorted (relative path, size, mtime) of every file,
 *   so a corpus of tens of GB is fingerprinted in a directory walk, not a full read.
 * - Output check: per output file its size and the sha256 of the bytes at its end (the last
 *   64 KiB, or the whole footer of an Arrow IPC file when that is longer), recorded when a stage
 *   finishes and compared on every rerun, so an output truncated or overwritten at its end since
 *   then is noticed for the price of a stat and one small read per file.
 */
import { promises as fsp } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { hashFile, sha256Hex } from '../util/hash.ts';
import { ConfigError } from '../util/errors.ts';

/** Every regular file under `root` (or `root` itself if it is a file), sorted by relative path ('/' separators). */
export async function listFiles(root: string, exclude: (rel: string) => boolean = () => false): Promise<string[]> {
  const st = await fsp.stat(root);
  if (st.isFile()) return [''];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (exclude(rel)) continue;
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) out.push(rel);
      else if (e.isSymbolicLink()) {
        const t = await fsp.stat(abs).catch(() => null);
        if (t?.isDirectory()) await walk(abs);
        else if (t?.isFile()) out.push(rel);
      }
    }
  };
  await walk(root);
  // Sort by code units so the order does not depend on the locale.
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Content hash of a directory's files (see module doc). */
export async function hashDirContent(
  root: string,
  exclude?: (rel: string) => boolean,
): Promise<{ hash: string; files: number; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  const files = await listFiles(root, exclude);
  for (const rel of files) {
    const abs = rel === '' ? root : join(root, rel);
    const st = await fsp.stat(abs);
    bytes += st.size;
    h.update(`${rel}\0${st.size}\0${await hashFile(abs)}\n`);
  }
  return { hash: h.digest('hex'), files: files.length, bytes };
}

/** Cheap fingerprint of a directory or file: relative paths, sizes and mtimes. */
export async function hashDirStat(root: string): Promise<{ hash: string; files: number; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  const files = await listFiles(root);
  for (const rel of files) {
    const st = await fsp.stat(rel === '' ? root : join(root, rel));
    bytes += st.size;
    h.update(`${rel}\0${st.size}\0${Math.trunc(st.mtimeMs)}\n`);
  }
  return { hash: h.digest('hex'), files: files.length, bytes };
}

/** Fingerprint an external input; a missing path is a ConfigError naming it. */
export async function fingerprintInput(
  path: string,
  mode: 'stat' | 'content',
): Promise<{ hash: string; files: number; bytes: number }> {
  try {
    await fsp.stat(path);
  } catch {
    throw new ConfigError('input not found', {
      file: path,
      expected: 'an existing file or directory',
      found: 'nothing',
    });
  }
  return mode === 'stat' ? hashDirStat(path) : hashDirContent(path);
}

/** One output file as recorded for the cheap rerun check. */
export interface OutputFileCheck {
  /** Relative path ('/' separators). */
  path: string;
  bytes: number;
  /** sha256 of the file's tail (see tailBytes). */
  tailSha256: string;
}

/** Bytes hashed at the end of every output file (at least; an Arrow footer may need more). */
export const OUTPUT_TAIL_BYTES = 64 * 1024;

/** How many bytes at the end of a file of `size` bytes whose last 10 bytes are `trailer` are hashed. */
function tailBytes(size: number, trailer: Buffer): number {
  let n = OUTPUT_TAIL_BYTES;
  // Arrow IPC file: <footer> <int32 footer length> "ARROW1". Cover the whole footer (the block
  // index and the schema), which can outgrow 64 KiB in a file with many record batches.
  if (trailer.length === 10 && trailer.toString('latin1', 4) === 'ARROW1') n = Math.max(n, trailer.readInt32LE(0) + 10);
  return Math.min(size, Math.max(0, n));
}

async function fileTail(abs: string): Promise<{ bytes: number; tailSha256: string }> {
  const fh = await fsp.open(abs, 'r');
  try {
    const size = (await fh.stat()).size;
    const trailer = Buffer.alloc(Math.min(10, size));
    await fh.read(trailer, 0, trailer.length, size - trailer.length);
    const n = tailBytes(size, trailer);
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await fh.read(buf, got, n - got, size - n + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { bytes: size, tailSha256: sha256Hex(buf.subarray(0, got)) };
  } finally {
    await fh.close();
  }
}

/** The output check of every file under `root` (sorted by path). */
export async function outputChecks(root: string, exclude?: (rel: string) => boolean): Promise<OutputFileCheck[]> {
  const out: OutputFileCheck[] = [];
  for (const rel of await listFiles(root, exclude)) out.push({ path: rel, ...(await fileTail(join(root, rel))) });
  return out;
}

/**
 * Compare the files under `root` with their recorded checks: null when every recorded file is
 * there with its size and tail, else what differs first (files added since are not looked at).
 */
export async function damagedOutput(root: string, checks: readonly OutputFileCheck[]): Promise<string | null> {
  for (const c of checks) {
    const abs = join(root, c.path);
    const st = await fsp.stat(abs).catch(() => null);
    if (!st?.isFile()) return `${c.path}: missing`;
    if (st.size !== c.bytes) return `${c.path}: ${st.size} bytes, recorded ${c.bytes}`;
    if ((await fileTail(abs)).tailSha256 !== c.tailSha256) return `${c.path}: the bytes at its end changed`;
  }
  return null;
}

/** Records without output checks (older runs): the number of files and their total size. */
export async function damagedOutputTotals(
  root: string,
  recorded: { files: number; bytes: number },
  exclude?: (rel: string) => boolean,
): Promise<string | null> {
  const files = await listFiles(root, exclude).catch(() => []);
  let bytes = 0;
  for (const rel of files) bytes += (await fsp.stat(join(root, rel))).size;
  if (files.length === recorded.files && bytes === recorded.bytes) return null;
  return `${files.length} files of ${bytes} bytes, recorded ${recorded.files} files of ${recorded.bytes} bytes`;
}
