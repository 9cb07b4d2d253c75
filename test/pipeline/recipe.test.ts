import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipe, parseRecipe } from '../../src/pipeline/recipe.ts';
import { parseSetArgument } from '../../src/stages/schema.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { toyRegistry } from './toy-stages.ts';

const registry = toyRegistry();
const cwd = '/work/exp-root';

const RECIPE = `name: toy
seed: 7
corpus:
  label: hello
stages:
  count:
    n: 5
  double: {}
`;

function parse(text: string, opts: { sets?: string[]; corpusDir?: string; expDir?: string } = {}) {
  return parseRecipe(text, 'pipelines/toy.yaml', { registry, cwd, ...opts });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('recipe loading', () => {
  it('validates every stage, fills defaults and orders stages as registered', () => {
    const r = parse('name: toy\nstages:\n  double: {factor: 3}\n  count:\n');
    expect(r.stages.map((s) => s.name)).toEqual(['count', 'double']);
    expect(r.stages[0].options).toEqual({ n: 3, threads: 1 });
    expect(r.stages[1].options).toEqual({ factor: 3 });
    expect(r.seed).toBe(0);
    expect(r.expDir).toBe('/work/exp-root/exp/toy');
    expect(r.sections).toEqual({ corpus: { label: 'toy' } });
  });
  it('validates sections declared by stages and resolves their paths against the working directory', () => {
    const r = parse(RECIPE + 'expDir: out/x\n');
    expect(r.sections.corpus).toEqual({ label: 'hello' });
    expect(r.expDir).toBe('/work/exp-root/out/x');
    expect(r.sections.corpus.dir).toBeUndefined();
  });
  it('reports malformed YAML with file, line and column', () => {
    const e = configError(() => parse('name: toy\nstages:\n  count: {n: 3\n  double: {}\n'));
    expect(e.location.file).toBe('pipelines/toy.yaml');
    expect(e.location.line).toBeGreaterThanOrEqual(3);
    expect(e.message).toMatch(/^pipelines\/toy\.yaml:\d+: malformed YAML at column \d+/);
    const tab = configError(() => parse('name: toy\nstages:\n  count:\n\tn: 3\n'));
    expect(tab.location.line).toBe(4);
    const dup = configError(() => parse('name: toy\nname: again\nstages: {count: {}}\n'));
    expect(dup.location.line).toBe(2);
  });
  it('reports an unknown key with its dotted path, the file and the line', () => {
    const e = configError(() => parse('name: toy\nstages:\n  count:\n    n: 3\n    nn: 4\n'));
    expect(e.location).toMatchObject({ file: 'pipelines/toy.yaml', line: 5, keyPath: 'stages.count.nn' });
    expect(e.message).toContain(
      "pipelines/toy.yaml:5, key 'stages.count.nn': unknown key 'nn'; expected one of n, threads, inputFile",
    );
    const top = configError(() => parse('name: toy\nsed: 1\nstages: {count: {}}\n'));
    expect(top.location).toMatchObject({ line: 2, keyPath: 'sed' });
  });
  it('reports a wrong type with expected and found at the value line', () => {
    const e = configError(() => parse('name: toy\nstages:\n  count:\n    n: many\n'));
    expect(e.location).toMatchObject({ line: 4, keyPath: 'stages.count.n' });
    expect(e.expected).toBe('an integer');
    expect(e.found).toBe('string "many"');
  });
  it('rejects an unknown stage, listing the known stages', () => {
    const e = configError(() => parse('name: toy\nstages:\n  count: {}\n  align: {}\n'));
    expect(e.location).toMatchObject({ line: 4, keyPath: 'stages.align' });
    expect(e.expected).toBe('one of count, double, fail, steps');
  });
  it('rejects a stage whose input stage is missing from the recipe', () => {
    const e = configError(() => parse('name: toy\nstages:\n  double: {}\n'));
    expect(e.message).toContain("stage 'double' reads the output of 'count'");
  });
  it('requires a name and a stages mapping', () => {
    expect(configError(() => parse('stages: {count: {}}\n')).location.keyPath).toBe('name');
    expect(configError(() => parse('name: toy\n')).location.keyPath).toBe('stages');
    expect(configError(() => parse('name: toy\nstages: [count]\n')).found).toBe('list');
    expect(configError(() => parse('- a\n- b\n')).found).toBe('list');
    expect(configError(() => parse('name: bad name\nstages: {count: {}}\n')).location.keyPath).toBe('name');
  });
  it('names the file when it cannot be read', () => {
    const e = configError(() => loadRecipe('/nonexistent/recipe.yaml', { registry }));
    expect(e.location.file).toBe('/nonexistent/recipe.yaml');
    expect(e.found).toBe('ENOENT');
  });
  it('loads a file from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-recipe-'));
    const file = join(dir, 'toy.yaml');
    writeFileSync(file, RECIPE);
    expect(loadRecipe(file, { registry, cwd: dir }).expDir).toBe(join(dir, 'exp', 'toy'));
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('--set overrides', () => {
  it('parses values as YAML scalars', () => {
    expect(parseSetArgument('stages.count.n=80')).toEqual({ keyPath: 'stages.count.n', value: 80 });
    expect(parseSetArgument('a.b=true')).toEqual({ keyPath: 'a.b', value: true });
    expect(parseSetArgument('a=0.5')).toEqual({ keyPath: 'a', value: 0.5 });
    expect(parseSetArgument('a=hello world')).toEqual({ keyPath: 'a', value: 'hello world' });
    expect(parseSetArgument('a="80"')).toEqual({ keyPath: 'a', value: '80' });
    expect(parseSetArgument('a=[x, y]')).toEqual({ keyPath: 'a', value: ['x', 'y'] });
    expect(parseSetArgument('a=k=v')).toEqual({ keyPath: 'a', value: 'k=v' });
    expect(parseSetArgument('a=')).toEqual({ keyPath: 'a', value: null });
  });
  it('rejects malformed assignments', () => {
    expect(configError(() => parseSetArgument('novalue')).message).toContain('malformed --set argument');
    expect(configError(() => parseSetArgument('=3')).message).toContain('malformed --set argument');
    expect(configError(() => parseSetArgument('a..b=3')).message).toContain('malformed --set key');
    expect(configError(() => parseSetArgument('a=[1, 2')).message).toContain('malformed value');
  });
  it('overrides file values, creates missing mappings, and is validated like the file', () => {
    const r = parse(RECIPE, { sets: ['stages.count.n=9', 'seed=3', 'stages.double.factor=0.5', 'corpus.dir=data/x'] });
    expect(r.stages[0].options.n).toBe(9);
    expect(r.seed).toBe(3);
    expect(r.stages[1].options.factor).toBe(0.5);
    expect(r.sections.corpus.dir).toBe('/work/exp-root/data/x');
    const added = parse('name: toy\nstages:\n  count:\n', { sets: ['stages.double.factor=4'] });
    expect(added.stages.map((s) => s.name)).toEqual(['count', 'double']);
  });
  it('points errors caused by --set at the argument, not the file', () => {
    const e = configError(() => parse(RECIPE, { sets: ['stages.count.n=lots'] }));
    expect(e.location.file).toBe('--set stages.count.n=lots');
    expect(e.location.keyPath).toBe('stages.count.n');
    expect(e.found).toBe('string "lots"');
    const unknown = configError(() => parse(RECIPE, { sets: ['stages.count.bogus=1'] }));
    expect(unknown.location).toMatchObject({ file: '--set stages.count.bogus=1', keyPath: 'stages.count.bogus' });
    const stage = configError(() => parse(RECIPE, { sets: ['stages.decode.beam=1'] }));
    expect(stage.message).toContain("unknown stage 'decode'");
    // The key the error names was created by --set under a mapping of the file: blame the argument.
    expect(stage.location).toEqual({ file: '--set stages.decode.beam=1', keyPath: 'stages.decode' });
    const nope = configError(() => parse(RECIPE, { sets: ['stages.nope.x=1'] }));
    expect(nope.message).toMatch(/^--set stages\.nope\.x=1, key 'stages\.nope': unknown stage 'nope'/);
    // A key the file has keeps the file's line even when --set changed a key below it.
    const bad = configError(() => parse(RECIPE + 'bogus: {a: 1}\n', { sets: ['bogus.deeper=2'] }));
    expect(bad.location).toEqual({ file: 'pipelines/toy.yaml', line: 9, keyPath: 'bogus' });
    const through = configError(() => parse(RECIPE, { sets: ['stages.count.n.x=1'] }));
    expect(through.message).toContain("cannot set 'stages.count.n.x'");
  });
  it('applies --exp-dir and --corpus-dir overrides', () => {
    const r = parse(RECIPE, { expDir: '/tmp/e', corpusDir: '/data/c' });
    expect(r.expDir).toBe('/tmp/e');
    expect(r.sections.corpus.dir).toBe('/data/c');
    const bad = configError(() => parse(RECIPE, { corpusDir: '/data/c', sets: ['corpus.label=5'] }));
    expect(bad.location.file).toBe('--set corpus.label=5');
  });
});
