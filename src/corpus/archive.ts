/**
 * Safe extraction of (gzipped) tar archives downloaded from the internet.
 *
 * Pass 1 lists every member header and rejects the archive, before anything is written, when a
 * member has an absolute path, a `..` component, is a symbolic or hard link whose target leaves
 * the destination, or is a device/FIFO. Pass 2 extracts into a fresh temporary directory with the
 * same check as a filter (defence in depth); the caller renames the result into place.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, isAbsolute, posix, resolve, sep } from 'node:path';
import { list, extract, type ReadEntry } from 'tar';
import { DownloadError } from '../util/errors.ts';

const REGULAR = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'GNUDumpDir']);

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + sep);
}

/** Why a member is unsafe to extract under `root`, or null when it is safe. */
export function unsafeMemberReason(root: string, path: string, type: string, linkpath?: string): string | null {
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || isAbsolute(path)) return 'absolute path';
  if (path.split(/[\\/]/).includes('..')) return "path with a '..' component";
  const target = resolve(root, path);
  if (!inside(root, target)) return 'path outside the destination';
  if (REGULAR.has(type)) return null;
  if (type === 'SymbolicLink') {
    if (!linkpath) return 'symbolic link without a target';
    if (linkpath.startsWith('/') || isAbsolute(linkpath)) return `symbolic link to the absolute path '${linkpath}'`;
    if (!inside(root, resolve(dirname(target), linkpath)))
      return `symbolic link to '${linkpath}', outside the destination`;
    return null;
  }
  if (type === 'Link') {
    if (!linkpath) return 'hard link without a target';
    if (
      linkpath.startsWith('/') ||
      isAbsolute(linkpath) ||
      linkpath.split(/[\\/]/).includes('..') ||
      !inside(root, resolve(root, linkpath))
    ) {
      return `hard link to '${linkpath}', outside the destination`;
    }
    return null;
  }
  return `unsupported member type ${type}`;
}

export interface ExtractOptions {
  /** Called once per extracted regular file (for progress). */
  onFile?: (path: string) => void;
}

/**
 * Check every member of `archive`, then extract it into `destDir` (which must not exist yet).
 * On any error `destDir` is removed again. Throws DownloadError naming the archive and the member.
 */
export async function extractTarSafe(archive: string, destDir: string, opts: ExtractOptions = {}): Promise<void> {
  const root = resolve(destDir);
  if (existsSync(root))
    throw new DownloadError('extraction target already exists', { file: root, expected: 'a fresh directory' });
  let bad: { path: string; reason: string } | null = null;
  try {
    await list({
      file: archive,
      strict: true,
      onReadEntry: (e: ReadEntry) => {
        if (bad) return;
        const reason = unsafeMemberReason(root, e.path, e.type, e.linkpath);
        if (reason) bad = { path: e.path, reason };
      },
    });
  } catch (err) {
    throw new DownloadError(`cannot read archive (${(err as Error).message})`, { file: archive, cause: err });
  }
  if (bad) {
    const b = bad as { path: string; reason: string };
    throw new DownloadError(`unsafe archive member '${b.path}': ${b.reason}`, {
      file: archive,
      expected: 'relative member paths inside the destination',
      found: b.reason,
    });
  }
  await fsp.mkdir(root, { recursive: true });
  try {
    await extract({
      file: archive,
      cwd: root,
      strict: true,
      preserveOwner: false,
      filter: (p: string, e: unknown) => {
        const entry = e as ReadEntry;
        const reason = unsafeMemberReason(root, entry.path ?? p, entry.type ?? 'File', entry.linkpath);
        if (reason) throw new DownloadError(`unsafe archive member '${p}': ${reason}`, { file: archive });
        if (entry.type === 'File' || entry.type === 'OldFile') opts.onFile?.(posix.normalize(p));
        return true;
      },
    });
  } catch (err) {
    await fsp.rm(root, { recursive: true, force: true });
    if (err instanceof DownloadError) throw err;
    throw new DownloadError(`extraction failed (${(err as Error).message})`, { file: archive, cause: err });
  }
}
