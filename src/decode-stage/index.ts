/**
 * The decode side of the pipeline as library functions: the lm stage (trainCorpusLm), the decode
 * stage (decodeCorpus over acoustic systems: one model or an ensemble) and the score stage
 * (scoreDecodeDir), plus the glue that finds an experiment's models.
 */
export * from './corpus-text.ts';
export * from './lm.ts';
export * from './systems.ts';
export * from './find-systems.ts';
export * from './decode.ts';
export * from './score.ts';
