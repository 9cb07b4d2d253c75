export * from './types.ts';
export * from './search-lm.ts';
export * from './graph.ts';
export * from './decoder.ts';
export * from './hybrid.ts';
export * from './tune.ts';
export * from './adapters.ts';
