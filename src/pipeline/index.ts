/** Recipes (YAML) -> typed stages -> runner. See DESIGN.md sections 2, 3 and 8. */
export * from './schema.ts';
export * from './stage.ts';
export * from './recipe.ts';
export * from './runner.ts';
export * from './fingerprint.ts';
export { defaultRegistry, createDefaultRegistry } from './stages/index.ts';

import { loadRecipe, type LoadRecipeOptions } from './recipe.ts';
import { runPipeline, type RunOptions, type RunReport } from './runner.ts';
import { defaultRegistry } from './stages/index.ts';

export interface RunRecipeOptions extends Omit<LoadRecipeOptions, 'registry'>, Omit<RunOptions, 'registry'> {
  registry?: LoadRecipeOptions['registry'];
}

/** Load, validate and run a recipe file: what `am-distill run` does. */
export async function runRecipeFile(file: string, opts: RunRecipeOptions = {}): Promise<RunReport> {
  const registry = opts.registry ?? defaultRegistry;
  const recipe = loadRecipe(file, { ...opts, registry });
  return runPipeline(recipe, { ...opts, registry });
}
