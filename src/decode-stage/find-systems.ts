/**
 * Which systems an experiment has: the train stage's `models.json` (baseline, member-1..K,
 * fraction-baseline) and the distill stage's `students.json` (student, student-<set>,
 * fraction-student, control), turned into decode SystemSpecs. `ensemble` is every member together.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import { MODELS_JSON, readModelsFile } from '../train/models.ts';
import { STUDENTS_JSON, readStudentsFile } from '../train/distill.ts';
import { resolveModelDir, type SystemSpec } from './systems.ts';

/** The systems decoded by default: the three of the paper's Table 1, and the control where the distill stage made one. */
export const DEFAULT_SYSTEMS: readonly string[] = ['baseline', 'ensemble', 'student', 'control'];

/**
 * Systems a list may name that an experiment need not have: decoded where present, skipped
 * otherwise (the control exists only with stages.distill.control).
 */
export const OPTIONAL_SYSTEMS: readonly string[] = ['control'];

export interface ExperimentModels {
  /** Model name -> model directory (baseline, member-1, ..., student, ...). */
  models: Map<string, string>;
  /** Member names in order (member-1, member-2, ...). */
  members: string[];
}

/** Models recorded by the train stage (`trainDir`) and the distill stage (`distillDir`). */
export async function experimentModels(dirs: { train?: string | null; distill?: string | null }): Promise<ExperimentModels> {
  const models = new Map<string, string>();
  const members: { name: string; k: number }[] = [];
  const add = (stageDir: string, file: string, name: string, dir: string) => {
    const d = resolveModelDir(resolve(stageDir, dir));
    if (!d) throw new ConfigError(`model '${name}' listed in ${file} has no model files`, { file: join(stageDir, file), expected: `model.json, weights.bin, sidecar.json in ${resolve(stageDir, dir)}`, found: 'none' });
    models.set(name, d);
  };
  if (dirs.train && existsSync(join(dirs.train, MODELS_JSON))) {
    const f = await readModelsFile(dirs.train);
    for (const m of f.models) {
      add(dirs.train, MODELS_JSON, m.name, m.dir);
      if (m.role === 'member') members.push({ name: m.name, k: Number(/(\d+)$/.exec(m.name)?.[1] ?? members.length + 1) });
    }
  }
  if (dirs.distill && existsSync(join(dirs.distill, STUDENTS_JSON))) {
    const f = await readStudentsFile(dirs.distill);
    for (const s of f.students) add(dirs.distill, STUDENTS_JSON, s.name, s.dir);
  }
  members.sort((a, b) => a.k - b.k);
  return { models, members: members.map((m) => m.name) };
}

/**
 * SystemSpecs for the wanted names: a model name, `ensemble` (all members), or `members`
 * (each member alone). An absent OPTIONAL_SYSTEMS name is skipped; other unknown names are a
 * ConfigError listing what the experiment has.
 */
export function selectSystems(exp: ExperimentModels, wanted: readonly string[], keyPath = 'systems'): SystemSpec[] {
  const out: SystemSpec[] = [];
  const seen = new Set<string>();
  const push = (s: SystemSpec) => {
    if (!seen.has(s.name)) out.push(s);
    seen.add(s.name);
  };
  const known = [...exp.models.keys(), ...(exp.members.length ? ['ensemble', 'members'] : [])];
  for (const name of wanted) {
    if (name === 'ensemble' && exp.members.length) push({ name, models: exp.members.map((m) => exp.models.get(m)!) });
    else if (name === 'members' && exp.members.length) for (const m of exp.members) push({ name: m, models: [exp.models.get(m)!] });
    else if (exp.models.has(name)) push({ name, models: [exp.models.get(name)!] });
    else if (!OPTIONAL_SYSTEMS.includes(name)) {
      throw new ConfigError(`no acoustic model '${name}' in the experiment`, { keyPath, expected: known.length ? `some of ${known.join(', ')}` : 'trained models (run the train and distill stages first)', found: name });
    }
  }
  return out;
}
