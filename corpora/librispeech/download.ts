/**
 * LibriSpeech download: `<baseUrl>/<subset>.tar.gz` (OpenSLR resource 12), resumable, md5-verified,
 * safely extracted to `<destDir>/LibriSpeech/<subset>`.
 *
 *   1. Download to `<destDir>/<subset>.tar.gz.part`; an existing .part is resumed with an HTTP
 *      Range request (a server that ignores Range and answers 200 restarts it from zero).
 *   2. Verify the md5 against the official sums (OpenSLR md5sum.txt); a mismatch deletes the
 *      archive and raises DownloadError (expected vs found), before anything is extracted.
 *   3. Rename .part -> .tar.gz, extract safely (src/corpus/archive.ts) into a temporary directory,
 *      then rename `LibriSpeech/<subset>` (and SPEAKERS.TXT etc. when absent) into place.
 */
import { createReadStream, existsSync, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { extractTarSafe } from '../../src/corpus/archive.ts';
import { ConfigError, DownloadError } from '../../src/util/errors.ts';
import { log, type Logger } from '../../src/util/log.ts';

export const LIBRISPEECH_BASE_URL = 'https://www.openslr.org/resources/12';

/** Official md5 sums of the subset archives (https://www.openslr.org/resources/12/md5sum.txt). */
export const LIBRISPEECH_MD5: Readonly<Record<string, string>> = {
  'dev-clean': '42e2234ba48799c1f50f24a7926300a1',
  'dev-other': 'c8d0bcc9cca99d4f8b62fcc847357931',
  'test-clean': '32fa31d27d2e1cad72775fee3f4849a9',
  'test-other': 'fb5a50374b501bb3bac4815ee91d3135',
  'train-clean-100': '2a93770f6d5c6c964bc36631d331a522',
  'train-clean-360': 'c0e676e450a7ff2f54aeade5171606fa',
  'train-other-500': 'd1a0fd59409feb2c614ce4d30c387708',
};

export interface DownloadLibrispeechOptions {
  /** Mirror base URL (default https://www.openslr.org/resources/12); `<baseUrl>/<subset>.tar.gz` is fetched. */
  baseUrl?: string;
  /** Expected md5 of the archive (default: the official sum of `subset`; required for other subsets). */
  md5?: string;
  /** Keep `<destDir>/<subset>.tar.gz` after extraction (default false). */
  keepArchive?: boolean;
  logger?: Logger;
}

/** Stream `url` into `part`, resuming from its current size. Throws DownloadError; the .part stays for the next try. */
export async function fetchResumable(url: string, part: string, logger: Logger = log): Promise<void> {
  const have = existsSync(part) ? (await fsp.stat(part)).size : 0;
  let res: Response;
  try {
    res = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, redirect: 'follow' });
  } catch (err) {
    throw new DownloadError(`cannot reach ${url} (${(err as Error).message})`, { file: part, cause: err });
  }
  if (res.status === 416 && have > 0) {
    // Range not satisfiable: the part already holds the whole file (the md5 check decides).
    await res.body?.cancel();
    return;
  }
  let append = false;
  let total: number | null;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== have) {
      await res.body?.cancel();
      throw new DownloadError('server answered a resume request with the wrong range', {
        file: url,
        expected: `bytes ${have}-`,
        found: res.headers.get('content-range') ?? 'no Content-Range',
      });
    }
    append = true;
    total = m[3] === '*' ? null : Number(m[3]);
    logger.info(`resuming ${url} at byte ${have}`);
  } else if (res.status === 200) {
    if (have > 0) logger.info(`server ignored the resume request; downloading ${url} from the start`);
    const len = res.headers.get('content-length');
    total = len !== null ? Number(len) : null;
  } else {
    await res.body?.cancel();
    throw new DownloadError(`HTTP ${res.status} ${res.statusText} for ${url}`, {
      file: url,
      expected: 'HTTP 200 or 206',
      found: String(res.status),
    });
  }
  if (!res.body) throw new DownloadError(`empty response body for ${url}`, { file: url });
  const start = append ? have : 0;
  let got = start;
  const progress = logger.progress(
    `download ${url.split('/').pop()}`,
    total !== null ? Math.ceil(total / 1048576) : 0,
    'MiB',
  );
  let reportedMiB = Math.floor(got / 1048576);
  progress.tick(reportedMiB);
  // Write chunk by chunk and await each write, so every byte received is on disk when the
  // connection drops (a piped write stream could lose its buffer on error).
  const fh = await fsp.open(part, append ? 'a' : 'w');
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      await fh.write(chunk);
      got += chunk.length;
      const mib = Math.floor(got / 1048576);
      if (mib > reportedMiB) {
        progress.tick(mib - reportedMiB);
        reportedMiB = mib;
      }
    }
  } catch (err) {
    throw new DownloadError(
      `download of ${url} interrupted after ${got} bytes (${(err as Error).message}); run again to resume`,
      {
        file: part,
        expected: total !== null ? `${total} bytes` : undefined,
        found: `${got} bytes`,
        cause: err,
      },
    );
  } finally {
    await fh.close();
  }
  progress.done();
  if (total !== null && got !== total) {
    throw new DownloadError(`download of ${url} ended early; run again to resume`, {
      file: part,
      expected: `${total} bytes`,
      found: `${got} bytes`,
    });
  }
}

/** md5 of a file, streaming. */
export async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Download, verify and extract one LibriSpeech subset. Resolves to `<destDir>/LibriSpeech/<subset>`
 * (returned at once when it already exists).
 */
export async function downloadLibrispeech(
  subset: string,
  destDir: string,
  opts: DownloadLibrispeechOptions = {},
): Promise<string> {
  const logger = opts.logger ?? log;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(subset))
    throw new ConfigError('bad LibriSpeech subset name', {
      keyPath: 'subset',
      expected: 'e.g. train-clean-100',
      found: JSON.stringify(subset),
    });
  const md5 = (opts.md5 ?? LIBRISPEECH_MD5[subset])?.toLowerCase();
  if (!md5) {
    throw new ConfigError(`no md5 sum known for LibriSpeech subset '${subset}'`, {
      keyPath: 'md5',
      expected: `one of ${Object.keys(LIBRISPEECH_MD5).join(', ')}, or an explicit md5`,
      found: subset,
    });
  }
  const dest = resolve(destDir);
  const root = join(dest, 'LibriSpeech');
  const target = join(root, subset);
  if (existsSync(target)) {
    logger.info(`LibriSpeech ${subset} already present at ${target}`);
    return target;
  }
  await fsp.mkdir(dest, { recursive: true });
  const url = `${(opts.baseUrl ?? LIBRISPEECH_BASE_URL).replace(/\/+$/, '')}/${subset}.tar.gz`;
  const archive = join(dest, `${subset}.tar.gz`);
  const part = `${archive}.part`;
  if (!existsSync(archive)) {
    await fetchResumable(url, part, logger);
    const found = await md5File(part);
    if (found !== md5) {
      await fsp.rm(part, { force: true });
      throw new DownloadError(`md5 mismatch for ${url} (the download was deleted; run again)`, {
        file: part,
        expected: md5,
        found,
      });
    }
    await fsp.rename(part, archive);
  } else {
    const found = await md5File(archive);
    if (found !== md5) {
      await fsp.rm(archive, { force: true });
      throw new DownloadError('md5 mismatch for an existing archive (deleted; run again)', {
        file: archive,
        expected: md5,
        found,
      });
    }
  }
  const tmp = join(dest, `.${subset}.extract.${process.pid}.tmp`);
  await fsp.rm(tmp, { recursive: true, force: true });
  const progress = logger.progress(`extract ${subset}`, 0, 'files');
  try {
    await extractTarSafe(archive, tmp, { onFile: () => progress.tick() });
    progress.done();
    const extracted = join(tmp, 'LibriSpeech', subset);
    if (!existsSync(extracted)) {
      throw new DownloadError(`archive does not contain LibriSpeech/${subset}/`, {
        file: archive,
        expected: `LibriSpeech/${subset}/...`,
        found: (await fsp.readdir(tmp)).join(', ') || 'nothing',
      });
    }
    await fsp.mkdir(root, { recursive: true });
    for (const f of await fsp.readdir(join(tmp, 'LibriSpeech'))) {
      if (f === subset) continue;
      const to = join(root, f);
      if (!existsSync(to)) await fsp.rename(join(tmp, 'LibriSpeech', f), to);
    }
    await fsp.rename(extracted, target);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  if (!opts.keepArchive) await fsp.rm(archive, { force: true });
  logger.info(`LibriSpeech ${subset} ready at ${target}`);
  return target;
}
