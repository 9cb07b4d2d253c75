/**
 * Two checks of the source layout (issue 31), run by test/docs/layout.test.ts and by hand:
 *
 *   node bin/run-ts.js scripts/layout.ts [srcDir]
 *
 * - Folder-level import cycles: every relative import (static, type-only, re-export, dynamic) of
 *   a file in folder A of a file in folder B is an edge A -> B (folders by their path under src/,
 *   so src/stages and src/stages/x would be two folders); a strongly connected set of more than
 *   one folder is a cycle, printed with example imports.
 * - Long functions: every function, method, constructor, arrow function and function expression
 *   with a body longer than the limit (lines from its first to its last line), except those in
 *   LONG_FUNCTION_EXCEPTIONS, each with its reason.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const MAX_FUNCTION_LINES = 120;

/** `file:name` -> why it may be longer than MAX_FUNCTION_LINES (docs/decisions.md). */
export const LONG_FUNCTION_EXCEPTIONS: ReadonlyMap<string, string> = new Map([
  [
    'decode/decoder.ts:searchFrames',
    'the token-passing hot loop; the relax step is written out in place so that no call boxes its floating-point arguments',
  ],
]);

export interface FolderEdge {
  from: string;
  to: string;
  /** `a/x.ts -> b/y.ts`, every import behind the edge. */
  imports: string[];
}

export interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
}

function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(root);
  return out;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** Relative module specifiers a file imports or re-exports, including import('...') and import types. */
function importedSpecifiers(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier)
    )
      out.push(n.moduleSpecifier.text);
    else if (
      ts.isCallExpression(n) &&
      n.expression.kind === ts.SyntaxKind.ImportKeyword &&
      n.arguments[0] &&
      ts.isStringLiteral(n.arguments[0])
    )
      out.push(n.arguments[0].text);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal))
      out.push(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out.filter((s) => s.startsWith('.'));
}

/** Folder -> folder import edges of the .ts files under `root` (imports leaving `root` are ignored). */
export function folderEdges(root: string): FolderEdge[] {
  const abs = resolve(root);
  const folderOf = (f: string): string => relative(abs, dirname(f)) || '.';
  const edges = new Map<string, FolderEdge>();
  for (const file of sourceFiles(abs)) {
    for (const spec of importedSpecifiers(parse(file))) {
      const target = resolve(dirname(file), spec);
      if (relative(abs, target).startsWith('..')) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (from === to) continue;
      const key = `${from}\0${to}`;
      const e = edges.get(key) ?? { from, to, imports: [] };
      e.imports.push(`${relative(abs, file)} -> ${relative(abs, target)}`);
      edges.set(key, e);
    }
  }
  return [...edges.values()];
}

/** Strongly connected sets of more than one folder (Tarjan), each sorted, in a stable order. */
export function folderCycles(edges: readonly FolderEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    if (!next.has(e.to)) next.set(e.to, []);
  }
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const set: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        set.push(w);
      } while (w !== v);
      if (set.length > 1) out.push(set.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) connect(v);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function functionName(n: ts.Node): string {
  const named = n as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText();
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  const p = n.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText();
  if (p && ts.isPropertyAssignment(p)) return p.name.getText();
  return '(anonymous)';
}

/** Functions under `root` longer than `max` lines, longest first. */
export function longFunctions(root: string, max = MAX_FUNCTION_LINES): LongFunction[] {
  const abs = resolve(root);
  const out: LongFunction[] = [];
  for (const file of sourceFiles(abs)) {
    const sf = parse(file);
    const visit = (n: ts.Node): void => {
      if ((ts.isFunctionLike(n) && (n as ts.FunctionLikeDeclaration).body) || ts.isClassStaticBlockDeclaration(n)) {
        const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
        const last = sf.getLineAndCharacterOfPosition(n.end).line;
        if (last - first + 1 > max)
          out.push({ file: relative(abs, file), line: first + 1, name: functionName(n), lines: last - first + 1 });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out.sort((a, b) => b.lines - a.lines || (a.file < b.file ? -1 : 1));
}

/** The long functions not excepted (by `file:name`). */
export function unexcepted(
  list: readonly LongFunction[],
  exceptions: ReadonlyMap<string, string> = LONG_FUNCTION_EXCEPTIONS,
): LongFunction[] {
  return list.filter((f) => !exceptions.has(`${f.file}:${f.name}`));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.dirname, 'layout.ts')) {
  const root = process.argv[2] ?? join(import.meta.dirname, '..', 'src');
  const cycles = folderCycles(folderEdges(root));
  console.log(`folder cycles: ${cycles.length}`);
  const edges = folderEdges(root);
  for (const c of cycles) {
    console.log(`  ${c.join(' <-> ')}`);
    for (const e of edges)
      if (c.includes(e.from) && c.includes(e.to))
        console.log(`    ${e.from} -> ${e.to}: ${e.imports.slice(0, 3).join('; ')}`);
  }
  const long = longFunctions(root);
  console.log(`functions over ${MAX_FUNCTION_LINES} lines: ${long.length}`);
  for (const f of long)
    console.log(
      `  ${f.lines} ${f.file}:${f.line} ${f.name}${LONG_FUNCTION_EXCEPTIONS.has(`${f.file}:${f.name}`) ? ` (exception: ${LONG_FUNCTION_EXCEPTIONS.get(`${f.file}:${f.name}`)})` : ''}`,
    );
  process.exitCode = cycles.length > 0 || unexcepted(long).length > 0 ? 1 : 0;
}
