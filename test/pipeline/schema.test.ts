import { describe, it, expect } from 'vitest';
import { validateOptions, outputRelevant, describeSchema, resolvePaths, type Schema } from '../../src/stages/schema.ts';
import { ConfigError } from '../../src/util/errors.ts';

const schema: Schema = {
  numMelBins: { type: 'number', integer: true, default: 40, min: 1, doc: 'mel bins' },
  frameShiftMs: { type: 'number', default: 10, unit: 'ms', min: 0, doc: 'frame shift' },
  window: { type: 'string', enum: ['povey', 'hamming'], default: 'povey', doc: 'window' },
  dither: { type: 'boolean', default: false, doc: 'dither' },
  splits: { type: 'array', items: { type: 'string', doc: 'split' }, optional: true, doc: 'splits' },
  numThreads: { type: 'number', integer: true, default: 1, affectsOutput: false, doc: 'threads' },
  out: { type: 'string', optional: true, path: true, doc: 'output path' },
  nested: { type: 'object', doc: 'nested', fields: { k: { type: 'number', default: 3, doc: 'k' } } },
};

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('option schema', () => {
  it('fills defaults and keeps given values', () => {
    expect(validateOptions(schema, { numMelBins: 23 })).toEqual({
      numMelBins: 23,
      frameShiftMs: 10,
      window: 'povey',
      dither: false,
      numThreads: 1,
      nested: { k: 3 },
    });
    expect(validateOptions(schema, null)).toMatchObject({ numMelBins: 40 });
  });
  it('rejects an unknown key with its dotted path and lists the known keys', () => {
    const e = errorOf(() => validateOptions(schema, { nested: { kk: 1 } }, { keyPath: 'stages.features' }));
    expect(e.location.keyPath).toBe('stages.features.nested.kk');
    expect(e.message).toContain("unknown key 'kk'");
    expect(e.expected).toBe('one of k');
  });
  it('rejects a wrong type with expected and found', () => {
    const e = errorOf(() => validateOptions(schema, { numMelBins: 'forty' }));
    expect(e.location.keyPath).toBe('numMelBins');
    expect(e.expected).toBe('an integer');
    expect(e.found).toBe('string "forty"');
    expect(errorOf(() => validateOptions(schema, { numMelBins: 2.5 })).found).toBe('number 2.5');
    expect(errorOf(() => validateOptions(schema, { dither: 'yes' })).expected).toBe('true or false');
    expect(errorOf(() => validateOptions(schema, { splits: ['a', 3] })).location.keyPath).toBe('splits[1]');
    expect(errorOf(() => validateOptions(schema, { nested: [1] })).found).toBe('list');
  });
  it('rejects out-of-range numbers and values outside an enum', () => {
    const e = errorOf(() => validateOptions(schema, { frameShiftMs: -1 }));
    expect(e.expected).toBe('>= 0 ms');
    expect(errorOf(() => validateOptions(schema, { window: 'hann' })).expected).toBe('one of "povey", "hamming"');
  });
  it('reports a missing required option', () => {
    const e = errorOf(() => validateOptions({ name: { type: 'string', doc: 'the name' } }, {}));
    expect(e.location.keyPath).toBe('name');
    expect(e.found).toBe('nothing');
  });
  it('hashes only options that can change outputs', () => {
    const eff = validateOptions(schema, { numThreads: 8 });
    expect(outputRelevant(schema, eff)).not.toHaveProperty('numThreads');
    expect(outputRelevant(schema, eff)).toHaveProperty('numMelBins', 40);
  });
  it('resolves path options against a base directory', () => {
    expect(resolvePaths(schema, { out: 'a/b', numMelBins: 1 }, '/base')).toEqual({ out: '/base/a/b', numMelBins: 1 });
    expect(resolvePaths(schema, { out: '/abs' }, '/base')).toEqual({ out: '/abs' });
  });
  it('delegates custom option groups to their owner and keeps its key paths', () => {
    const custom: Schema = {
      fbank: {
        type: 'custom',
        expected: 'a mapping of fbank options',
        doc: 'fbank',
        validate: (v, keyPath) => {
          const o = { numMelBins: 23, ...((v as object) ?? {}) } as Record<string, unknown>;
          if (typeof o.numMelBins !== 'number') {
            throw new ConfigError('wrong type', {
              keyPath: `${keyPath}.numMelBins`,
              expected: 'a finite number',
              found: JSON.stringify(o.numMelBins),
            });
          }
          return o;
        },
      },
    };
    expect(validateOptions(custom, {}, { keyPath: 'stages.features' })).toEqual({ fbank: { numMelBins: 23 } });
    const e = errorOf(() => validateOptions(custom, { fbank: { numMelBins: 'x' } }, { keyPath: 'stages.features' }));
    expect(e.location.keyPath).toBe('stages.features.fbank.numMelBins');
    expect(e.message).toBe(`key 'stages.features.fbank.numMelBins': wrong type; expected a finite number, found "x"`);
    expect(describeSchema(custom)).toContain('fbank: a mapping of fbank options  fbank');
  });
  it('documents every option with type, unit and default', () => {
    const doc = describeSchema(schema);
    expect(doc).toContain('frameShiftMs: number [ms] (default 10)  frame shift');
    expect(doc).toContain('window: povey|hamming (default "povey")');
    expect(doc).toContain('  k: number (default 3)  k');
  });
});
