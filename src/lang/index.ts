export * from './phones.ts';
export * from './symbols.ts';
export * from './lexicon.ts';
export * from './lang.ts';
