/**
 * am-distill library entry point. Every pipeline stage is one module of `stages` with its options
 * schema and its run function (trainAcousticModels, decodeCorpus, ...); the CLI is a thin layer over
 * these. Modules are exported as namespaces (their names follow src/ folders):
 *
 *   import { features, corpus } from 'am-distill';
 *   const m = features.computeFbank(samples, 16000, { numMelBins: 40 });
 */
export * from './util/index.ts';
export * as audio from './audio/index.ts';
export * as corpus from './corpus/index.ts';
export * as corpora from '../corpora/index.ts';
export * as features from './features/index.ts';
export * as lang from './lang/index.ts';
export * as hmm from './hmm/index.ts';
export * as align from './align/index.ts';
export * as nnet from './nnet/index.ts';
export * as distill from './distill/index.ts';
export * as lm from './lm/index.ts';
export * as decode from './decode/index.ts';
export * as score from './score/index.ts';
export * as stages from './stages/index.ts';
export * as report from './report/index.ts';
export * as pipeline from './pipeline/index.ts';
export * as formats from './formats/index.ts';
