/**
 * `am-distill export kaldi <expDir> --out DIR`: what an experiment made, as Kaldi files, so that a
 * Kaldi user can go on in Kaldi (binary formats: src/formats/kaldi-io.ts).
 *
 *   <out>/export.json                 what was written, per split, with counts (written last)
 *   <out>/data/<split>/               Kaldi data dir: wav.scp text utt2spk spk2utt utt2dur reco2dur
 *                                     [segments] + feats.scp (log-mel fbank) + cmvn.scp
 *   <out>/data/<split>_mfcc/          the same data dir with the MFCCs (when the features have them)
 *   <out>/fbank/raw_fbank_<split>.{ark,scp}, cmvn_<split>.{ark,scp}   (the names of make_fbank.sh and
 *                                     compute_cmvn_stats.sh, which also copy the scp into the data dir)
 *   <out>/mfcc/raw_mfcc_<split>.{ark,scp}, cmvn_<split>.{ark,scp}
 *   <out>/ali/phones.txt              phone symbols and ids of the alignments (<eps> 0)
 *   <out>/ali/pdf_map.txt             "<pdf-id> <phone> <hmm-state>": each pdf id (senone) of the
 *                                     alignments and posteriors, with its centre phone and HMM state
 *   <out>/ali/num_pdfs                the number of pdf ids
 *   <out>/ali/<split>/ali_pdf.{ark,scp,txt}     pdf id per frame, as `ali-to-pdf` writes it
 *   <out>/ali/<split>/ali_phone.{ark,scp,txt}   phone id per frame (`ali-to-phones --per-frame`)
 *   <out>/post/<split>/<set>/post.{ark,scp}     soft targets as Kaldi posteriors (pdf id, weight)
 *
 * Features are exported raw, before CMVN, as the pipeline stores them; cmvn.scp holds each
 * speaker's statistics in Kaldi's format (2 x (D+1) doubles, count in row 0's last column), so
 * `apply-cmvn --norm-vars=true --utt2spk=ark:data/<split>/utt2spk scp:data/<split>/cmvn.scp scp:data/<split>/feats.scp ark:-`
 * normalises them per speaker as the nets did (mean and variance, their default). Only the utterances of the
 * prepared manifests that have features are exported: VTLP copies (features.vtlp) are left out, as
 * their audio cannot be named in a wav.scp. Archives follow the Arrow files' order; scp files and
 * data-dir files are sorted (C locale) as utils/validate_data_dir.sh wants. scp lines name the
 * archives by absolute path. Posterior weights are the stored probabilities (renormalised over the
 * top k with residual 'renormalise'; with 'store' the residual mass is not exported). Transition ids
 * (Kaldi's raw alignments) are not exported: they only mean something with a Kaldi model.
 * The directory appears complete or not at all.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCorpusInfo, readSplit, compareIds } from '../corpus/manifest.ts';
import { writeKaldiDataDir } from '../corpus/kaldi.ts';
import type { SplitManifest } from '../corpus/types.ts';
import { readFeatureFile, readFeatureMetadata } from '../features/store.ts';
import { readCmvnFile } from '../features/cmvn-file.ts';
import { readAlignmentFile, readAlignmentMetadata } from '../align/store.ts';
import { readSoftTargetFile, readSoftTargetMetadata } from '../distill/store.ts';
import { readTargetsFile } from '../formats/targets.ts';
import {
  encodeInt32Vector,
  encodeMatrix,
  encodePosterior,
  formatInt32VectorText,
  KaldiArchiveWriter,
  type PosteriorFrame,
} from '../formats/kaldi-io.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { withAtomicOutput, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLogger, type Logger } from '../util/log.ts';

export const KALDI_EXPORT_FORMAT = 'am-distill.kaldi-export';
export const KALDI_EXPORT_JSON = 'export.json';

export interface ExportKaldiOptions {
  /** A finished experiment directory (prepare/, features/, and optionally align/, targets/). */
  expDir: string;
  /** Output directory; replaced atomically (an existing one must be an earlier export). */
  outDir: string;
  /** Splits to export. Default: every split with features. */
  splits?: string[];
  /** Also export the dense target set (k = all senones; large). Default false. */
  denseTargets?: boolean;
  logger?: Logger;
}

export interface ExportedSplit {
  utterances: number;
  frames: number;
  /** Utterances of the feature file left out (VTLP copies, or not in the manifest). */
  leftOut: number;
  fbank: { dim: number; cmvnSpeakers: number };
  mfcc: { dim: number; cmvnSpeakers: number } | null;
  alignments: { utterances: number } | null;
  posteriors: Record<string, { utterances: number; temperature: number; k: number }>;
}

export interface KaldiExportSummary {
  format: typeof KALDI_EXPORT_FORMAT;
  version: 1;
  expDir: string;
  features: { stored: 'raw, before CMVN'; frameShiftMs: number; sampleRateHz: number };
  numPdfs: number | null;
  /** Weights of the exported posteriors: as stored (see the residual mode). */
  targets: {
    split: string;
    residual: string;
    sets: { name: string; temperature: number; k: number; exported: boolean }[];
  } | null;
  splits: Record<string, ExportedSplit>;
}

/** Stage directories of an experiment. */
function stageDir(expDir: string, stage: string): string {
  return join(expDir, stage);
}

async function checkOutDir(outDir: string): Promise<void> {
  if (!existsSync(outDir)) return;
  const entries = await fsp.readdir(outDir).catch(() => null);
  if (entries === null)
    throw new ConfigError('output path exists and is not a directory', {
      file: outDir,
      expected: 'a new directory or an earlier Kaldi export',
    });
  if (entries.length > 0 && !entries.includes(KALDI_EXPORT_JSON)) {
    throw new ConfigError('output directory exists and is not a Kaldi export (it would be replaced)', {
      file: outDir,
      expected: `a new or empty directory, or one with ${KALDI_EXPORT_JSON}`,
      found: `${entries.length} entries`,
    });
  }
}

/** Feature splits of the experiment (`features/<split>.arrow`). */
async function featureSplits(featuresDir: string): Promise<string[]> {
  if (!existsSync(featuresDir))
    throw new ConfigError('not a finished experiment: no features stage output', {
      file: featuresDir,
      expected: 'the features/ directory of a run that reached the features stage',
      found: 'no such directory',
    });
  return (await fsp.readdir(featuresDir))
    .filter((n) => /^[^.]+\.arrow$/.test(n))
    .map((n) => n.slice(0, -'.arrow'.length))
    .sort(compareIds);
}

/** The manifest restricted to `keep` (utterances with features), recordings that are still used. */
function restrictManifest(m: SplitManifest, keep: ReadonlySet<string>): SplitManifest {
  const supervisions = m.supervisions.filter((s) => keep.has(s.id));
  const used = new Set(supervisions.map((s) => s.recordingId));
  return { recordings: m.recordings.filter((r) => used.has(r.id)), supervisions };
}

interface SplitContext {
  split: string;
  tmp: string;
  final: string;
  manifest: SplitManifest;
  /** Exported utterances with their frame counts. */
  frames: Map<string, number>;
}

/** `<tmp>/<dir>/<name>.ark` + `.scp`, the scp naming the archive at its final place. */
function openArchive(ctx: Pick<SplitContext, 'tmp' | 'final'>, dir: string, name: string): Promise<KaldiArchiveWriter> {
  const ark = join(dir, `${name}.ark`);
  return KaldiArchiveWriter.open(join(ctx.tmp, ark), {
    scpPath: join(ctx.tmp, dir, `${name}.scp`),
    arkPathInScp: join(ctx.final, ark),
  });
}

/** Write `<split>.arrow` features as fbank (and mfcc) archives; returns the exported frame counts. */
async function exportFeatures(
  ctx: Omit<SplitContext, 'frames'>,
  featuresPath: string,
): Promise<{ frames: Map<string, number>; leftOut: number; mfccDim: number | null; fbankDim: number }> {
  const meta = await readFeatureMetadata(featuresPath);
  const inManifest = new Set(ctx.manifest.supervisions.map((s) => s.id));
  const { fbankDim, mfccDim } = meta.featureConfig;
  const streams = ['fbank', ...(mfccDim ? ['mfcc'] : [])];
  const writers = await Promise.all(streams.map((name) => openArchive(ctx, name, `raw_${name}_${ctx.split}`)));
  const frames = new Map<string, number>();
  let leftOut = 0;
  try {
    for await (const u of readFeatureFile(featuresPath)) {
      if (!inManifest.has(u.uttId)) {
        leftOut++;
        continue;
      }
      frames.set(u.uttId, u.fbank.numFrames);
      await writers[0].write(
        u.uttId,
        encodeMatrix({ numRows: u.fbank.numFrames, numCols: u.fbank.dim, data: u.fbank.data }),
      );
      if (u.mfcc)
        await writers[1].write(
          u.uttId,
          encodeMatrix({ numRows: u.mfcc.numFrames, numCols: u.mfcc.dim, data: u.mfcc.data }),
        );
    }
    for (const w of writers) await w.finish();
  } catch (err) {
    for (const w of writers) await w.abort();
    throw err;
  }
  return { frames, leftOut, mfccDim, fbankDim };
}

/** <stream>/cmvn_<split>.{ark,scp} from the stored per-speaker statistics, the scp copied into the data dir. */
async function exportCmvn(
  ctx: SplitContext,
  cmvnPath: string,
  stream: 'fbank' | 'mfcc',
  dataDir: string,
  logger: Logger,
): Promise<number> {
  if (!existsSync(cmvnPath)) {
    logger.warn(
      `export kaldi: no CMVN statistics for split '${ctx.split}' (${cmvnPath}): no ${join(dataDir, 'cmvn.scp')}`,
    );
    return 0;
  }
  const file = await readCmvnFile(cmvnPath);
  const stats = file.streams.get(stream);
  if (!stats) {
    logger.warn(`export kaldi: ${cmvnPath} has no '${stream}' statistics: no ${join(dataDir, 'cmvn.scp')}`);
    return 0;
  }
  const speakers = [...new Set(ctx.manifest.supervisions.map((s) => s.speaker))].sort(compareIds);
  const w = await openArchive(ctx, stream, `cmvn_${ctx.split}`);
  try {
    for (const spk of speakers) {
      const s = stats.get(spk);
      if (!s)
        throw new FormatError('speaker without CMVN statistics', {
          file: cmvnPath,
          keyPath: `streams.${stream}.speakers.${spk}`,
          expected: `statistics of every speaker of split '${ctx.split}'`,
          found: 'none',
        });
      const m = s.toKaldiMatrix();
      await w.write(spk, encodeMatrix({ numRows: 2, numCols: s.dim + 1, data: Float64Array.from(m.flat()) }));
    }
    await w.finish();
  } catch (err) {
    await w.abort();
    throw err;
  }
  await fsp.copyFile(join(ctx.tmp, stream, `cmvn_${ctx.split}.scp`), join(ctx.tmp, dataDir, 'cmvn.scp'));
  return speakers.length;
}

/** Frame-count check shared by alignments and posteriors: they join the features on (utt, frame). */
function checkFrames(ctx: SplitContext, file: string, uttId: string, n: number): boolean {
  const want = ctx.frames.get(uttId);
  if (want === undefined) return false;
  if (want !== n)
    throw new FormatError('frame count differs from the features', {
      file,
      uttId,
      expected: `${want} frames (features of split '${ctx.split}')`,
      found: `${n} frames`,
    });
  return true;
}

interface PdfInventory {
  numPdfs: number;
  /** Phone symbols by id (<eps> 0), as lang/phones.txt. */
  phones: string[];
  senones: { id: number; phone: string; hmmState: number }[];
}

/** ali_pdf / ali_phone archives (+ scp, + text form) of one split. */
async function exportAlignments(ctx: SplitContext, alignPath: string, inv: PdfInventory): Promise<number> {
  const meta = await readAlignmentMetadata(alignPath);
  if (meta.numSenones !== inv.numPdfs)
    throw new FormatError('senone count differs from senones.json', {
      file: alignPath,
      expected: String(inv.numPdfs),
      found: String(meta.numSenones),
    });
  if (JSON.stringify(meta.phones) !== JSON.stringify(inv.phones))
    throw new FormatError('phone list differs from senones.json', {
      file: alignPath,
      expected: inv.phones.join(' '),
      found: meta.phones.join(' '),
    });
  const dir = join('ali', ctx.split);
  const pdf = await openArchive(ctx, dir, 'ali_pdf');
  const phone = await openArchive(ctx, dir, 'ali_phone');
  // The text forms stream into the export's temporary directory (renamed into place as a whole).
  const pdfText = await fsp.open(join(ctx.tmp, dir, 'ali_pdf.txt'), 'w');
  const phoneText = await fsp.open(join(ctx.tmp, dir, 'ali_phone.txt'), 'w');
  try {
    for await (const a of readAlignmentFile(alignPath)) {
      if (!checkFrames(ctx, alignPath, a.uttId, a.senone.length)) continue;
      await pdf.write(a.uttId, encodeInt32Vector(a.senone));
      await phone.write(a.uttId, encodeInt32Vector(a.phone));
      await pdfText.write(formatInt32VectorText(a.uttId, a.senone));
      await phoneText.write(formatInt32VectorText(a.uttId, a.phone));
    }
    await pdf.finish();
    await phone.finish();
    return pdf.count;
  } catch (err) {
    await pdf.abort();
    await phone.abort();
    throw err;
  } finally {
    await pdfText.close();
    await phoneText.close();
  }
}

/** One target set as post.ark + post.scp. */
async function exportPosteriors(ctx: SplitContext, path: string, setName: string, numPdfs: number): Promise<number> {
  const meta = await readSoftTargetMetadata(path);
  if (meta.numSenones !== numPdfs)
    throw new FormatError('senone count differs from senones.json', {
      file: path,
      expected: String(numPdfs),
      found: String(meta.numSenones),
    });
  const w = await openArchive(ctx, join('post', ctx.split, setName), 'post');
  try {
    for await (const u of readSoftTargetFile(path)) {
      if (!checkFrames(ctx, path, u.uttId, u.numFrames)) continue;
      const frames: PosteriorFrame[] = [];
      for (let t = 0; t < u.numFrames; t++)
        frames.push({ ids: u.ids.subarray(t * u.k, (t + 1) * u.k), weights: u.probs.subarray(t * u.k, (t + 1) * u.k) });
      await w.write(u.uttId, encodePosterior(frames));
    }
    return (await w.finish()).count;
  } catch (err) {
    await w.abort();
    throw err;
  }
}

async function readPdfInventory(alignDir: string): Promise<PdfInventory> {
  const file = join(alignDir, 'senones.json');
  let j: {
    format?: string;
    numSenones?: number;
    phones?: string[];
    senones?: { id: number; phone: string; hmmState: number }[];
  };
  try {
    j = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (cause) {
    throw new FormatError('unreadable senone inventory', {
      file,
      cause,
      expected: 'senones.json written by the align stage',
      found: (cause as NodeJS.ErrnoException).code ?? String(cause),
    });
  }
  const senones = j.senones;
  if (
    j.format !== 'am-distill.senones' ||
    !Array.isArray(senones) ||
    !Array.isArray(j.phones) ||
    senones.length !== j.numSenones ||
    senones.some((s, i) => s.id !== i)
  ) {
    throw new FormatError('not a senone inventory', {
      file,
      expected: 'format am-distill.senones with numSenones entries, ids 0, 1, 2, ...',
      found: `format ${j.format}, ${senones?.length ?? 0} senones`,
    });
  }
  return { numPdfs: senones.length, phones: j.phones, senones };
}

/** ali/phones.txt, ali/pdf_map.txt, ali/num_pdfs. */
async function writeInventory(tmp: string, inv: PdfInventory): Promise<void> {
  await writeFileAtomic(join(tmp, 'ali', 'phones.txt'), inv.phones.map((p, i) => `${p} ${i}\n`).join(''));
  await writeFileAtomic(
    join(tmp, 'ali', 'pdf_map.txt'),
    inv.senones.map((s) => `${s.id} ${s.phone} ${s.hmmState}\n`).join(''),
  );
  await writeFileAtomic(join(tmp, 'ali', 'num_pdfs'), `${inv.numPdfs}\n`);
}

/** Export a finished experiment as Kaldi files (see the module comment for the layout). */
export async function exportKaldi(opts: ExportKaldiOptions): Promise<KaldiExportSummary> {
  const logger = opts.logger ?? defaultLogger;
  const expDir = resolve(opts.expDir);
  const outDir = resolve(opts.outDir);
  const featuresDir = stageDir(expDir, 'features');
  const alignDir = stageDir(expDir, 'align');
  const targetsDir = stageDir(expDir, 'targets');
  const dataDir = stageDir(expDir, 'prepare');
  const available = await featureSplits(featuresDir);
  const splits = opts.splits ?? available;
  for (const s of splits) {
    if (!available.includes(s))
      throw new ConfigError(`no features for split '${s}'`, {
        file: featuresDir,
        keyPath: 'splits',
        expected: `one of ${available.join(', ') || '(none)'}`,
        found: s,
      });
  }
  if (splits.length === 0)
    throw new ConfigError('nothing to export', { file: featuresDir, expected: 'at least one <split>.arrow' });
  const info = await readCorpusInfo(dataDir);
  for (const s of splits) {
    if (!info.splits.includes(s))
      throw new ConfigError(`split '${s}' has features but is not in the prepared corpus`, {
        file: join(dataDir, 'corpus.json'),
        expected: info.splits.join(', '),
        found: s,
      });
  }
  await checkOutDir(outDir);
  const hasAlign = existsSync(alignDir);
  const inv = hasAlign ? await readPdfInventory(alignDir) : null;
  const targets = existsSync(join(targetsDir, 'targets.json')) ? await readTargetsFile(targetsDir) : null;
  const firstMeta = await readFeatureMetadata(join(featuresDir, `${splits[0]}.arrow`));
  const summary: KaldiExportSummary = {
    format: KALDI_EXPORT_FORMAT,
    version: 1,
    expDir,
    features: {
      stored: 'raw, before CMVN',
      frameShiftMs: firstMeta.featureConfig.frameShiftMs,
      sampleRateHz: firstMeta.featureConfig.sampleRateHz,
    },
    numPdfs: inv?.numPdfs ?? null,
    targets: targets && {
      split: targets.split,
      residual: targets.config.residual,
      sets: targets.sets.map((s) => ({
        name: s.name,
        temperature: s.temperature,
        k: s.k,
        exported: s.name !== 'dense' || opts.denseTargets === true,
      })),
    },
    splits: {},
  };
  await withAtomicOutput(outDir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    if (inv) await writeInventory(tmp, inv);
    for (const split of splits) {
      const manifest = await readSplit(dataDir, split);
      const base = { split, tmp, final: outDir, manifest };
      const f = await exportFeatures(base, join(featuresDir, `${split}.arrow`));
      const ctx: SplitContext = {
        ...base,
        manifest: restrictManifest(manifest, new Set(f.frames.keys())),
        frames: f.frames,
      };
      if (ctx.frames.size === 0)
        throw new FormatError(`no utterance of split '${split}' to export`, {
          file: join(featuresDir, `${split}.arrow`),
          expected: 'utterances of the prepared manifest',
          found: `${f.leftOut} others`,
        });
      const dataDirs = [join('data', split), ...(f.mfccDim ? [join('data', `${split}_mfcc`)] : [])];
      for (const [i, d] of dataDirs.entries()) {
        await writeKaldiDataDir(join(tmp, d), ctx.manifest, { logger });
        const stream = i === 0 ? 'fbank' : 'mfcc';
        await fsp.copyFile(join(tmp, stream, `raw_${stream}_${split}.scp`), join(tmp, d, 'feats.scp'));
      }
      const cmvnPath = join(featuresDir, `${split}.cmvn.json`);
      const fbankSpk = await exportCmvn(ctx, cmvnPath, 'fbank', dataDirs[0], logger);
      const mfccSpk = f.mfccDim ? await exportCmvn(ctx, cmvnPath, 'mfcc', dataDirs[1], logger) : 0;
      const alignPath = join(alignDir, `${split}.arrow`);
      const aligned = inv && existsSync(alignPath) ? await exportAlignments(ctx, alignPath, inv) : null;
      const posteriors: ExportedSplit['posteriors'] = {};
      if (targets && inv && targets.split === split) {
        for (const s of targets.sets) {
          if (s.name === 'dense' && !opts.denseTargets) continue;
          posteriors[s.name] = {
            utterances: await exportPosteriors(ctx, join(targetsDir, s.file), s.name, inv.numPdfs),
            temperature: s.temperature,
            k: s.k,
          };
        }
      }
      summary.splits[split] = {
        utterances: ctx.frames.size,
        frames: [...ctx.frames.values()].reduce((a, b) => a + b, 0),
        leftOut: f.leftOut,
        fbank: { dim: f.fbankDim, cmvnSpeakers: fbankSpk },
        mfcc: f.mfccDim ? { dim: f.mfccDim, cmvnSpeakers: mfccSpk } : null,
        alignments: aligned === null ? null : { utterances: aligned },
        posteriors,
      };
      logger.info(
        `export kaldi ${split}: ${ctx.frames.size} utterances${f.leftOut ? ` (${f.leftOut} VTLP copies or unlisted left out)` : ''}, ` +
          `${aligned ?? 0} aligned, posteriors: ${
            Object.entries(posteriors)
              .map(([n, p]) => `${n} ${p.utterances}`)
              .join(', ') || 'none'
          }`,
      );
    }
    await writeJsonAtomic(join(tmp, KALDI_EXPORT_JSON), summary);
  });
  return summary;
}

/** `am-distill export kaldi-data`: each split of a prepared data dir as a Kaldi data dir `<out>/<split>/`. */
export async function exportKaldiDataDirs(
  dataDir: string,
  outDir: string,
  opts: { splits?: string[]; logger?: Logger } = {},
): Promise<Record<string, { utterances: number; recordings: number }>> {
  const info = await readCorpusInfo(dataDir);
  const splits = opts.splits ?? info.splits;
  for (const s of splits) {
    if (!info.splits.includes(s))
      throw new ConfigError(`split '${s}' is not in the corpus`, {
        file: join(dataDir, 'corpus.json'),
        keyPath: 'splits',
        expected: `one of ${info.splits.join(', ')}`,
        found: s,
      });
  }
  const out: Record<string, { utterances: number; recordings: number }> = {};
  for (const s of splits) {
    const m = await readSplit(resolve(dataDir), s);
    await writeKaldiDataDir(join(outDir, s), m, { logger: opts.logger });
    out[s] = { utterances: m.supervisions.length, recordings: m.recordings.length };
  }
  return out;
}
