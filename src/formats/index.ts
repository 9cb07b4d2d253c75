/** Other tools' on-disk formats: Kaldi binary archives and script files (kaldi-io.ts). */
export * from './kaldi-io.ts';
