/**
 * The published recipe JSON Schema: the committed schemas/recipe.schema.json is what the option
 * schemas generate, every shipped recipe validates against it (ajv, strict), and on recipes that
 * both can judge, the JSON Schema and the recipe loader agree.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { optionJsonSchema, recipeJsonSchema } from '../../src/pipeline/json-schema.ts';
import { parseRecipe } from '../../src/pipeline/recipe.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { main } from '../../src/cli/main.ts';
import { REPO_ROOT, tempDir } from '../helpers.ts';

const SCHEMA_FILE = join(REPO_ROOT, 'schemas', 'recipe.schema.json');
const generated = recipeJsonSchema(defaultRegistry);
const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(generated);

/** ajv's verdict: null when valid, else its first error as '<instancePath> <message>'. */
function schemaError(recipe: unknown): string | null {
  if (validate(recipe)) return null;
  const e = validate.errors![0];
  return `${e.instancePath} ${e.message}`;
}

/** The loader's verdict on the same recipe (as YAML text): null when it loads. */
function loaderError(recipe: unknown): string | null {
  try {
    parseRecipe(JSON.stringify(recipe), 'r.yaml', { registry: defaultRegistry, cwd: REPO_ROOT });
    return null;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

const base = {
  name: 'x',
  corpus: { name: 'synth' },
  stages: {
    prepare: { numSpeakers: 4 },
    features: { fbank: { numMelBins: 40 }, mfcc: { numCeps: 13 } },
    align: {},
    train: {},
    targets: {},
    distill: {},
    eval: {},
    lm: {},
    decode: {},
    score: {},
    report: {},
  },
};
type Recipe = typeof base & Record<string, unknown>;
const edit = (f: (r: Recipe) => void): Recipe => {
  const r = structuredClone(base) as Recipe;
  f(r);
  return r;
};

describe('recipe JSON Schema', () => {
  it('is committed as generated (npm run schema:recipe rewrites schemas/recipe.schema.json)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'schemas/recipe.schema.json is stale: npm run schema:recipe').toBe(
      JSON.stringify(generated, null, 2) + '\n',
    );
  });

  it('is what `am-distill recipe-schema --out FILE` writes', async () => {
    const dir = tempDir('recipe-schema-');
    try {
      expect(await main(['node', 'am-distill', 'recipe-schema', '--out', join(dir, 's.json')])).toBe(0);
      expect(readFileSync(join(dir, 's.json'), 'utf8')).toBe(readFileSync(SCHEMA_FILE, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts every recipe in pipelines/, each of which names it for editors', () => {
    const files = readdirSync(join(REPO_ROOT, 'pipelines')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const text = readFileSync(join(REPO_ROOT, 'pipelines', f), 'utf8');
      expect(schemaError(parseYaml(text)), f).toBeNull();
      // The YAML language server's modeline, so that editors find the schema.
      expect(text.split('\n')[0], f).toBe('# yaml-language-server: $schema=../schemas/recipe.schema.json');
    }
  });

  it('maps option specs: integer ranges, units, enums, patterns, defaults, null for optional values', () => {
    expect(
      optionJsonSchema({ type: 'number', integer: true, min: 1, max: 9, unit: 'ms', default: 3, doc: 'shift' }),
    ).toEqual({ description: 'shift [ms]', type: 'integer', minimum: 1, maximum: 9, default: 3 });
    expect(optionJsonSchema({ type: 'string', enum: ['a', 'b'], optional: true, doc: 'mode' })).toEqual({
      description: 'mode',
      type: ['string', 'null'],
      enum: ['a', 'b', null],
    });
    expect(optionJsonSchema({ type: 'string', pattern: /^[a-z]+$/, doc: 'id' })).toEqual({
      description: 'id',
      type: 'string',
      pattern: '^[a-z]+$',
    });
    expect(optionJsonSchema({ type: 'custom', expected: 'any value', doc: 'free', validate: (v) => v })).toEqual({
      description: 'free; any value',
    });
  });

  it('agrees with the recipe loader on valid and invalid recipes', () => {
    const cases: [string, Recipe, boolean][] = [
      ['the base recipe', base, true],
      [
        'no name',
        edit((r) => {
          delete (r as Partial<Recipe>).name;
        }),
        false,
      ],
      [
        'a bad name',
        edit((r) => {
          r.name = '-x';
        }),
        false,
      ],
      [
        'an unknown top-level key',
        edit((r) => {
          r.bogus = 1;
        }),
        false,
      ],
      [
        'an unknown stage',
        edit((r) => {
          (r.stages as Record<string, unknown>).nope = {};
        }),
        false,
      ],
      [
        'an unknown stage option',
        edit((r) => {
          (r.stages.train as Record<string, unknown>).hiddenUnitz = 3;
        }),
        false,
      ],
      [
        'a stage with null options',
        edit((r) => {
          (r.stages as Record<string, unknown>).report = null;
        }),
        true,
      ],
      [
        'an unknown corpus',
        edit((r) => {
          r.corpus.name = 'nope';
        }),
        false,
      ],
      [
        'a synth option out of range',
        edit((r) => {
          r.stages.prepare.numSpeakers = 0;
        }),
        false,
      ],
      [
        'an fsdd option under the synth corpus',
        edit((r) => {
          (r.stages.prepare as Record<string, unknown>).mode = 'isolated';
        }),
        false,
      ],
      [
        'fsdd options under the fsdd corpus',
        edit((r) => {
          r.corpus = { name: 'fsdd', dir: 'x' } as typeof r.corpus;
          r.stages.prepare = { mode: 'isolated' } as unknown as typeof r.stages.prepare;
        }),
        true,
      ],
      [
        'a feature option of the wrong type',
        edit((r) => {
          (r.stages.features.fbank as Record<string, unknown>).numMelBins = 'forty';
        }),
        false,
      ],
      [
        'an unknown fbank option',
        edit((r) => {
          (r.stages.features.fbank as Record<string, unknown>).melBins = 40;
        }),
        false,
      ],
      [
        'mfcc: false',
        edit((r) => {
          (r.stages.features as Record<string, unknown>).mfcc = false;
        }),
        true,
      ],
      [
        'mfcc: true',
        edit((r) => {
          (r.stages.features as Record<string, unknown>).mfcc = true;
        }),
        false,
      ],
      [
        "topK: 'auto'",
        edit((r) => {
          (r.stages.targets as Record<string, unknown>).topK = 'auto';
        }),
        true,
      ],
      [
        'topK: 0',
        edit((r) => {
          (r.stages.targets as Record<string, unknown>).topK = 0;
        }),
        false,
      ],
      [
        'a comparison of three systems',
        edit((r) => {
          (r.stages.score as Record<string, unknown>).comparisons = [['a', 'b', 'c']];
        }),
        false,
      ],
      [
        'a VTLP warp of 1',
        edit((r) => {
          (r.stages.features as Record<string, unknown>).vtlp = { warps: [1] };
        }),
        false,
      ],
      [
        'a temperature of 0',
        edit((r) => {
          (r.stages.targets as Record<string, unknown>).temperature = 0;
        }),
        false,
      ],
      [
        'a seed list',
        edit((r) => {
          r.seeds = [1, 2];
        }),
        true,
      ],
    ];
    for (const [what, recipe, valid] of cases) {
      const bySchema = schemaError(recipe);
      const byLoader = loaderError(recipe);
      expect(bySchema === null, `${what}: JSON Schema says ${bySchema ?? 'valid'}`).toBe(valid);
      expect(byLoader === null, `${what}: loader says ${byLoader ?? 'valid'}`).toBe(valid);
    }
  });
});
