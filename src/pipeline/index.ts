/** Recipes (YAML) -> typed stages -> runner. See docs/design.md sections 2, 3 and 8. */
export * from '../stages/schema.ts';
export * from '../stages/stage.ts';
export * from './recipe.ts';
export * from './runner.ts';
export * from './fingerprint.ts';
export * from './study.ts';
export * from './export-kaldi.ts';
export { defaultRegistry, createDefaultRegistry } from '../stages/index.ts';

import { loadRecipe, type LoadRecipeOptions } from './recipe.ts';
import { formatRunReport, runPipeline, type RunOptions, type RunReport } from './runner.ts';
import { runStudy, STUDY_JSON, type StudyReport } from './study.ts';
import { defaultRegistry } from '../stages/index.ts';

export interface RunRecipeOptions extends Omit<LoadRecipeOptions, 'registry'>, Omit<RunOptions, 'registry'> {
  registry?: LoadRecipeOptions['registry'];
}

/** Load, validate and run a recipe file (one experiment; a study recipe: see runStudyFile). */
export async function runRecipeFile(file: string, opts: RunRecipeOptions = {}): Promise<RunReport> {
  const registry = opts.registry ?? defaultRegistry;
  const recipe = loadRecipe(file, { ...opts, registry });
  return runPipeline(recipe, { ...opts, registry });
}

/** What `am-distill run` does: one experiment, or every run of a study recipe and their pool. */
export async function runStudyFile(file: string, opts: RunRecipeOptions = {}): Promise<StudyReport> {
  return runStudy(file, { ...opts, registry: opts.registry ?? defaultRegistry });
}

export function formatStudyReport(r: StudyReport): string {
  const lines = r.reports.map(formatRunReport);
  if (r.folds.length) {
    lines.push(`study ${r.recipe}: ${r.expDir}/${STUDY_JSON}`);
    for (const f of r.folds) {
      const chosen = f.chosen === null ? '' : `, candidate ${f.chosen + 1} chosen on dev speaker ${f.fold.innerDev}`;
      lines.push(`  fold ${f.fold.label}: ${f.runs.length} final run(s)${chosen}`);
    }
    for (const [split, dir] of Object.entries(r.pools)) lines.push(`  pooled ${split}: ${dir}/pool.md`);
  }
  return lines.join('\n');
}
