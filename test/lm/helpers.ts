import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/util/log.ts';
import { parseSentences, type Sentence } from '../../src/lm/text.ts';

export const LM_GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'lm');

export function fixtureSentences(name: string): Sentence[] {
  return parseSentences(readFileSync(join(LM_GOLDEN, name), 'utf8'), name);
}

/** A logger that records warnings instead of printing them. */
export function quietLogger(warnings: string[] = []): Logger {
  return {
    debug() {},
    info() {},
    error() {},
    warn: (m: string) => {
      warnings.push(m);
    },
    progress: () => ({ tick() {}, done() {} }),
  };
}

/** |a - b| <= tol, with a message naming the case. */
export function expectClose(a: number, b: number, tol: number, what: string): void {
  if (!(Math.abs(a - b) <= tol)) throw new Error(`${what}: ${a} vs ${b} differ by ${Math.abs(a - b)} > ${tol}`);
}
