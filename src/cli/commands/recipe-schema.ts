/**
 * `am-distill recipe-schema [--out FILE]`: the recipe format as JSON Schema (draft-07), generated
 * from the stages' option schemas, for editors that validate recipe YAML. schemas/recipe.schema.json
 * is this output, committed (`npm run schema:recipe` rewrites it).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { recipeJsonSchema } from '../../pipeline/json-schema.ts';
import { defaultRegistry } from '../../stages/index.ts';
import { writeJsonAtomic } from '../../util/fs.ts';

export function register(program: Command): void {
  program
    .command('recipe-schema')
    .description('print the JSON Schema of recipes (pipelines/*.yaml), generated from the stage option schemas')
    .option('--out <file>', 'write it to this file (atomically) instead of stdout')
    .action(async (f: { out?: string }) => {
      const schema = recipeJsonSchema(defaultRegistry);
      if (f.out) await writeJsonAtomic(resolve(f.out), schema);
      else process.stdout.write(JSON.stringify(schema, null, 2) + '\n');
    });
}
