/**
 * npm run bench:decode -- --tune [--exp exp/demo] [--systems a,b (default: those decode.json lists)] [--split dev]
 *
 * Tuning the LM weight and insertion penalty by lattice rescoring against re-decoding (issue 34
 * item 3), on an experiment's tuning split with the search settings its decode stage ran with
 * (decode/decode.json: beam, max-active, acoustic scale, grid, first pass at its fixed lmWeight and
 * penalty; the stage's defaults when it has not run), lattice beam 8: per system the errors at every
 * grid point both ways, the point each chooses, and the CPU seconds of each (the acoustic pass
 * apart, computed once).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DECODE_SEARCH_DEFAULTS, buildSearch, resolveSearchOptions } from '../src/decode/search-space.ts';
import { tuneByRescoring, tuneOnDev, type TuneResult } from '../src/decode/tune.ts';
import { createLogger } from '../src/util/log.ts';
import { experimentInputs } from './decode-inputs.ts';

const cpuSec = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1e6;

function pointOf(r: TuneResult): string {
  return `lmWeight ${r.best.lmWeight}, penalty ${r.best.wordInsertionPenalty} (${r.best.errors} errors, %WER ${r.best.wer.toFixed(2)})`;
}

/** The comparison (see the module comment); `args` are the command line's. */
export async function tuneBench(args: readonly string[]): Promise<void> {
  const arg = (name: string, def: string): string =>
    args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def;
  const expDir = arg('exp', 'exp/demo'),
    split = arg('split', 'dev');
  const summary = join(expDir, 'decode', 'decode.json');
  const D = existsSync(summary)
    ? resolveSearchOptions(JSON.parse(readFileSync(summary, 'utf8')).search)
    : DECODE_SEARCH_DEFAULTS;
  const quiet = createLogger({ stream: { write: () => true } });
  const space = await buildSearch(
    join(expDir, 'align', 'lang'),
    join(expDir, 'align', 'model.json'),
    join(expDir, 'lm', 'lm.arpa'),
    D,
    quiet,
  );
  const o = {
    beam: D.beam,
    maxActive: D.maxActive,
    lmWeights: D.lmWeights,
    wordInsertionPenalties: D.wordInsertionPenalties,
    lmLookahead: D.lmLookahead,
    lookaheadOrder: D.lookaheadOrder,
  };
  console.log(
    `${expDir}, split ${split} (search settings: ${existsSync(summary) ? summary : 'the decode stage defaults'}): beam ${o.beam}, max-active ${o.maxActive}, grid ${o.lmWeights.length} x ${o.wordInsertionPenalties.length}; first pass at lmWeight ${D.lmWeight}, penalty ${D.wordInsertionPenalty}, lattice beam 8`,
  );
  let agree = 0;
  const decoded = existsSync(summary)
    ? (JSON.parse(readFileSync(summary, 'utf8')).systems as { name: string }[]).map((x) => x.name).join(',')
    : 'student';
  const systems = arg('systems', decoded).split(',');
  for (const system of systems) {
    const x = await experimentInputs(expDir, { system, split, acousticScale: D.acousticScale });
    if (!x) throw new Error(`no trained models in ${expDir}`);
    const opts = { ...o, frameShiftSec: x.frameShiftSec };
    let c0 = process.cpuUsage();
    const redecode = tuneOnDev(space.decoder, x.inputs, x.refs, opts);
    const redecodeSec = cpuSec(process.cpuUsage(c0));
    c0 = process.cpuUsage();
    const rescore = tuneByRescoring(space.decoder, x.inputs, x.refs, {
      ...opts,
      lmWeight: D.lmWeight,
      wordInsertionPenalty: D.wordInsertionPenalty,
    });
    const rescoreSec = cpuSec(process.cpuUsage(c0));
    const arcs = rescore.lattices.reduce((n, l) => n + l.lattice.numArcs, 0);
    console.log(
      `\n${system} (${x.inputs.length} utterances, ${x.refs.reduce((n, r) => n + r.words.length, 0)} words): errors per grid point, re-decoding / rescoring`,
    );
    for (const lmw of o.lmWeights) {
      const cells = o.wordInsertionPenalties.map((pen) => {
        const i = redecode.grid.findIndex((p) => p.lmWeight === lmw && p.wordInsertionPenalty === pen);
        return `pen ${pen}: ${redecode.grid[i].errors} / ${rescore.grid[i].errors}`;
      });
      console.log(`  lmWeight ${lmw}: ${cells.join(', ')}`);
    }
    const same =
      redecode.best.lmWeight === rescore.best.lmWeight &&
      redecode.best.wordInsertionPenalty === rescore.best.wordInsertionPenalty;
    if (same) agree++;
    console.log(`  chosen by re-decoding: ${pointOf(redecode)}; ${redecodeSec.toFixed(1)} CPU s`);
    console.log(
      `  chosen by rescoring:   ${pointOf(rescore)}; ${rescoreSec.toFixed(1)} CPU s (${(arcs / x.inputs.length).toFixed(0)} lattice arcs per utterance) -> ${same ? 'same point' : 'DIFFERENT point'}`,
    );
  }
  console.log(`\nsame operating point for ${agree} of ${systems.length} systems`);
}
