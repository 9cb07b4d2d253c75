import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../helpers.ts';

/** Source and doc files of the folders that cite the design page. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'fixture') return [];
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|js|mjs|md|py)$/.test(name) ? [path] : [];
  });
}

const cited = ['src', 'test', 'corpora', 'bench', 'scripts'].flatMap((d) => files(join(REPO_ROOT, d)));

/** "docs/design.md section 4", "sections 2, 3 and 8", across comment line breaks. */
function designCitations(text: string): string[] {
  const flat = text.replace(/\n\s*(?:\*|\/\/|#)?\s*/g, ' ');
  const out: string[] = [];
  for (const m of flat.matchAll(
    /docs\/design\.md,?\s+sections?\s+([0-9][0-9a-z]*(?:(?:,\s*|\s+and\s+)[0-9][0-9a-z]*)*)/g,
  )) {
    out.push(...m[1].split(/,\s*|\s+and\s+/));
  }
  return out;
}

describe('docs/design.md citations', () => {
  const design = readFileSync(join(REPO_ROOT, 'docs/design.md'), 'utf8');
  const sections = new Set([...design.matchAll(/^## ([0-9][0-9a-z]*)\. /gm)].map((m) => m[1]));

  it('parses single and listed sections, also across a comment line break', () => {
    expect(designCitations('see docs/design.md section 4): x')).toEqual(['4']);
    expect(designCitations('See docs/design.md sections 2, 3 and 8. */')).toEqual(['2', '3', '8']);
    expect(designCitations('matter (docs/design.md\n * section 6b: the')).toEqual(['6b']);
  });

  it('has the numbered sections the code cites', () => {
    expect([...sections]).toEqual(['1', '2', '3', '4', '5', '6', '6b', '7', '8']);
  });

  it('every citation in src, test, corpora, bench and scripts names an existing section', () => {
    const bad: string[] = [];
    let count = 0;
    for (const file of cited) {
      const text = readFileSync(file, 'utf8');
      for (const s of designCitations(text)) {
        count++;
        if (!sections.has(s)) bad.push(`${relative(REPO_ROOT, file)}: section ${s}`);
      }
    }
    expect(bad).toEqual([]);
    expect(count).toBeGreaterThan(0);
  });

  it('nothing cites the design page outside the repository', () => {
    const outside = 'DESIGN' + '.md';
    const hits = cited.filter((f) => readFileSync(f, 'utf8').includes(outside)).map((f) => relative(REPO_ROOT, f));
    expect(hits).toEqual([]);
  });
});
