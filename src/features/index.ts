/**
 * Features: Kaldi-compatible log-mel filterbank and MFCC, deltas, CMVN, splicing, HTK feature
 * files, and the Arrow feature store with the `features` stage.
 */
export * from './options.ts';
export * from './matrix.ts';
export * from './frames.ts';
export * from './fft.ts';
export * from './mel.ts';
export * from './frontend.ts';
export * from './fbank.ts';
export * from './mfcc.ts';
export * from './deltas.ts';
export * from './cmvn.ts';
export * from './splice.ts';
export * from './htk.ts';
export * from './kaldi-text.ts';
export * from './store.ts';
export * from './cmvn-file.ts';
export * from './compute.ts';
