/**
 * train: the acoustic-model stages at the level of the pipeline's directories: `train` (baseline +
 * K members in parallel workers, Table 5 small-fraction baseline), `targets` (ensemble soft
 * targets through src/distill), `distill` (students on the stored soft targets), `eval` (frame
 * accuracy of every model and the ensemble, gain kept, Table 5).
 */
export * from './data.ts';
export * from './job.ts';
export * from './models.ts';
export * from './targets.ts';
export * from './distill.ts';
export * from './eval.ts';
