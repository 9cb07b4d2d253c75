/**
 * The decode stage in shards (issue 33, docs/cluster.md): per system and split.
 *
 *   pass 0 'tune' (only with a tuning split)   shard i: a block of the systems, each tuned on the
 *                                              tuning split and its outputs written (as the whole
 *                                              stage does); merge: their decode.json joined, the
 *                                              systems' directories copied
 *   common                                     the tuning pass's merge (nothing with fixed weights)
 *   shard i                                    a block of the (system, split) units of the other
 *                                              splits, system-major, decoded with the weights the
 *                                              common job holds: one decodeCorpus per system, into
 *                                              <shard>/<system>/ (a part)
 *   merge                                      decode.json put together from the parts and the
 *                                              common output as the whole stage writes it; their
 *                                              files copied
 *
 * The chain of records (src/pipeline/jobs-run.ts, jobs-passes.ts) makes a unit shard stale when the
 * tuning changes. The merge refuses a (system, split) decoded twice or never, a file two parts
 * wrote differently, and parts that disagree on the search, LM, lexicon or graph.
 */
import { existsSync, readFileSync, promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import type { DecodeSummary, SystemSummary } from '../formats/decode.ts';
import { FormatError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import {
  decodeStageResult,
  type DecodeCorpusOptions,
  type DecodeSetup,
  type DecodeStageOptions,
  type DecodeTiming,
} from './decode.ts';
import { copyShardEntries, mergeListedJson, shardSlice, SHARD_RECORD, type StageSharding } from './shards.ts';
import type { StageContext } from './stage.ts';

const DECODE_JSON = 'decode.json';

/** A decode.json of a part (or of the tuning pass's merge) and where it is. */
interface Partial {
  file: string;
  summary: DecodeSummary;
}

function readPartial(dir: string): Partial {
  const file = join(dir, DECODE_JSON);
  if (!existsSync(file))
    throw new FormatError('a decode part has no decode.json', { file, expected: 'the decode.json of a decode job' });
  return { file, summary: JSON.parse(readFileSync(file, 'utf8')) as DecodeSummary };
}

/** The weights chosen in the tuning pass, by system, from the common job's decode.json. */
function tunedWeights(commonDir: string, systems: readonly string[]): NonNullable<DecodeCorpusOptions['tuned']> {
  const p = readPartial(commonDir);
  const out: NonNullable<DecodeCorpusOptions['tuned']> = {};
  for (const name of systems) {
    const s = p.summary.systems.find((x) => x.name === name);
    if (!s)
      throw new FormatError(`the tuning pass did not tune system '${name}'`, {
        file: p.file,
        expected: `a system '${name}' tuned on '${p.summary.tuneSplit}'`,
        found: p.summary.systems.map((x) => x.name).join(', ') || 'no system',
      });
    out[name] = {
      lmWeight: s.lmWeight,
      wordInsertionPenalty: s.wordInsertionPenalty,
      weightsFrom: s.weightsFrom,
      tuning: s.tuning,
    };
  }
  return out;
}

/** Files two parts may both write, with the same bytes: the vocabulary, the references, a system's priors. */
const sharedFile = (rel: string): boolean =>
  rel === 'words.txt' || rel.startsWith('refs/') || rel.endsWith('/priors.json');

/** Every file under `dir` but its decode.json and shard.json, relative to it. */
async function partFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const rel = relative(dir, join(e.parentPath, e.name));
    if (rel !== DECODE_JSON && rel !== SHARD_RECORD) out.push(rel);
  }
  return out.sort();
}

/** The parts' files into `outDir`: each once, or (sharedFile) with the same bytes; else a FormatError naming both. */
export async function copyDecodeParts(parts: readonly string[], outDir: string): Promise<void> {
  const from = new Map<string, string>();
  for (const dir of parts) {
    for (const rel of await partFiles(dir)) {
      const src = join(dir, rel);
      const first = from.get(rel);
      if (first !== undefined) {
        if (sharedFile(rel) && readFileSync(first).equals(readFileSync(src))) continue;
        throw new FormatError(
          sharedFile(rel)
            ? 'two decode parts wrote the same file differently'
            : 'two decode parts wrote the same output',
          {
            file: src,
            expected: sharedFile(rel) ? `the bytes of ${first}` : 'each output in one part only',
            found: `also in ${first}`,
          },
        );
      }
      from.set(rel, src);
      await fsp.mkdir(join(outDir, rel, '..'), { recursive: true });
      await fsp.copyFile(src, join(outDir, rel));
    }
  }
}

/** decode.json's keys that every part shares (what was searched with which LM, lexicon and graph). */
function sharedKeys(s: DecodeSummary): string {
  const { splitLms: _l, tuneSplit: _t, splits: _s, systems: _y, skipped: _k, ...rest } = s;
  return JSON.stringify(rest);
}

/**
 * The whole stage's decode.json from the parts (`tuned`: the tuning pass's, first): each system's
 * record with the splits in the stage's order, each (system, split) from exactly one part.
 */
export function assembleDecodeSummary(
  partials: readonly Partial[],
  order: { systems: readonly string[]; tuneSplit: string | null; splits: readonly string[]; where: string },
): DecodeSummary {
  if (partials.length === 0)
    throw new FormatError('no decode part to merge', { file: order.where, expected: 'the shards of the decode stage' });
  const first = partials[0];
  const systems = new Map<string, SystemSummary>();
  const units = new Map<string, { file: string; split: SystemSummary['splits'][string] }>();
  const skipped: DecodeSummary['skipped'] = {};
  const splitLms: NonNullable<DecodeSummary['splitLms']> = {};
  for (const p of partials) {
    if (sharedKeys(p.summary) !== sharedKeys(first.summary))
      throw new FormatError('decode parts disagree on the search, LM, lexicon or graph', {
        file: p.file,
        expected: `the same as ${first.file}`,
        found: 'other values',
      });
    Object.assign(splitLms, p.summary.splitLms ?? {});
    for (const [split, sk] of Object.entries(p.summary.skipped)) skipped[split] ??= sk;
    for (const s of p.summary.systems) {
      if (!systems.has(s.name)) systems.set(s.name, s);
      for (const [split, x] of Object.entries(s.splits)) {
        const key = `${s.name} ${split}`;
        const seen = units.get(key);
        if (seen)
          throw new FormatError(`system '${s.name}' decoded on '${split}' twice`, {
            file: p.file,
            expected: 'each (system, split) in one shard',
            found: `also in ${seen.file}`,
          });
        units.set(key, { file: p.file, split: x });
      }
    }
  }
  const names = [...(order.tuneSplit ? [order.tuneSplit] : []), ...order.splits];
  const out: DecodeSummary['systems'] = order.systems.map((name) => {
    const base = systems.get(name);
    const splits: SystemSummary['splits'] = {};
    for (const split of names) {
      const u = units.get(`${name} ${split}`);
      if (!base || !u)
        throw new FormatError(`no shard decoded system '${name}' on '${split}'`, {
          file: order.where,
          expected: 'every system decoded on every split',
          found: 'none',
        });
      splits[split] = u.split;
    }
    return { ...base!, splits };
  });
  // As decodeCorpus writes it: the keys in its order, splitLms (sorted by split) before the lexicon.
  const lms = Object.keys(splitLms).sort();
  const summary: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(first.summary)) {
    if (k === 'splitLms') continue;
    if (k === 'lexicon' && lms.length) summary.splitLms = Object.fromEntries(lms.map((k2) => [k2, splitLms[k2]]));
    summary[k] = v;
  }
  Object.assign(summary, {
    tuneSplit: order.tuneSplit,
    splits: names,
    systems: out,
    skipped: Object.fromEntries(names.map((n) => [n, skipped[n]])),
  });
  return summary as unknown as DecodeSummary;
}

/** The shard runs' timings joined (stage.json's details only). */
function joinTimings(ts: readonly DecodeTiming[]): DecodeTiming {
  const systems: DecodeTiming['systems'] = {};
  for (const t of ts) for (const [k, v] of Object.entries(t.systems)) systems[k] = { ...systems[k], ...v };
  return { backend: ts[0]?.backend ?? '', totalSec: ts.reduce((a, t) => a + t.totalSec, 0), systems };
}

/** The sharding of the decode stage; `setupOf` reads a job's options and inputs (decode.ts). */
export function decodeSharding(
  setupOf: (ctx: StageContext<DecodeStageOptions>) => Promise<DecodeSetup>,
): StageSharding<DecodeStageOptions> {
  return {
    unit: 'system-splits',
    passes: {
      unit: 'systems',
      list: (o) => (o.tuneSplit ? ['tune'] : []),
      reads: () => null,
      async accumulate(ctx, _pass, shard) {
        const setup = await setupOf(ctx);
        const mine = shardSlice(setup.systems, shard, 'systems');
        if (mine.items.length === 0) return { coverage: [mine.coverage] };
        const r = await setup.decode({ systems: mine.items, tune: setup.tune, splits: [], outDir: ctx.outDir });
        return { counts: { systems: mine.items.length }, coverage: [mine.coverage], details: { timing: r.timing } };
      },
      async merge(ctx, _pass, shards) {
        if (shards.every((s) => !existsSync(join(s.dir, DECODE_JSON)))) return { counts: { systems: 0 } };
        const j = await mergeListedJson(shards, DECODE_JSON, 'systems', ctx.outDir);
        await copyShardEntries(
          shards.map((s) => s.dir),
          ctx.outDir,
          { skip: [DECODE_JSON], shared: ['words.txt', 'refs'] },
        );
        return { counts: { systems: (j.systems as unknown[]).length } };
      },
      // The stage's merge removes the shards; the unit shards read the tuning from the common job.
      consumed: () => false,
    },
    async common(ctx) {
      if (ctx.lastPassDir) await copyShardEntries([ctx.lastPassDir], ctx.outDir);
      return { counts: {} };
    },
    async run(ctx, shard) {
      const setup = await setupOf(ctx);
      const units = setup.systems.flatMap((system) => setup.splits.map((split) => ({ system, split })));
      const mine = shardSlice(units, shard, 'system-splits');
      const tuned =
        setup.tune && mine.items.length
          ? tunedWeights(
              ctx.commonDir ?? '',
              setup.systems.map((s) => s.name),
            )
          : undefined;
      const timings: DecodeTiming[] = [];
      for (const system of setup.systems) {
        const splits = mine.items.filter((u) => u.system === system).map((u) => u.split);
        if (splits.length === 0) continue;
        const r = await setup.decode({
          systems: [system],
          tune: null,
          splits,
          outDir: join(ctx.outDir, system.name),
          ...(tuned ? { tuned: { [system.name]: tuned[system.name] } } : {}),
        });
        timings.push(r.timing);
      }
      return {
        counts: { units: mine.items.length },
        coverage: [mine.coverage],
        details: { timing: joinTimings(timings) },
      };
    },
    async merge(ctx, shards) {
      const setup = await setupOf(ctx);
      if (setup.systems.length === 0) return {}; // as the whole stage: nothing to decode
      const tuning = setup.tune && ctx.commonDir ? [ctx.commonDir] : [];
      const parts = [...tuning];
      for (const s of shards)
        for (const e of (await fsp.readdir(s.dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1)))
          if (e.isDirectory()) parts.push(join(s.dir, e.name));
      const summary = assembleDecodeSummary(parts.map(readPartial), {
        systems: setup.systems.map((s) => s.name),
        tuneSplit: setup.tune?.name ?? null,
        splits: setup.splits.map((s) => s.name),
        where: shards[0]?.dir ?? ctx.outDir,
      });
      await copyDecodeParts(parts, ctx.outDir);
      await writeJsonAtomic(join(ctx.outDir, DECODE_JSON), summary);
      const timing = joinTimings(shards.map((s) => s.details?.timing as DecodeTiming).filter(Boolean));
      return decodeStageResult({ summary, timing });
    },
  };
}
