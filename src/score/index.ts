export * from './trn.ts';
export * from './align.ts';
export * from './wer.ts';
export * from './report.ts';
export * from './frame-accuracy.ts';
export * from './significance.ts';
export * from './fidelity.ts';
export * from './errors.ts';
