/** nnet: backends, the frame-classifier model, data feeding, training, checkpoints, parallel members. */
export * from './errors.ts';
export * from './backend.ts';
export { patchWasmMatMul, unpatchWasmMatMul, isWasmMatMulPatched } from './wasm-matmul.ts';
export * from './data.ts';
export * from './synthetic.ts';
export * from './sources.ts';
export * from './arrow-source.ts';
export * from './model.ts';
export * from './optim.ts';
export * from './io.ts';
export * from './train.ts';
export * from './pool.ts';
