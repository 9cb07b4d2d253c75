/** am-distill library entry point: every stage is a library function; the CLI is a thin layer. */
export * from './util/index.ts';
