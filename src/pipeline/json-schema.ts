/**
 * The recipe format as a JSON Schema (draft-07), generated from the same option schemas that
 * validate recipes (TOP_LEVEL, the stages' sections and options), so that editors (the YAML
 * language server, VS Code, JetBrains) complete and check recipe YAML. `am-distill recipe-schema`
 * prints it; schemas/recipe.schema.json is the committed copy (a test keeps it equal).
 *
 * The JSON Schema accepts what the loader accepts where the option schemas say it (types, enums,
 * ranges, patterns, unknown keys, `null` for optional values). Checks that only code can make
 * (custom validators without a `jsonSchema`, cross-option and cross-stage checks, the sample-rate
 * checks of the features stage) stay the loader's: a recipe the schema accepts can still fail to
 * load, with the file, line and key path.
 */
import { TOP_LEVEL } from './recipe.ts';
import type { OptionSpec, Schema } from '../stages/schema.ts';
import type { RecipeHead, StageRegistry } from '../stages/stage.ts';

export type JsonSchema = { [key: string]: unknown };

const DRAFT = 'http://json-schema.org/draft-07/schema#';

/** Allow `null` besides the schema's own type: the loader reads null as absent (optional) or as a value (nullable). */
function orNull(s: JsonSchema): JsonSchema {
  if (typeof s.type !== 'string' && !s.enum) return { anyOf: [s, { type: 'null' }] };
  const out = { ...s };
  if (typeof s.type === 'string') out.type = [s.type, 'null'];
  if (s.enum) out.enum = [...(s.enum as unknown[]), null];
  return out;
}

function describe(spec: OptionSpec): string {
  const unit = spec.type === 'number' && spec.unit ? ` [${spec.unit}]` : '';
  return `${spec.doc}${unit}`.trim();
}

/** One option as JSON Schema. */
export function optionJsonSchema(spec: OptionSpec): JsonSchema {
  const s: JsonSchema = {};
  const description = describe(spec);
  if (description) s.description = description;
  switch (spec.type) {
    case 'number':
      s.type = spec.integer ? 'integer' : 'number';
      if (spec.min !== undefined) s.minimum = spec.min;
      if (spec.max !== undefined) s.maximum = spec.max;
      break;
    case 'string':
      s.type = 'string';
      if (spec.enum) s.enum = [...spec.enum];
      if (spec.pattern) s.pattern = spec.pattern.source;
      break;
    case 'boolean':
      s.type = 'boolean';
      break;
    case 'array':
      s.type = 'array';
      s.items = optionJsonSchema(spec.items);
      if (spec.minItems !== undefined) s.minItems = spec.minItems;
      break;
    case 'object':
      Object.assign(s, objectJsonSchema(spec.fields));
      break;
    case 'map':
      s.type = 'object';
      s.additionalProperties = optionJsonSchema(spec.values);
      break;
    case 'custom':
      // The validator is code: its declared JSON shape, else any value (the loader checks it).
      Object.assign(s, spec.jsonSchema ?? {});
      s.description = `${description}${description ? '; ' : ''}${spec.expected}`;
      break;
  }
  if ('default' in spec && spec.default !== undefined) s.default = structuredClone(spec.default);
  return spec.nullable || spec.optional ? orNull(s) : s;
}

/** A mapping with exactly these keys; required: what the loader requires (no default, not optional). */
export function objectJsonSchema(fields: Schema): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [key, spec] of Object.entries(fields)) {
    properties[key] = optionJsonSchema(spec);
    const hasDefault = 'default' in spec && spec.default !== undefined;
    if (!hasDefault && !spec.optional && !spec.nullable && spec.type !== 'object' && spec.type !== 'custom')
      required.push(key);
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

/** A stage's options (null or absent: all defaults). */
function stageOptions(schema: Schema, doc: string): JsonSchema {
  return orNull({ description: doc, ...objectJsonSchema(schema) });
}

/** The spec at a dotted path of a schema (`corpus.name`), or undefined. */
function specAt(schema: Schema, path: string): OptionSpec | undefined {
  const [head, ...rest] = path.split('.');
  const spec = schema[head];
  if (!spec || rest.length === 0) return spec;
  return spec.type === 'object' ? specAt(spec.fields, rest.join('.')) : undefined;
}

/** `{a: {properties: {b: {const: v}}, required: [b]}}` for the dotted path a.b. */
function constAt(path: string, value: string): JsonSchema {
  const parts = path.split('.');
  let s: JsonSchema = { const: value };
  for (let i = parts.length - 1; i >= 0; i--)
    s = { type: 'object', properties: { [parts[i]]: s }, required: [parts[i]] };
  return s;
}

function headWith(path: string, value: string): RecipeHead {
  const [section, key] = path.split('.');
  return { name: 'schema', seed: 0, sections: { [section]: { [key]: value } } };
}

/**
 * The JSON Schema of a recipe for the stages of `registry`. A stage whose options depend on the
 * recipe (prepare: the corpus adapter's options) gets one `if`/`then` per value of the key its
 * schema depends on (`schemaKey`, e.g. corpus.name).
 */
export function recipeJsonSchema(registry: StageRegistry): JsonSchema {
  const sections = registry.sections();
  const topSchema: Schema = { ...TOP_LEVEL, ...sections };
  const top = objectJsonSchema(topSchema);
  const stageProps: Record<string, JsonSchema> = {};
  const conditional: JsonSchema[] = [];
  for (const name of registry.names()) {
    const def = registry.get(name);
    if (typeof def.schema !== 'function') {
      stageProps[name] = stageOptions(def.schema, def.doc);
      continue;
    }
    stageProps[name] = { description: def.doc, type: ['object', 'null'] };
    const key = def.schemaKey;
    const selector = key ? specAt(sections, key) : undefined;
    if (!key || selector?.type !== 'string' || !selector.enum) {
      throw new Error(
        `stage '${name}' has a recipe-dependent schema without a schemaKey naming a section key with an enum`,
      );
    }
    for (const value of selector.enum) {
      conditional.push({
        if: constAt(key, value),
        then: {
          type: 'object',
          properties: {
            stages: {
              type: 'object',
              properties: { [name]: stageOptions(def.schema(headWith(key, value)), `${def.doc} (${key} ${value})`) },
            },
          },
        },
      });
    }
  }
  const properties = top.properties as Record<string, JsonSchema>;
  properties.stages = {
    description: `stage name -> options, run in pipeline order (${registry.names().join(', ')})`,
    type: 'object',
    properties: stageProps,
    additionalProperties: false,
  };
  return {
    $schema: DRAFT,
    title: 'am-distill recipe',
    description:
      'A recipe (pipelines/*.yaml): experiment name, seed, corpus and the options of each stage. Generated by `am-distill recipe-schema` from the option schemas; do not edit.',
    ...top,
    required: [...((top.required as string[] | undefined) ?? []), 'stages'],
    ...(conditional.length ? { allOf: conditional } : {}),
  };
}
