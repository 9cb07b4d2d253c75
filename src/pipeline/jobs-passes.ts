/**
 * The jobs of a stage's passes (./jobs.ts; src/stages/shards.ts StagePasses: the align stage's GMM
 * training): pass p's shards (`am-distill job <recipe> <stage> --pass p --shard i/N`) and its
 * merge (`--pass p --merge-shards N`), run by ./jobs-run.ts's runJob.
 *
 *   <expDir>/.shards/<stage>/pass-<ppp>/<i>-of-<N>/   a shard's outputs (align: its blocks' statistics
 *                                                     and alignments) and its shard.json
 *   <expDir>/.shards/<stage>/pass-<ppp>/merge/        the merge's output (align: the trainer's state)
 *
 * Records chain the passes: a merge records the output hash of the merge before it; a shard the
 * hash of that merge and of the earlier shard directory it reads (align: its blocks' alignments).
 * A job is skipped when its record is current and its files intact; the merge removes the shard
 * files it consumed (align: the statistics, as Kaldi removes its accumulators after gmm-est), and a
 * shard whose merge is current counts as done without them (and needs nothing at all when no
 * later pass reads its directory: a merge's output is the same for any number of shards). The
 * merge refuses, naming the file and the command to rerun, a missing shard, a shard whose record
 * names another shard or pass or whose blocks overlap another's, a stale one and a damaged one.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import type { PassContext, ShardSpec } from '../stages/shards.ts';
import { damagedOutput } from './fingerprint.ts';
import { passDirName, shardDirName, shardsRoot, SHARD_RECORD } from './jobs.ts';
import {
  checkShardDirs,
  currentRecorded,
  readShardRecord,
  recordedRerunReason,
  rerunHint,
  staleness,
  stageContext,
  writeRecorded,
  type StageState,
} from './jobs-run.ts';

function passRoot(s: StageState, pass: number): string {
  return join(shardsRoot(s.recipe.expDir, s.name), passDirName(pass));
}

export function passMergeDir(s: StageState, pass: number): string {
  return join(passRoot(s, pass), 'merge');
}

function passShardDir(s: StageState, pass: number, shard: ShardSpec): string {
  return join(passRoot(s, pass), shardDirName(shard));
}

function passes(s: StageState) {
  const p = s.def.shards!.passes!;
  return { def: p, names: p.list(s.options) };
}

function mergeHint(s: StageState, pass: number, count?: number): string {
  return count
    ? rerunHint(s, { stage: s.name, kind: 'merge', count, pass })
    : `am-distill job ${s.recipe.file} ${s.name} --pass ${pass} --merge-shards <N>`;
}

/**
 * The merge of pass `q` checked current (its config, inputs and the merge before it as it is now)
 * and intact: its directory and output hash; nulls for q < 0.
 */
export async function currentPassMerge(
  s: StageState,
  q: number,
  count?: number,
): Promise<{ dir: string | null; hash: string | null }> {
  if (q < 0) return { dir: null, hash: null };
  let prev: string | null = null;
  if (q > 0) {
    const r = readShardRecord(passMergeDir(s, q - 1));
    if (!r)
      throw new FormatError(`the merge of pass ${q - 1} of stage ${s.name} is missing`, {
        file: join(passMergeDir(s, q - 1), SHARD_RECORD),
        expected: `the record of a completed job (${mergeHint(s, q - 1, count)})`,
        found: 'none',
      });
    prev = r.outputHash;
  }
  const name = passes(s).names[q];
  return currentRecorded(
    s,
    passMergeDir(s, q),
    prev,
    `the merge of pass ${q} (${name}) of stage ${s.name}`,
    mergeHint(s, q, count),
  );
}

/** What a shard of `pass` reads besides the stage's inputs, as one hash: the merge before it and its earlier shard directory. */
function shardInputHash(s: StageState, pass: number, shard: ShardSpec, mergeHash: string | null): string | null {
  const src = passes(s).def.reads(s.options, pass);
  if (src === null) return mergeHash === null ? null : hashConfig({ merge: mergeHash });
  const dir = passShardDir(s, src, shard);
  const r = readShardRecord(dir);
  if (!r)
    throw new FormatError(`the shard of pass ${src} that pass ${pass} reads is missing`, {
      file: join(dir, SHARD_RECORD),
      expected: `the record of a completed job (${rerunHint(s, { stage: s.name, kind: 'shard', shard, pass: src })})`,
      found: 'none',
    });
  return hashConfig({ merge: mergeHash, reads: r.outputHash });
}

function passContext(
  s: StageState,
  outDir: string,
  resumeDir: string,
  shard: ShardSpec | null,
): PassContext<Record<string, unknown>> {
  return {
    ...stageContext(s, outDir, resumeDir),
    mergeDir: (q) => (q < 0 ? null : passMergeDir(s, q)),
    shardDir: (q) => {
      if (!shard) throw new Error(`stage '${s.name}': a pass's merge asked for a shard directory`);
      return passShardDir(s, q, shard);
    },
  };
}

function checkPass(s: StageState, pass: number): void {
  const { names } = passes(s);
  if (!Number.isInteger(pass) || pass < 0 || pass >= names.length)
    throw new ConfigError(`stage '${s.name}' has no pass ${pass}`, {
      file: `--pass ${pass}`,
      expected: `a pass of 0..${names.length - 1}`,
      found: String(pass),
    });
}

/** Shard `shard` of pass `pass` unless it is current; returns why it ran (null: it did not). */
export async function runPassShard(s: StageState, pass: number, shard: ShardSpec): Promise<string | null> {
  checkPass(s, pass);
  const { def, names } = passes(s);
  const merge = await currentPassMerge(s, pass - 1, shard.count);
  const commonHash = shardInputHash(s, pass, shard, merge.hash);
  const dir = passShardDir(s, pass, shard);
  const label = `${s.name} pass ${pass} (${names[pass]}) shard ${shardDirName(shard)}`;
  const merged = (await recordedRerunReason(s, passMergeDir(s, pass), merge.hash)) === null;
  // A pass whose merge is current needs its shards only for what later passes read from them
  // (their merge does not depend on the number of shards: a rerun with another one reuses it).
  if (merged && !names.some((_n, q) => q > pass && def.reads(s.options, q) === pass)) {
    s.log.info(`skip ${label}: its pass's merge is current`);
    return null;
  }
  const r = readShardRecord(dir);
  let why = r ? staleness(s, r, commonHash) : 'no previous output';
  if (!why) {
    // Once its merge is written, the files the merge consumed are gone: the rest must be intact.
    const damage = await damagedOutput(
      dir,
      merged ? r!.outputCheck.filter((c) => !def.consumed(c.path)) : r!.outputCheck,
    );
    if (!damage) {
      s.log.info(`skip ${label}: up to date`);
      return null;
    }
    why = `output damaged (${damage})`;
  }
  s.log.info(`${label}: running (${why})`);
  await writeRecorded(s, dir, { shard, pass, commonHash }, (tmp, resumeDir) =>
    def.accumulate(passContext(s, tmp, resumeDir, shard), pass, shard),
  );
  return why;
}

/** The merge of pass `pass`'s `count` shards unless it is current; returns why it ran (null: it did not). */
export async function runPassMerge(s: StageState, pass: number, count: number): Promise<string | null> {
  checkPass(s, pass);
  const { def, names } = passes(s);
  const merge = await currentPassMerge(s, pass - 1, count);
  const dir = passMergeDir(s, pass);
  const why = await recordedRerunReason(s, dir, merge.hash);
  if (!why) {
    s.log.info(`skip ${s.name} pass ${pass} (${names[pass]}) merge: up to date`);
    return null;
  }
  const shards = await checkShardDirs(s, passRoot(s, pass), count, {
    pass,
    commonHash: (index) => shardInputHash(s, pass, { index, count }, merge.hash),
    spec: (index) => ({ stage: s.name, kind: 'shard', shard: { index, count }, pass }),
  });
  await writeRecorded(s, dir, { shard: 'merge', pass, commonHash: merge.hash }, async (tmp, resumeDir) => ({
    ...(await def.merge(passContext(s, tmp, resumeDir, null), pass, shards)),
    coverage: [],
  }));
  for (const sh of shards)
    for (const f of await fsp.readdir(sh.dir)) if (def.consumed(f)) await fsp.rm(join(sh.dir, f), { force: true });
  return why;
}
