import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers.ts';

/** GitHub's heading anchor: lower case, punctuation other than '-' and '_' dropped, spaces to '-'. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

const withoutCode = (md: string) => md.replace(/```[\s\S]*?```/g, '');

function anchors(md: string): Set<string> {
  return new Set([...withoutCode(md).matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1])));
}

/** Relative links `[text](path#anchor)` of a Markdown file that name no existing file or heading. */
function brokenLinks(file: string): string[] {
  const md = readFileSync(file, 'utf8');
  const bad: string[] = [];
  for (const m of withoutCode(md).matchAll(/\]\(([^)\s]+)\)/g)) {
    const url = m[1];
    if (/^[a-z]+:/.test(url)) continue;
    const [path, anchor] = url.split('#');
    const target = path ? resolve(dirname(file), path) : file;
    if (!existsSync(target)) bad.push(`${url}: no such file`);
    else if (anchor && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(anchor))
      bad.push(`${url}: no such heading`);
  }
  return bad;
}

describe('Markdown links of README.md and docs/', () => {
  it('computes GitHub anchors', () => {
    expect(slug('4. Formats')).toBe('4-formats');
    expect(slug('Soft targets (`am-distill.soft-targets`)')).toBe('soft-targets-am-distillsoft-targets');
    expect(slug('am-distill corpus prepare')).toBe('am-distill-corpus-prepare');
  });

  const files = [
    'README.md',
    ...readdirSync(join(REPO_ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  it.each(files)('%s: every relative link names an existing file and heading', (file) => {
    expect(
      brokenLinks(join(REPO_ROOT, file)).map((b) => `${relative(REPO_ROOT, join(REPO_ROOT, file))}: ${b}`),
    ).toEqual([]);
  });
});
