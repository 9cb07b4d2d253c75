/**
 * The on-disk artefacts of the stages (one module each: written, read and checked there) and other
 * tools' formats: models.json and students.json, targets.json, eval.json, decode.json, score.json,
 * and Kaldi binary archives and script files (kaldi-io.ts). The Arrow files (features, alignments,
 * soft targets) are the libraries' own: src/features/store.ts, src/align/store.ts,
 * src/distill/store.ts.
 */
export * from './models.ts';
export * from './targets.ts';
export * from './eval.ts';
export * from './decode.ts';
export * from './score.ts';
export * from './kaldi-io.ts';
