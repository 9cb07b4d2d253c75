/** distill: ensemble combination, top-k soft targets in Arrow, the distillation loss, student training. */
export * from './float16.ts';
export * from './combine.ts';
export * from './topk.ts';
export * from './store.ts';
export * from './storage.ts';
export * from './loss.ts';
export * from './source.ts';
export * from './generate.ts';
export * from './synthetic.ts';
export * from './student.ts';
