/**
 * Validation of `report-input.json` (and of a written report.json): every field's type and range,
 * no unknown keys, the three Table 1 systems present, counts consistent. Errors are FormatErrors
 * naming the file and the key path, what was expected and what was found.
 */
import { Checker, joinKey as join, readJsonFile } from '../util/json-check.ts';
import type { WerCounts } from '../score/counts.ts';
import { werPercent } from '../score/wer.ts';
import {
  CONTROL_ID,
  CORE_SYSTEMS,
  MAIN_SPLITS,
  MEMBER_ID,
  REPORT_FORMAT,
  REPORT_FORMAT_VERSION,
  REPORT_INPUT_FORMAT,
  SPLITS,
  type ReportInput,
  type ReportJson,
} from './types.ts';

type Obj = Record<string, unknown>;

/** `minRefWords` 1 for totals (a rate needs reference words), 0 for single utterances. */
function checkWerCounts(c: Checker, v: unknown, path: string, minRefWords = 1): void {
  const o = c.obj(v, path, ['refWords', 'sub', 'del', 'ins'], ['sentences', 'sentenceErrors']);
  const ref = c.int(o.refWords, join(path, 'refWords'), minRefWords);
  const sub = c.int(o.sub, join(path, 'sub'));
  const del = c.int(o.del, join(path, 'del'));
  c.int(o.ins, join(path, 'ins'));
  if (sub + del > ref) c.fail(path, `sub + del <= refWords (${ref})`, sub + del);
  const snt = c.opt(o, 'sentences', path, (x, p) => c.int(x, p));
  const se = c.opt(o, 'sentenceErrors', path, (x, p) => c.int(x, p));
  if (se !== undefined && snt !== undefined && se > snt)
    c.fail(join(path, 'sentenceErrors'), `<= sentences (${snt})`, se);
}

function checkUttCounts(c: Checker, v: unknown, path: string): string {
  const o = c.obj(v, path, ['uttId', 'refWords', 'sub', 'del', 'ins']);
  c.str(o.uttId, join(path, 'uttId'));
  checkWerCounts(c, { refWords: o.refWords, sub: o.sub, del: o.del, ins: o.ins }, path, 0);
  return o.uttId as string;
}

function checkPairs(c: Checker, v: unknown, path: string): void {
  c.arr(v, path).forEach((p, i) => {
    const pp = join(path, i);
    const o = c.obj(p, pp, ['op', 'ref', 'hyp']);
    const op = o.op;
    if (op !== 'C' && op !== 'S' && op !== 'D' && op !== 'I') c.fail(join(pp, 'op'), "one of 'C', 'S', 'D', 'I'", op);
    const refOk = op === 'I' ? o.ref === null : typeof o.ref === 'string';
    const hypOk = op === 'D' ? o.hyp === null : typeof o.hyp === 'string';
    if (!refOk) c.fail(join(pp, 'ref'), op === 'I' ? 'null for an insertion' : 'a word', o.ref);
    if (!hypOk) c.fail(join(pp, 'hyp'), op === 'D' ? 'null for a deletion' : 'a word', o.hyp);
  });
}

function checkSplitKey(c: Checker, v: unknown, path: string): void {
  if (!SPLITS.includes(v as never)) c.fail(path, `one of ${SPLITS.join(', ')}`, v);
}

function checkCurve(c: Checker, v: unknown, path: string): void {
  let prev = -Infinity;
  c.arr(v, path).forEach((e, i) => {
    const p = join(path, i);
    const o = c.obj(e, p, ['epoch', 'trainLoss', 'devFrameAccuracy', 'learningRate']);
    const epoch = c.int(o.epoch, join(p, 'epoch'), 0);
    if (epoch <= prev) c.fail(join(p, 'epoch'), `epochs in increasing order (after ${prev})`, epoch);
    prev = epoch;
    c.num(o.trainLoss, join(p, 'trainLoss'));
    c.fractionOrNull(o.devFrameAccuracy, join(p, 'devFrameAccuracy'));
    c.num(o.learningRate, join(p, 'learningRate'), 0, Infinity, 'a learning rate >= 0');
  });
}

function checkSystem(c: Checker, v: unknown, path: string, id: string): void {
  const o = c.obj(
    v,
    path,
    ['frameAccuracy', 'wer'],
    [
      'label',
      'parameters',
      'members',
      'speakers',
      'utterances',
      'alignments',
      'errorLists',
      'trainingCurve',
      'averaged',
    ],
  );
  c.opt(o, 'label', path, (x, p) => c.str(x, p));
  c.opt(o, 'parameters', path, (x, p) => c.int(x, p, 1));
  if (o.members !== undefined && id !== 'ensemble')
    c.fail(join(path, 'members'), 'members only on the ensemble', o.members);
  c.opt(o, 'members', path, (x, p) => c.int(x, p, 1));
  const fa = c.obj(o.frameAccuracy, join(path, 'frameAccuracy'), ['dev', 'test']);
  for (const s of SPLITS) c.fractionOrNull(fa[s], join(path, `frameAccuracy.${s}`));
  const wer = c.obj(o.wer, join(path, 'wer'), ['dev', 'test']);
  for (const s of SPLITS) if (wer[s] !== null) checkWerCounts(c, wer[s], join(path, `wer.${s}`));
  if (o.speakers !== undefined) {
    const sp = c.obj(o.speakers, join(path, 'speakers'), [], SPLITS);
    for (const s of SPLITS) {
      if (sp[s] === undefined) continue;
      const seen = new Set<string>();
      c.arr(sp[s], join(path, `speakers.${s}`)).forEach((x, i) => {
        const p = join(join(path, `speakers.${s}`), i);
        const so = c.obj(x, p, ['speaker', 'refWords', 'sub', 'del', 'ins'], ['sentences', 'sentenceErrors']);
        const name = c.str(so.speaker, join(p, 'speaker'));
        if (seen.has(name)) c.fail(join(p, 'speaker'), 'each speaker once', name);
        seen.add(name);
        const { speaker: _s, ...counts } = so;
        checkWerCounts(c, counts, p);
      });
    }
  }
  if (o.utterances !== undefined) {
    const ut = c.obj(o.utterances, join(path, 'utterances'), [], SPLITS);
    for (const s of SPLITS) {
      if (ut[s] === undefined) continue;
      const p = join(path, `utterances.${s}`);
      const seen = new Set<string>();
      let refWords = 0,
        errors = 0;
      c.arr(ut[s], p).forEach((u, i) => {
        const id = checkUttCounts(c, u, join(p, i));
        if (seen.has(id)) c.fail(join(join(p, i), 'uttId'), 'each utterance once', id);
        seen.add(id);
        const uo = u as { refWords: number; sub: number; del: number; ins: number };
        refWords += uo.refWords;
        errors += uo.sub + uo.del + uo.ins;
      });
      const total = wer[s] as { refWords: number; sub: number; del: number; ins: number } | null;
      if (total && (total.refWords !== refWords || total.sub + total.del + total.ins !== errors)) {
        c.fail(
          p,
          `per-utterance counts adding up to wer.${s} (${total.refWords} words, ${total.sub + total.del + total.ins} errors)`,
          `${refWords} words, ${errors} errors`,
        );
      }
    }
  }
  if (o.alignments !== undefined) {
    c.arr(o.alignments, join(path, 'alignments')).forEach((a, i) => {
      const p = join(join(path, 'alignments'), i);
      const ao = c.obj(a, p, ['uttId', 'split', 'pairs']);
      c.str(ao.uttId, join(p, 'uttId'));
      checkSplitKey(c, ao.split, join(p, 'split'));
      checkPairs(c, ao.pairs, join(p, 'pairs'));
    });
  }
  if (o.errorLists !== undefined) {
    const el = c.obj(o.errorLists, join(path, 'errorLists'), [], SPLITS);
    for (const s of SPLITS) if (el[s] !== undefined) checkErrorLists(c, el[s], join(path, `errorLists.${s}`));
  }
  if (o.trainingCurve !== undefined) checkCurve(c, o.trainingCurve, join(path, 'trainingCurve'));
  if (o.averaged !== undefined) checkAveraged(c, o.averaged, join(path, 'averaged'));
}

function checkAveraged(c: Checker, v: unknown, path: string): void {
  const o = c.obj(v, path, ['fromEpoch', 'toEpoch', 'devFrameAccuracy']);
  const from = c.int(o.fromEpoch, join(path, 'fromEpoch'), 1);
  const to = c.int(o.toEpoch, join(path, 'toEpoch'), 1);
  if (to < from) c.fail(join(path, 'toEpoch'), `an epoch >= fromEpoch (${from})`, to);
  c.fractionOrNull(o.devFrameAccuracy, join(path, 'devFrameAccuracy'));
}

function checkFrequentErrors(c: Checker, v: unknown, path: string, systems: Obj): void {
  const o = c.obj(v, path, ['split', 'systems', 'rows']);
  checkSplitKey(c, o.split, join(path, 'split'));
  const ids = c.arr(o.systems, join(path, 'systems')).map((x, i) => {
    const id = c.str(x, join(join(path, 'systems'), i));
    if (!(id in systems)) c.fail(join(join(path, 'systems'), i), 'a system of the report', id);
    return id;
  });
  c.arr(o.rows, join(path, 'rows')).forEach((x, i) => {
    const p = join(join(path, 'rows'), i);
    const r = c.obj(x, p, ['kind', 'ref', 'hyp', 'counts']);
    if (!['substitution', 'insertion', 'deletion'].includes(r.kind as string))
      c.fail(join(p, 'kind'), 'substitution, insertion or deletion', r.kind);
    if (r.kind !== 'insertion') c.str(r.ref, join(p, 'ref'));
    else if (r.ref !== null) c.fail(join(p, 'ref'), 'null for an insertion', r.ref);
    if (r.kind !== 'deletion') c.str(r.hyp, join(p, 'hyp'));
    else if (r.hyp !== null) c.fail(join(p, 'hyp'), 'null for a deletion', r.hyp);
    const counts = c.obj(r.counts, join(p, 'counts'), ids);
    for (const id of ids) c.int(counts[id], join(p, `counts.${id}`));
  });
}

/** sclite's error lists (src/score/errors.ts): words and confusion pairs with counts >= 1. */
export function checkErrorLists(c: Checker, v: unknown, path: string): void {
  const o = c.obj(v, path, ['confusionPairs', 'insertions', 'deletions', 'substitutions', 'falselyRecognized']);
  c.arr(o.confusionPairs, join(path, 'confusionPairs')).forEach((x, i) => {
    const p = join(join(path, 'confusionPairs'), i);
    const e = c.obj(x, p, ['ref', 'hyp', 'count']);
    c.str(e.ref, join(p, 'ref'));
    c.str(e.hyp, join(p, 'hyp'));
    c.int(e.count, join(p, 'count'), 1);
  });
  for (const k of ['insertions', 'deletions', 'substitutions', 'falselyRecognized']) {
    c.arr(o[k], join(path, k)).forEach((x, i) => {
      const p = join(join(path, k), i);
      const e = c.obj(x, p, ['word', 'count']);
      c.str(e.word, join(p, 'word'));
      c.int(e.count, join(p, 'count'), 1);
    });
  }
}

function checkEnvironment(c: Checker, v: unknown, path: string): void {
  const o = c.obj(v, path, ['backend', 'versions', 'commit', 'configHash'], ['host']);
  c.str(o.backend, join(path, 'backend'));
  const ver = c.obj(o.versions, join(path, 'versions'), [], Object.keys((o.versions as Obj) ?? {}));
  for (const k of Object.keys(ver)) c.str(ver[k], join(path, `versions.${k}`));
  if (o.commit !== null) c.str(o.commit, join(path, 'commit'));
  c.str(o.configHash, join(path, 'configHash'));
  c.opt(o, 'host', path, (x, p) => c.str(x, p));
}

function checkCorpus(c: Checker, v: unknown, path: string): void {
  const o = c.obj(v, path, ['name', 'splits'], ['description', 'recipe', 'numSenones', 'vocabularySize']);
  c.str(o.name, join(path, 'name'));
  c.opt(o, 'description', path, (x, p) => c.str(x, p, false));
  c.opt(o, 'recipe', path, (x, p) => c.str(x, p));
  c.opt(o, 'numSenones', path, (x, p) => c.int(x, p, 1));
  c.opt(o, 'vocabularySize', path, (x, p) => c.int(x, p, 1));
  const sp = c.obj(o.splits, join(path, 'splits'), [], ['train', 'dev', 'test']);
  for (const k of ['train', 'dev', 'test']) {
    if (sp[k] === undefined) continue;
    const p = join(path, `splits.${k}`);
    const so = c.obj(
      sp[k],
      p,
      ['utterances', 'speakers', 'durationSec'],
      ['frames', 'vtlpWarps', 'vtlpCopiesFor', 'vtlpAlignment'],
    );
    c.int(so.utterances, join(p, 'utterances'));
    c.int(so.speakers, join(p, 'speakers'));
    c.num(so.durationSec, join(p, 'durationSec'), 0);
    c.opt(so, 'frames', p, (x, pp) => c.int(x, pp));
    c.opt(so, 'vtlpWarps', p, (x, pp) => c.arr(x, pp).forEach((w, i) => c.num(w, `${pp}[${i}]`, 0)));
    c.opt(so, 'vtlpCopiesFor', p, (x, pp) => {
      const u = c.obj(x, pp, ['models', 'student']);
      c.bool(u.models, join(pp, 'models'));
      c.bool(u.student, join(pp, 'student'));
    });
    c.opt(so, 'vtlpAlignment', p, (x, pp) => {
      if (x !== 'inherit' && x !== 'realign') c.fail(pp, "'inherit' or 'realign'", x);
    });
  }
}

function checkSoftTargets(c: Checker, v: unknown, path: string): void {
  const o = c.obj(
    v,
    path,
    ['T', 'k', 'bytesPerFrame', 'keptMass'],
    ['denseBytesPerFrame', 'combination', 'hardWeight'],
  );
  c.num(o.T, join(path, 'T'), Number.MIN_VALUE, Infinity, 'a temperature > 0');
  c.int(o.k, join(path, 'k'), 1);
  c.num(o.bytesPerFrame, join(path, 'bytesPerFrame'), 0);
  c.fraction(o.keptMass, join(path, 'keptMass'));
  c.opt(o, 'denseBytesPerFrame', path, (x, p) => c.num(x, p, 0));
  c.opt(o, 'combination', path, (x, p) => c.str(x, p));
  c.opt(o, 'hardWeight', path, (x, p) => c.num(x, p, 0));
}

function checkSweep(c: Checker, v: unknown, path: string): void {
  c.arr(v, path).forEach((x, i) => {
    const p = join(path, i);
    const o = c.obj(x, p, ['T', 'frameAccuracy'], ['wer', 'keptMass']);
    c.num(o.T, join(p, 'T'), Number.MIN_VALUE, Infinity, 'a temperature > 0');
    const fa = c.obj(o.frameAccuracy, join(p, 'frameAccuracy'), ['dev'], ['test']);
    c.fractionOrNull(fa.dev, join(p, 'frameAccuracy.dev'));
    if (fa.test !== undefined) c.fractionOrNull(fa.test, join(p, 'frameAccuracy.test'));
    if (o.wer !== undefined) {
      const w = c.obj(o.wer, join(p, 'wer'), [], SPLITS);
      for (const s of SPLITS) if (w[s] !== undefined && w[s] !== null) checkWerCounts(c, w[s], join(p, `wer.${s}`));
    }
    c.opt(o, 'keptMass', p, (y, pp) => c.fraction(y, pp));
  });
}

/** Gain-kept evidence: a share (any real number) against the member mean, an optional bootstrap interval. */
function checkGainEvidence(c: Checker, v: unknown, path: string): void {
  const o = c.obj(v, path, ['vsMemberMean', 'ci']);
  if (o.vsMemberMean !== null) c.num(o.vsMemberMean, join(path, 'vsMemberMean'));
  if (o.ci === null) return;
  const ci = c.obj(o.ci, join(path, 'ci'), ['low', 'high', 'confidence', 'replicates', 'utterances']);
  for (const k of ['low', 'high']) if (ci[k] !== null) c.num(ci[k], join(path, `ci.${k}`));
  if (ci.low !== null && ci.high !== null && (ci.low as number) > (ci.high as number))
    c.fail(join(path, 'ci'), 'low <= high', `${ci.low} > ${ci.high}`);
  c.num(ci.confidence, join(path, 'ci.confidence'), 0.5, 0.9999, 'a confidence level in [0.5, 0.9999]');
  c.int(ci.replicates, join(path, 'ci.replicates'), 1);
  c.int(ci.utterances, join(path, 'ci.utterances'), 1);
}

function checkFidelity(c: Checker, v: unknown, path: string, systems: Obj): void {
  c.arr(v, path).forEach((x, i) => {
    const p = join(path, i);
    const o = c.obj(x, p, ['system', 'train', 'dev', 'test']);
    const id = c.str(o.system, join(p, 'system'));
    if (systems[id] === undefined)
      c.fail(join(p, 'system'), `one of the systems (${Object.keys(systems).join(', ')})`, id);
    for (const s of ['train', 'dev', 'test']) {
      if (o[s] === null) continue;
      const f = c.obj(o[s], join(p, s), ['agreement', 'klNats']);
      c.fraction(f.agreement, join(p, `${s}.agreement`));
      c.num(f.klNats, join(p, `${s}.klNats`), 0, Infinity, 'a KL divergence >= 0 (nats)');
    }
  });
}

/** Ids a report may hold besides the Table 1 systems: the members and the control. */
const optionalSystems = (systems: unknown) =>
  Object.keys((systems as Obj) ?? {}).filter((k) => MEMBER_ID.test(k) || k === CONTROL_ID);

/** Per-utterance test counts: speakers by utterance id, frames and correct frames (in [0, frames]) of known systems. */
function checkUtteranceCounts(c: Checker, v: unknown, path: string, systems: Obj): void {
  const o = c.obj(v, path, ['split', 'speakers', 'frames']);
  if (!SPLITS.includes(o.split as never)) c.fail(join(path, 'split'), SPLITS.join(' or '), o.split);
  const sp = c.obj(o.speakers, join(path, 'speakers'), [], Object.keys((o.speakers as Obj) ?? {}));
  for (const [id, x] of Object.entries(sp)) c.str(x, join(path, `speakers.${id}`));
  if (o.frames === null) return;
  c.arr(o.frames, join(path, 'frames')).forEach((x, i) => {
    const p = join(path, `frames.${i}`);
    const u = c.obj(x, p, ['uttId', 'frames', 'correct']);
    c.str(u.uttId, join(p, 'uttId'));
    const n = c.int(u.frames, join(p, 'frames'));
    const cor = c.obj(u.correct, join(p, 'correct'), [], Object.keys(systems));
    for (const [id, k] of Object.entries(cor)) c.num(k, join(p, `correct.${id}`), 0, n, `correct frames in [0, ${n}]`);
  });
}

/**
 * The extra decoded splits (ReportInput.otherSplits, or report.json's with `rates`): each a split
 * name other than train, dev and test, once; per system of the report its frame accuracy (a fraction
 * or null) and WER (input: counts or null; report.json: a fraction >= 0 or null, with its counts).
 */
function checkOtherSplits(c: Checker, v: unknown, path: string, systems: Obj, rates: boolean): void {
  const seen = new Set<string>();
  c.arr(v, path).forEach((x, i) => {
    const p = join(path, i);
    const o = c.obj(x, p, ['split', 'systems']);
    const split = c.str(o.split, join(p, 'split'));
    if (MAIN_SPLITS.includes(split))
      c.fail(
        join(p, 'split'),
        `a split other than ${MAIN_SPLITS.join(', ')} (those are in Table 1 and the systems table)`,
        split,
      );
    if (seen.has(split)) c.fail(join(p, 'split'), 'each split once', split);
    seen.add(split);
    const so = c.obj(o.systems, join(p, 'systems'), [], Object.keys(systems));
    for (const [id, y] of Object.entries(so)) {
      const sp = join(p, `systems.${id}`);
      const e = c.obj(y, sp, rates ? ['frameAccuracy', 'wer', 'werCounts'] : ['frameAccuracy', 'wer']);
      c.fractionOrNull(e.frameAccuracy, join(sp, 'frameAccuracy'));
      if (e.wer === null) continue;
      if (rates) c.num(e.wer, join(sp, 'wer'), 0, Infinity, 'a WER fraction >= 0');
      else checkWerCounts(c, e.wer, join(sp, 'wer'));
    }
  });
}

/** The labels block (LabelsInput): the chain's names, counts, and per split its counts and quality (or null). */
function checkLabels(c: Checker, value: unknown, path: string): void {
  const o = c.obj(value, path, ['models', 'senones', 'gaussians', 'splits'], []);
  c.arr(o.models, `${path}.models`).forEach((m, i) => c.str(m, `${path}.models[${i}]`));
  c.int(o.senones, `${path}.senones`, 1);
  c.int(o.gaussians, `${path}.gaussians`, 1);
  c.arr(o.splits, `${path}.splits`).forEach((x, i) => {
    const p = `${path}.splits[${i}]`;
    const s = c.obj(x, p, ['split', 'aligned', 'failed', 'quality'], []);
    c.str(s.split, `${p}.split`);
    c.int(s.aligned, `${p}.aligned`, 0);
    c.int(s.failed, `${p}.failed`, 0);
    if (s.quality !== null) {
      const q = c.obj(s.quality, `${p}.quality`, LABEL_QUALITY_KEYS, OPTIONAL_QUALITY_KEYS);
      for (const k of [...LABEL_QUALITY_KEYS, ...OPTIONAL_QUALITY_KEYS.filter((k) => q[k] !== undefined)]) {
        if (q[k] === null && NULLABLE_QUALITY_KEYS.includes(k)) continue;
        if (k.endsWith('OffsetMs')) c.num(q[k], `${p}.quality.${k}`, -Infinity, Infinity, 'a number of ms');
        else c.num(q[k], `${p}.quality.${k}`, 0, Infinity, 'a number >= 0');
      }
    }
  });
}

/** Pause measures are null when the reference has no pauses. */
const NULLABLE_QUALITY_KEYS = ['pauseFramesInWords', 'silenceOutsidePauses'];
/** Added 2026-12-07: absent in older align summaries. */
const OPTIONAL_QUALITY_KEYS = ['endsWithin50ms', 'medianStartOffsetMs', 'medianEndOffsetMs'];
const LABEL_QUALITY_KEYS = [
  'utterances',
  'boundaries',
  'boundariesWithin20ms',
  'boundariesWithin50ms',
  'startsWithin20ms',
  'startsWithin50ms',
  'medianAbsErrorMs',
  'pauseFramesInWords',
  'silenceOutsidePauses',
];

/** stageJobs: per stage of `stages`, the number of its shard jobs (>= 1) and their summed seconds (>= 0). */
function checkStageJobs(c: Checker, v: unknown, stages: Obj): void {
  const sj = c.obj(v, 'stageJobs', [], Object.keys(stages));
  for (const [k, x] of Object.entries(sj)) {
    const j = c.obj(x, `stageJobs.${k}`, ['count', 'seconds'], []);
    c.int(j.count, `stageJobs.${k}.count`, 1);
    c.num(j.seconds, `stageJobs.${k}.seconds`, 0, Infinity, 'seconds >= 0');
  }
}

/** Check a parsed report input; returns it typed. Throws FormatError naming `file` and the key path. */
export function validateReportInput(value: unknown, file?: string): ReportInput {
  const c = new Checker(file);
  const o = c.obj(
    value,
    '',
    ['format', 'formatVersion', 'corpus', 'systems', 'stages', 'environment'],
    [
      'softTargets',
      'temperatureSweep',
      'reportOptions',
      'frameAccuracyGain',
      'fidelity',
      'utteranceCounts',
      'otherSplits',
      'labels',
      'stageJobs',
    ],
  );
  if (o.reportOptions !== undefined) {
    const ro = c.obj(
      o.reportOptions,
      'reportOptions',
      [],
      ['bootstrapReplicates', 'confidence', 'seed', 'maxWorstUtterances'],
    );
    if (ro.bootstrapReplicates !== undefined) c.int(ro.bootstrapReplicates, 'reportOptions.bootstrapReplicates', 1);
    if (ro.confidence !== undefined)
      c.num(ro.confidence, 'reportOptions.confidence', 0.5, 0.9999, 'a confidence level in [0.5, 0.9999]');
    if (ro.seed !== undefined) c.int(ro.seed, 'reportOptions.seed', 0);
    if (ro.maxWorstUtterances !== undefined) c.int(ro.maxWorstUtterances, 'reportOptions.maxWorstUtterances', 0);
  }
  if (o.format !== REPORT_INPUT_FORMAT) c.fail('format', JSON.stringify(REPORT_INPUT_FORMAT), o.format);
  if (o.formatVersion !== REPORT_FORMAT_VERSION)
    c.fail('formatVersion', String(REPORT_FORMAT_VERSION), o.formatVersion);
  checkCorpus(c, o.corpus, 'corpus');
  const systems = c.obj(o.systems, 'systems', CORE_SYSTEMS, optionalSystems(o.systems));
  for (const [id, s] of Object.entries(systems)) checkSystem(c, s, `systems.${id}`, id);
  if (o.utteranceCounts !== undefined && o.utteranceCounts !== null)
    checkUtteranceCounts(c, o.utteranceCounts, 'utteranceCounts', systems);
  if (o.otherSplits !== undefined) checkOtherSplits(c, o.otherSplits, 'otherSplits', systems, false);
  if (o.labels !== undefined) checkLabels(c, o.labels, 'labels');
  if (o.softTargets !== undefined && o.softTargets !== null) checkSoftTargets(c, o.softTargets, 'softTargets');
  if (o.temperatureSweep !== undefined && o.temperatureSweep !== null)
    checkSweep(c, o.temperatureSweep, 'temperatureSweep');
  if (o.frameAccuracyGain !== undefined && o.frameAccuracyGain !== null)
    checkGainEvidence(c, o.frameAccuracyGain, 'frameAccuracyGain');
  if (o.fidelity !== undefined && o.fidelity !== null) checkFidelity(c, o.fidelity, 'fidelity', systems);
  if (o.frequentErrors !== undefined && o.frequentErrors !== null)
    checkFrequentErrors(c, o.frequentErrors, 'frequentErrors', systems);
  const st = c.obj(o.stages, 'stages', [], Object.keys((o.stages as Obj) ?? {}));
  for (const k of Object.keys(st)) c.num(st[k], `stages.${k}`, 0, Infinity, 'seconds >= 0');
  if (o.stageJobs !== undefined) checkStageJobs(c, o.stageJobs, st);
  checkEnvironment(c, o.environment, 'environment');
  return value as ReportInput;
}

/** Read and validate report-input.json. */
export function readReportInput(path: string): ReportInput {
  return validateReportInput(readJsonFile(path, 'report input'), path);
}

/**
 * `am-distill validate` of a report-input.json (`readReportInput`): returns the summary lines,
 * the corpus and each system's test frame accuracy and WER.
 */
export function validateReportInputFile(path: string): string[] {
  const r = readReportInput(path);
  const pct = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)} %`);
  const wer = (c: WerCounts | null) => (c ? werPercent(c.sub + c.del + c.ins, c.refWords) : null);
  return [
    `report input (${r.format} v${r.formatVersion}) of corpus '${r.corpus.name}': ${Object.keys(r.systems).length} systems, ${Object.keys(r.stages).length} stage timings`,
    ...Object.entries(r.systems).map(([id, s]) => {
      const acc = s.frameAccuracy.test;
      return `  ${id}: test frame accuracy ${pct(acc === null ? null : 100 * acc)}, test WER ${pct(wer(s.wer.test))}`;
    }),
  ];
}

/**
 * Check a report.json: format, the Table 1 systems present, every frame accuracy, kept mass and
 * gain share where defined in range (frame accuracy and kept mass in [0, 1], WER >= 0).
 */
export function validateReportJson(value: unknown, file?: string): ReportJson {
  const c = new Checker(file);
  const o = c.obj(
    value,
    '',
    [
      'format',
      'formatVersion',
      'corpus',
      'systems',
      'gainRecovered',
      'significance',
      'softTargets',
      'stages',
      'environment',
    ],
    [
      'ensembleSize',
      'paper',
      'temperatureSweep',
      'fidelity',
      'perSpeaker',
      'frequentErrors',
      'worstUtterances',
      'totalSec',
      'differences',
      'otherSplits',
      'labels',
      'stageJobs',
    ],
  );
  if (o.format !== REPORT_FORMAT) c.fail('format', JSON.stringify(REPORT_FORMAT), o.format);
  if (o.formatVersion !== REPORT_FORMAT_VERSION)
    c.fail('formatVersion', String(REPORT_FORMAT_VERSION), o.formatVersion);
  const systems = o.systems as Obj;
  c.obj(systems, 'systems', CORE_SYSTEMS, optionalSystems(systems));
  for (const [id, s] of Object.entries(systems)) {
    const p = `systems.${id}`;
    const so = c.obj(s, p, ['label', 'frameAccuracy', 'wer'], ['parameters', 'werCounts', 'trainingCurve', 'averaged']);
    for (const sp of SPLITS) {
      c.fractionOrNull((so.frameAccuracy as Obj)?.[sp], `${p}.frameAccuracy.${sp}`);
      const w = (so.wer as Obj)?.[sp];
      if (w !== null) c.num(w, `${p}.wer.${sp}`, 0, Infinity, 'a WER fraction >= 0');
    }
  }
  const g = c.obj(o.gainRecovered, 'gainRecovered', ['frameAccuracy', 'wer', 'notes'], ['frameAccuracyEvidence']);
  for (const k of ['frameAccuracy', 'wer']) if (g[k] !== null) c.num(g[k], `gainRecovered.${k}`);
  if (g.frameAccuracyEvidence !== undefined && g.frameAccuracyEvidence !== null)
    checkGainEvidence(c, g.frameAccuracyEvidence, 'gainRecovered.frameAccuracyEvidence');
  if (o.softTargets !== null) checkSoftTargets(c, o.softTargets, 'softTargets');
  if (o.differences !== undefined && o.differences !== null) {
    const d = c.obj(o.differences, 'differences', [
      'split',
      'method',
      'replicates',
      'confidence',
      'seed',
      'frameAccuracy',
      'wer',
    ]);
    for (const m of ['frameAccuracy', 'wer']) {
      if (d[m] === null) continue;
      const md = c.obj(d[m], `differences.${m}`, [
        'metric',
        'utterances',
        'speakers',
        'note',
        'differences',
        'gainKept',
        'seedSpread',
      ]);
      c.arr(md.differences, `differences.${m}.differences`).forEach((x, i) => {
        const a = c.str((x as Obj)?.a, `differences.${m}.differences.${i}.a`);
        if (systems[a] === undefined) c.fail(`differences.${m}.differences.${i}.a`, 'a system of the report', a);
      });
    }
  }
  if (o.otherSplits !== undefined) checkOtherSplits(c, o.otherSplits, 'otherSplits', systems, true);
  if (o.labels !== undefined) checkLabels(c, o.labels, 'labels');
  if (o.fidelity !== undefined && o.fidelity !== null) checkFidelity(c, o.fidelity, 'fidelity', systems);
  if (o.frequentErrors !== undefined && o.frequentErrors !== null)
    checkFrequentErrors(c, o.frequentErrors, 'frequentErrors', systems);
  const st = c.obj(o.stages, 'stages', [], Object.keys((o.stages as Obj) ?? {}));
  for (const k of Object.keys(st)) c.num(st[k], `stages.${k}`, 0, Infinity, 'seconds >= 0');
  if (o.stageJobs !== undefined) checkStageJobs(c, o.stageJobs, st);
  checkEnvironment(c, o.environment, 'environment');
  return value as ReportJson;
}
