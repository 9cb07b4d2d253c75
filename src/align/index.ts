/**
 * The align stage glue: GMM features from the feature store, training and forced alignment with
 * src/hmm, the Arrow alignment store, and word-boundary scoring against reference timings.
 */
export * from './store.ts';
export * from './source.ts';
export * from './score.ts';
export * from './corpus.ts';
