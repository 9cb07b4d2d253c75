import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderCycles, folderEdges, longFunctions, MAX_FUNCTION_LINES, unexcepted } from '../../scripts/layout.ts';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');
const tmp = mkdtempSync(join(tmpdir(), 'amd-layout-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmp, 'src-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

describe('source layout (issue 31)', () => {
  it('src/ has no folder-level import cycle', () => {
    const edges = folderEdges(SRC);
    const cycles = folderCycles(edges);
    const explain = cycles.map(
      (c) =>
        `${c.join(' <-> ')}: ${edges
          .filter((e) => c.includes(e.from) && c.includes(e.to))
          .map((e) => e.imports[0])
          .join('; ')}`,
    );
    expect(explain).toEqual([]);
  });

  it(`no function in src/ is longer than ${MAX_FUNCTION_LINES} lines (scripts/layout.ts lists the exceptions)`, () => {
    expect(unexcepted(longFunctions(SRC)).map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`)).toEqual([]);
  });

  it('finds a cycle through type-only, re-export and dynamic imports, and only between folders', () => {
    const root = tree({
      'a/x.ts': "import type { Y } from '../b/y.ts';\nexport type X = Y;\n",
      'b/y.ts': "export type Y = number;\nexport async function f() { return import('../c/z.ts'); }\n",
      'c/z.ts': "export * from '../a/x.ts';\n",
      'd/w.ts': "import { f } from '../b/y.ts';\nimport './v.ts';\nexport const g = f;\n",
      'd/v.ts': 'export {};\n',
    });
    expect(folderCycles(folderEdges(root))).toEqual([['a', 'b', 'c']]);
    const acyclic = tree({ 'a/x.ts': "import '../b/y.ts';\n", 'b/y.ts': 'export {};\n' });
    expect(folderCycles(folderEdges(acyclic))).toEqual([]);
  });

  it('measures functions, methods and arrow functions, and honours exceptions', () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');
    const root = tree({
      'm.ts': `export function long() {\n${body(MAX_FUNCTION_LINES - 1)}\n}\nexport function ok() {\n${body(MAX_FUNCTION_LINES - 2)}\n}\nexport const arrow = () => {\n${body(MAX_FUNCTION_LINES)}\n};\nclass K {\n  method() {\n${body(MAX_FUNCTION_LINES)}\n  }\n}\nexport { K };\n`,
    });
    const found = longFunctions(root).map((f) => `${f.name}:${f.lines}`);
    expect(found.sort()).toEqual([
      `arrow:${MAX_FUNCTION_LINES + 2}`,
      `long:${MAX_FUNCTION_LINES + 1}`,
      `method:${MAX_FUNCTION_LINES + 2}`,
    ]);
    expect(
      unexcepted(longFunctions(root), new Map([['m.ts:long', 'test']]))
        .map((f) => f.name)
        .sort(),
    ).toEqual(['arrow', 'method']);
  });
});
