/**
 * A small WebAssembly assembler: enough of the binary format (types, one exported memory,
 * exported functions, locals, i32 / f64 / v128 instructions, blocks and loops) to generate the
 * SIMD kernels of wasm-spectrum.ts at run time from TypeScript, with no toolchain and no binary
 * in the repository.
 */

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F64 | typeof V128;

/** Core opcodes used here. */
export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  localGet: 0x20,
  localSet: 0x21,
  f32Load: 0x2a,
  f64Load: 0x2b,
  i32Load: 0x28,
  f64Store: 0x39,
  i32Const: 0x41,
  f64Const: 0x44,
  i32LtS: 0x48,
  i32GeS: 0x4e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f64Div: 0xa3,
  f64PromoteF32: 0xbb,
} as const;

/** SIMD opcodes (after the 0xfd prefix). */
export const Simd = {
  load: 0x00,
  load64Splat: 0x0a,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  f64x2Splat: 0x14,
  f64x2ExtractLane: 0x21,
  store64Lane: 0x5b,
  f64x2PromoteLowF32x4: 0x5f,
  f64x2Add: 0xf0,
  f64x2Sub: 0xf1,
  f64x2Mul: 0xf2,
  f64x2Div: 0xf3,
  f64x2Neg: 0xed,
  f64x2Eq: 0x47,
  f64x2Gt: 0x4a,
  f32x4DemoteF64x2Zero: 0x5e,
  and: 0x4e,
  or: 0x50,
  bitselect: 0x52,
  i64x2ShrU: 0xcd,
  i64x2Sub: 0xd1,
} as const;

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

function sleb(n: number, out: number[]): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

const f64Bytes = (v: number): number[] => Array.from(new Uint8Array(new Float64Array([v]).buffer));

/** The body of one function under construction. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];

  constructor(
    readonly name: string,
    readonly params: readonly ValType[],
    readonly results: readonly ValType[],
  ) {}

  /** A new local of `type`; returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  /** local.get / local.set of local `i`. */
  get(i: number): this {
    return this.op(Op.localGet).index(i);
  }
  set(i: number): this {
    return this.op(Op.localSet).index(i);
  }
  private index(i: number): this {
    uleb(i, this.code);
    return this;
  }
  i32(v: number): this {
    this.code.push(Op.i32Const);
    sleb(v | 0, this.code);
    return this;
  }
  f64(v: number): this {
    this.code.push(Op.f64Const, ...f64Bytes(v));
    return this;
  }
  /** A v128 constant with both f64 lanes `v`. */
  f64x2(v: number): this {
    return this.simd(Simd.const).op(...f64Bytes(v), ...f64Bytes(v));
  }
  /**
   * A local holding the f64x2 (number) or i64x2 (bigint) constant `v` in both lanes, set where
   * this is called: V8 rebuilds a v128.const at every use, so loops read constants from locals.
   */
  constLocal(v: number | bigint): number {
    const l = this.local(V128);
    if (typeof v === 'bigint') this.i64x2(v);
    else this.f64x2(v);
    return this.set(l) && l;
  }
  /** A v128 constant with both i64 lanes `v` (a bigint). */
  i64x2(v: bigint): this {
    const b = Array.from(new Uint8Array(new BigUint64Array([v]).buffer));
    return this.simd(Simd.const).op(...b, ...b);
  }
  simd(op: number): this {
    this.code.push(0xfd);
    uleb(op, this.code);
    return this;
  }
  /** A memory access `op` (core, or SIMD with `simd`) at the address on the stack + offset. */
  mem(op: number, offset: number, alignLog2: number, simd = false): this {
    if (simd) this.simd(op);
    else this.code.push(op);
    uleb(alignLog2, this.code);
    uleb(offset, this.code);
    return this;
  }
  /** v128 load / store at address + offset (alignment hint 8 bytes). */
  vload(offset: number): this {
    return this.mem(Simd.load, offset, 3, true);
  }
  vstore(offset: number): this {
    return this.mem(Simd.store, offset, 3, true);
  }
  /** Both lanes = the f64 at address + offset. */
  vsplatLoad(offset: number): this {
    return this.mem(Simd.load64Splat, offset, 3, true);
  }
  /** Store lane `lane` of the v128 on the stack at address + offset. */
  vstoreLane(offset: number, lane: number): this {
    return this.mem(Simd.store64Lane, offset, 3, true).op(lane);
  }
  /** i8x16.shuffle with the given 16 byte indices (0-15 first operand, 16-31 second). */
  shuffle(lanes: readonly number[]): this {
    return this.simd(Simd.shuffle).op(...lanes);
  }
  /** f64x2 lane shuffle: result lanes (a0, b0) style indices 0-1 first operand, 2-3 second. */
  shuffle64(l0: number, l1: number): this {
    const bytes = (l: number): number[] => Array.from({ length: 8 }, (_, i) => 8 * l + i);
    return this.shuffle([...bytes(l0), ...bytes(l1)]);
  }

  /**
   * for (i = from; i < to; i += step) body(), with `i` an i32 local and `to` a constant or a
   * local (`toLocal`).
   */
  forLoop(i: number, from: number, to: { value: number } | { local: number }, step: number, body: () => void): this {
    this.i32(from).set(i);
    this.op(Op.block, 0x40, Op.loop, 0x40);
    this.get(i);
    if ('value' in to) this.i32(to.value);
    else this.get(to.local);
    this.op(Op.i32GeS, Op.brIf, 1);
    body();
    this.get(i).i32(step).op(Op.i32Add).set(i);
    this.op(Op.br, 0, Op.end, Op.end);
    return this;
  }

  /** Encoded body (locals + code + end). */
  encode(): number[] {
    const out: number[] = [];
    const groups: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(groups.length, out);
    for (const [n, t] of groups) {
      uleb(n, out);
      out.push(t);
    }
    for (const b of this.code) out.push(b);
    out.push(Op.end);
    const sized: number[] = [];
    uleb(out.length, sized);
    return sized.concat(out);
  }
}

function section(id: number, payload: number[]): number[] {
  const out = [id];
  uleb(payload.length, out);
  return out.concat(payload);
}

function name(s: string, out: number[]): void {
  const bytes = Buffer.from(s, 'utf8');
  uleb(bytes.length, out);
  out.push(...bytes);
}

/** A module of exported functions and one exported memory ("memory") of `pages` 64 KiB pages. */
export function assemble(functions: readonly FunctionBuilder[], pages: number): Uint8Array {
  const types: number[] = [];
  uleb(functions.length, types);
  for (const f of functions) {
    types.push(0x60);
    uleb(f.params.length, types);
    types.push(...f.params);
    uleb(f.results.length, types);
    types.push(...f.results);
  }
  const funcs: number[] = [];
  uleb(functions.length, funcs);
  functions.forEach((_, i) => uleb(i, funcs));
  const memory: number[] = [1, 0];
  uleb(pages, memory);
  const exports: number[] = [];
  uleb(functions.length + 1, exports);
  name('memory', exports);
  exports.push(2, 0);
  functions.forEach((f, i) => {
    name(f.name, exports);
    exports.push(0);
    uleb(i, exports);
  });
  const code: number[] = [];
  uleb(functions.length, code);
  for (const f of functions) for (const b of f.encode()) code.push(b);
  const parts = [
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, types),
    section(3, funcs),
    section(5, memory),
    section(7, exports),
    section(10, code),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
