export * from './types.ts';
export * from './text.ts';
export * from './manifest.ts';
export * from './validate.ts';
export * from './kaldi.ts';
export * from './skips.ts';
export * from './adapter.ts';
