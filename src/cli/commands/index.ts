/**
 * The list of CLI commands. Each module exports `register(program: Command): void`.
 * Add one import and one list entry per command file.
 */
import type { Command } from 'commander';
import { register as lm } from './lm.ts';
import { register as score } from './score.ts';
import { register as run } from './run.ts';
import { register as validate } from './validate.ts';
import { register as corpus } from './corpus.ts';
import { register as features } from './features.ts';
import { register as fbank } from './fbank.ts';
import { register as align } from './align.ts';
import { register as train } from './train.ts';
import { register as targets } from './targets.ts';
import { register as distill } from './distill.ts';
import { register as evalCmd } from './eval.ts';
import { register as report } from './report.ts';
import { register as decode } from './decode.ts';
import { register as pool } from './pool.ts';
import { register as recipeSchema } from './recipe-schema.ts';
import { register as exportCmd } from './export.ts';
import { register as job } from './job.ts';
import { register as jobs } from './jobs.ts';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  lm,
  score,
  run,
  validate,
  corpus,
  features,
  fbank,
  align,
  train,
  targets,
  distill,
  evalCmd,
  report,
  decode,
  pool,
  recipeSchema,
  exportCmd,
  job,
  jobs,
];
