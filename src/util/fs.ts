/**
 * Atomic file output: everything is written to a temporary sibling and renamed into place,
 * so a crash or an error never leaves a half-written file or directory behind.
 */
import { promises as fsp, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from './errors.ts';

/** A temporary sibling of `path` (`.<name>.<pid>.<hex>.tmp`, the form tempOwner recognises). */
export function tmpSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

const TMP_NAME = /^\.(.+)\.\d+\.[0-9a-f]+\.tmp$/;

/**
 * The name whose temporary sibling `entry` is (`.<name>.<pid>.<hex>.tmp` -> `<name>`), or null
 * when `entry` is not such a temp. Nested temps, left when a process dies inside an atomic write
 * of a path that is itself a temp (`..align.<pid>.<hex>.tmp.<pid>.<hex>.tmp`: a library's atomic
 * output inside the runner's temp dir of the align stage), are unwrapped to the innermost name.
 */
export function tempOwner(entry: string): string | null {
  let m = TMP_NAME.exec(entry);
  if (!m) return null;
  let name = m[1];
  while ((m = TMP_NAME.exec(name))) name = m[1];
  return name;
}

/** Write a whole file atomically (temp file + rename). Creates parent directories. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = tmpSibling(path);
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tmpSibling(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Run `fill(tmpPath)` against a temporary path next to `path`, then rename it into place.
 * Works for files and directories (the callback creates whatever it wants at tmpPath).
 * On error the temporary output is removed and `path` is left untouched.
 */
export async function withAtomicOutput<T>(path: string, fill: (tmpPath: string) => Promise<T>): Promise<T> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = tmpSibling(path);
  try {
    const result = await fill(tmp);
    if (existsSync(path)) {
      // Replace an existing output: move it aside first so the rename cannot fail on a non-empty dir.
      const old = tmpSibling(path);
      await fsp.rename(path, old);
      await fsp.rename(tmp, path);
      await fsp.rm(old, { recursive: true, force: true });
    } else {
      await fsp.rename(tmp, path);
    }
    return result;
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Write JSON (2-space indent, trailing newline) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Errors of the file system that mean "this input path is wrong", not a bug. */
const INPUT_PATH_ERRORS: Record<string, string> = {
  ENOENT: 'file not found',
  EISDIR: 'not a file',
  ENOTDIR: 'file not found',
  EACCES: 'cannot read file',
};

/**
 * The ConfigError for a file-system error on an input the user named (`what`: e.g. 'a trn
 * file'), or null when `err` is not one of those (ENOENT, EISDIR, ENOTDIR, EACCES).
 */
export function inputPathError(path: string, what: string, err: unknown): ConfigError | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const message = code ? INPUT_PATH_ERRORS[code] : undefined;
  return message ? new ConfigError(message, { file: path, expected: what, found: code, cause: err }) : null;
}

/** Read a whole UTF-8 input file; a missing or unreadable one is a ConfigError naming it. */
export function readInputText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw inputPathError(path, what, err) ?? err;
  }
}
