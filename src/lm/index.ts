export * from './text.ts';
export * from './kneser-ney.ts';
export * from './arpa.ts';
export * from './model.ts';
export * from './ngram-store.ts';
export * from './store-file.ts';
export * from './train.ts';
export * from './grammar.ts';
