/**
 * Fingerprints of directories and files, for the runner's skip decision.
 * - Output hash: sha256 over the sorted (relative path, size, sha256 of bytes) of every file a
 *   stage wrote (stage.json excluded). Outputs are deterministic, so a rerun that produces the
 *   same bytes gives the same hash and does not invalidate downstream stages.
 * - External inputs (corpora) in `stat` mode: sorted (relative path, size, mtime) of every file,
 *   so a corpus of tens of GB is fingerprinted in a directory walk, not a full read.
 */
import { promises as fsp } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { hashFile } from '../util/hash.ts';
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
export async function hashDirContent(root: string, exclude?: (rel: string) => boolean): Promise<{ hash: string; files: number; bytes: number }> {
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
export async function fingerprintInput(path: string, mode: 'stat' | 'content'): Promise<{ hash: string; files: number; bytes: number }> {
  try {
    await fsp.stat(path);
  } catch {
    throw new ConfigError('input not found', { file: path, expected: 'an existing file or directory', found: 'nothing' });
  }
  return mode === 'stat' ? hashDirStat(path) : hashDirContent(path);
}
