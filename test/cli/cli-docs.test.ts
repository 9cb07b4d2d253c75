import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { CLI_DOCS_HELP_WIDTH, CLI_DOCS_PATH, renderCliDocs } from '../../scripts/gen-cli-docs.ts';

describe('docs/cli.md', () => {
  it('is what scripts/gen-cli-docs.ts generates from the current CLI (else: run npm run docs:cli)', () => {
    const expected = renderCliDocs();
    const actual = readFileSync(CLI_DOCS_PATH, 'utf8');
    if (actual !== expected) {
      const a = actual.split('\n');
      const e = expected.split('\n');
      let i = 0;
      while (i < a.length && i < e.length && a[i] === e[i]) i++;
      expect.fail(
        `docs/cli.md is stale: run npm run docs:cli (first difference at line ${i + 1}: ` +
          `${JSON.stringify(a[i] ?? '<end of file>')} in the file, ${JSON.stringify(e[i] ?? '<end>')} generated)`,
      );
    }
  });

  it('renders the same bytes twice, whatever the terminal', () => {
    const first = renderCliDocs();
    const columns = process.stdout.columns;
    process.stdout.columns = 40;
    try {
      expect(renderCliDocs()).toBe(first);
    } finally {
      process.stdout.columns = columns;
    }
  });

  it('has every command and subcommand in sorted order, with its addHelpText extras', () => {
    const program = new Command().name('tool').description('a tool');
    program.command('zeta').description('last command').option('--flag <v>', 'a flag', '3');
    const group = program.command('alpha').description('a group');
    group.command('two').description('second sub');
    group.command('one').description('first sub').addHelpText('after', '\nExtra: the after text\n');
    program.command('hidden', { hidden: true }).description('not documented');
    const md = renderCliDocs(program);
    const headings = [...md.matchAll(/^## (.*)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(['Commands', 'tool', 'tool alpha', 'tool alpha one', 'tool alpha two', 'tool zeta']);
    expect(md).toContain('- [`tool alpha one`](#tool-alpha-one)');
    expect(md).toContain('Usage: tool alpha one [options]');
    expect(md).toContain('Extra: the after text');
    expect(md).toContain('--flag <v>  a flag (default: "3")');
    expect(md).not.toContain('not documented');
    expect(md).toContain('npm run docs:cli');
  });

  it('wraps at the fixed width', () => {
    const program = new Command().name('tool');
    program.command('long').description('word '.repeat(60).trim());
    const md = renderCliDocs(program);
    const longest = Math.max(
      ...md
        .split('\n')
        .filter((l) => l.startsWith('  long'))
        .map((l) => l.length),
    );
    expect(longest).toBeLessThanOrEqual(CLI_DOCS_HELP_WIDTH);
    expect(longest).toBeGreaterThan(CLI_DOCS_HELP_WIDTH - 10);
  });
});
