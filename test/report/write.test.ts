import { describe, it, expect, beforeAll, vi } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeReport } from '../../src/report/write.ts';
import { validateReportJson } from '../../src/report/validate.ts';
import { formatResultsRow, RESULTS_TABLE_HEADER } from '../../src/report/results.ts';
import { escapeMarkdown, formatInlineDiff, markdownCodeBlock, pct, signedPoints } from '../../src/report/format.ts';
import { MEMBER_ID } from '../../src/report/types.ts';
import { main } from '../../src/cli/main.ts';
import { setLogLevel } from '../../src/util/log.ts';
import { captureLogger } from '../helpers.ts';
import { clone, HOSTILE_UTT, HOSTILE_WORDS, makeFixture, tempDir } from './fixtures.ts';

setLogLevel('warn');

const { input } = makeFixture(21, undefined, { perSpeaker: 12 });
let dir: string;
let html: string, md: string, json: any;

beforeAll(async () => {
  dir = tempDir('amd-report-');
  await writeReport(clone(input), dir, { bootstrapReplicates: 200 });
  html = readFileSync(join(dir, 'report.html'), 'utf8');
  md = readFileSync(join(dir, 'report.md'), 'utf8');
  json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
});

describe('writeReport', () => {
  it("names the final directory in its log line when the caller renames outDir afterwards (the report stage's temp dir)", async () => {
    setLogLevel('info');
    try {
      const log = captureLogger();
      const tmp = tempDir('amd-report-tmp-');
      await writeReport(clone(input), tmp, { bootstrapReplicates: 20, logger: log, finalDir: '/exp/x/report' });
      const text = log.lines.join('');
      expect(text).toContain(
        'report: /exp/x/report/report.html (8 figures), /exp/x/report/report.md, /exp/x/report/report.json',
      );
      expect(text).not.toContain(tmp);
    } finally {
      setLogLevel('warn');
    }
  });
  it('writes report.json, report.md, report.html and the plots, and no temp files', () => {
    expect(readdirSync(dir).sort()).toEqual(['plots', 'report.html', 'report.json', 'report.md']);
    expect(readdirSync(join(dir, 'plots')).sort()).toEqual([
      'curve-dev-frame-accuracy.svg',
      'curve-learning-rate.svg',
      'curve-train-loss.svg',
      'per-speaker-wer.svg',
      'stage-times.svg',
      'temperature-sweep.svg',
      'test-frame-accuracy.svg',
      'test-wer.svg',
    ]);
    for (const f of readdirSync(join(dir, 'plots')))
      expect(readFileSync(join(dir, 'plots', f), 'utf8')).toMatch(
        /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns/,
      );
  });
  it('report.json validates: systems present, frame accuracies and kept mass in [0, 1], WER fractions', () => {
    expect(() => validateReportJson(json, 'report.json')).not.toThrow();
    expect(Object.keys(json.systems)).toEqual(
      expect.arrayContaining(['baseline', 'ensemble', 'student', 'member-1', 'member-2', 'member-3']),
    );
    for (const [id, s] of Object.entries<any>(json.systems)) {
      expect(id === 'baseline' || id === 'ensemble' || id === 'student' || MEMBER_ID.test(id)).toBe(true);
      for (const split of ['dev', 'test']) {
        expect(s.frameAccuracy[split]).toBeGreaterThanOrEqual(0);
        expect(s.frameAccuracy[split]).toBeLessThanOrEqual(1);
        expect(s.wer[split]).toBeGreaterThan(0);
        expect(s.wer[split]).toBeLessThan(1);
      }
    }
    expect(json.softTargets).toEqual({
      T: 2,
      k: 8,
      bytesPerFrame: 56.5,
      keptMass: 0.987,
      denseBytesPerFrame: 488,
      combination: 'arithmetic-mean-probs',
      hardWeight: 0.5,
    });
    expect(Object.keys(json.gainRecovered)).toEqual(['frameAccuracy', 'wer', 'notes']);
    expect(json.significance.studentVsBaseline.method).toBe('paired-bootstrap');
    expect(json.stages.align).toBe(210.4);
    expect(json.environment).toMatchObject({ backend: 'wasm', commit: expect.any(String), configHash: 'c0ffee' });
  });
  it('gives the same bytes for the same input', async () => {
    const dir2 = tempDir('amd-report-');
    await writeReport(clone(input), dir2, { bootstrapReplicates: 200 });
    for (const f of ['report.json', 'report.md', 'report.html', 'plots/stage-times.svg']) {
      expect(readFileSync(join(dir2, f), 'utf8'), f).toBe(readFileSync(join(dir, f), 'utf8'));
    }
  });
  it('replaces plots of an earlier run and leaves nothing when the input is invalid', async () => {
    const d = tempDir('amd-report-');
    const full = clone(input);
    await writeReport(full, d);
    const lean = clone(input);
    lean.temperatureSweep = null;
    await writeReport(lean, d, { bootstrapReplicates: 50 });
    expect(existsSync(join(d, 'plots', 'temperature-sweep.svg'))).toBe(false);
    const e = tempDir('amd-report-');
    const bad = clone(input);
    bad.systems.student.frameAccuracy.test = 60.8;
    await expect(writeReport(bad, e)).rejects.toThrow(/systems\.student\.frameAccuracy\.test/);
    expect(readdirSync(e)).toEqual([]);
  });
});

describe('report.html', () => {
  it('needs no network: a CSP forbids loads, and nothing refers to another origin', () => {
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    );
    expect(html).not.toMatch(/<script|<link|<img|@import|url\((?!#)/i);
    const external = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]).filter((u) => !u.startsWith('#'));
    expect(external).toEqual([]);
  });
  it('escapes utterance text: hostile words appear only escaped', () => {
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).not.toContain('<b>bold</b>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain(
      '(a&amp;b-&gt;*)'
        .replace('*', '&lt;b&gt;bold&lt;/b&gt;')
        .replace('(a&amp;b', '(&lt;script&gt;alert(1)&lt;/script&gt;'),
    );
    // the hypothesis's literal "&lt;x&gt;" is text, shown as typed (escaped once more)
    expect(html).toContain('&amp;lt;x&amp;gt;');
    expect(html).toContain(escapeHtmlLike(HOSTILE_UTT));
  });
  it("shows Table 1 with the paper's rows, the share of the gain kept, and each section", () => {
    const t1 = html.slice(
      html.indexOf('<section id="table-1">'),
      html.indexOf('</section>', html.indexOf('<section id="table-1">')),
    );
    for (const s of [
      '58.9%',
      '10.9%',
      '61.1%',
      '10.7%',
      '60.8%',
      '10xEnsemble',
      'Distilled single model',
      '3-net ensemble',
    ])
      expect(t1).toContain(s);
    expect(t1).toContain(`<td class="num">${pct(json.systems.student.frameAccuracy.test)}</td>`);
    // The share kept closes the differences table, after the differences it is made of.
    const d = html.slice(
      html.indexOf('<section id="differences">'),
      html.indexOf('</section>', html.indexOf('<section id="differences">')),
    );
    for (const s of ['Share of the ensemble&#39;s gain kept', '86%', '100%', '3-net ensemble - Baseline', 'speaker'])
      expect(d).toContain(s);
    expect(d.indexOf('Share of the ensemble')).toBeGreaterThan(d.indexOf('Distilled single model - Baseline'));
    expect(d).toContain(
      `<td class="num">${pct(json.differences.frameAccuracy?.gainKept.value ?? json.gainRecovered.frameAccuracy, 0)}</td>`,
    );
    for (const id of [
      'significance',
      'soft-targets',
      'temperature-sweep',
      'training-curves',
      'per-speaker',
      'worst-utterances',
      'stages',
      'environment',
    ]) {
      expect(html).toContain(`<section id="${id}">`);
    }
    expect(html.match(/<svg xmlns/g)).toHaveLength(8);
    expect(html).toContain(signedPoints(json.significance.studentVsBaseline.deltaWer, 2));
  });
});

function escapeHtmlLike(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

describe('report.md', () => {
  it("has Table 1 with the paper's rows and links the plots", () => {
    expect(md).toMatch(/^# Distillation report: synthetic-digits\n/);
    expect(md).toContain(
      '| System | Test frame accuracy | Test WER | Paper system | Paper frame accuracy | Paper WER |',
    );
    expect(md).toMatch(/\| Baseline \| [0-9.]+% \| [0-9.]+% \| Baseline \| 58\.9% \| 10\.9% \|/);
    expect(md).toMatch(
      /\| Distilled single model \| [0-9.]+% \| [0-9.]+% \| Distilled single model \| 60\.8% \| 10\.7% \|/,
    );
    expect(md).toContain('![Training loss](plots/curve-train-loss.svg)');
    expect(md).toContain('## Worst utterances of the Distilled single model');
  });

  it('lists the most frequent errors with a count per system', () => {
    expect(md).toContain(
      '## Most frequent errors (test)\n\n| Error | Baseline | 3-net ensemble | Distilled single model |',
    );
    const top = input.systems.student.errorLists!.test!.confusionPairs[0];
    expect(md).toMatch(new RegExp(`\\| ${top.ref} -\\\\> ${top.hyp} \\| \\d+ \\| \\d+ \\| ${top.count} \\|`));
    expect(md).toContain('| (deletion) \\*\\*bold\\*\\* | 1 | 1 | 1 |'); // escaped
  });
  it('keeps hostile text inside code blocks or escaped', () => {
    const fence = /^(`{3,})\n[\s\S]*?\n\1$/gm;
    const outside = md.replace(fence, '');
    expect(outside).not.toContain('<script>');
    expect(outside).not.toContain('<not a real corpus>');
    expect(outside).toContain('\\<not a real corpus\\>');
    const block = md.match(fence)!.find((b) => b.includes('alert'))!;
    expect(block).toContain(`(${HOSTILE_WORDS[0]}->`);
    const fenceLen = /^`+/.exec(block)![0].length;
    const inner = block.slice(fenceLen, -fenceLen);
    expect(Math.max(...[...inner.matchAll(/`+/g)].map((m) => m[0].length))).toBeLessThan(fenceLen); // the `` of ``tick`` cannot close it
  });
});

describe('format helpers', () => {
  it('escape Markdown so that text cannot open tags, tables or emphasis', () => {
    expect(escapeMarkdown('a|b <i>*x*</i> & [l](u)\nnext')).toBe('a\\|b \\<i\\>\\*x\\*\\</i\\> & \\[l\\](u) next');
    expect(escapeMarkdown('&lt;b&gt; &#60;')).toBe('&amp;lt;b&amp;gt; &amp;#60;');
    expect(escapeMarkdown('58.9%')).toBe('58.9%');
    expect(escapeMarkdown('fsdd-digits.yaml')).toBe('fsdd-digits.yaml');
    expect(escapeMarkdown('# not a heading')).toBe('\\# not a heading');
    expect(escapeMarkdown('- not a list')).toBe('\\- not a list');
    expect(escapeMarkdown('12. not a list')).toBe('12\\. not a list');
    expect(escapeMarkdown('a_b `c`')).toBe('a\\_b \\`c\\`');
    expect(markdownCodeBlock('x ``` y')).toBe('````\nx ``` y\n````');
  });
  it('formats an alignment as icefall-style (REF->HYP) tokens', () => {
    expect(
      formatInlineDiff([
        { op: 'C', ref: 'one', hyp: 'one' },
        { op: 'S', ref: 'two', hyp: 'too' },
        { op: 'D', ref: 'three', hyp: null },
        { op: 'I', ref: null, hyp: 'uh' },
      ]),
    ).toBe('one (two->too) (three->*) (*->uh)');
  });
  it('formats percentages and signed points', () => {
    expect(pct(0.5891)).toBe('58.9%');
    expect(pct(null)).toBe('n/a');
    expect(signedPoints(-0.0123, 2)).toBe('-1.23');
    expect(signedPoints(0.004, 1)).toBe('+0.4');
    expect(signedPoints(-0.00001, 1)).toBe('0.0');
  });
});

describe('RESULTS.md row', () => {
  it('has one cell per header column with the test numbers and the command', () => {
    const row = formatResultsRow(json, {
      recipe: 'pipelines/fsdd-digits.yaml',
      command: 'npx am-distill run pipelines/fsdd-digits.yaml --corpus-dir ../shared/corpora/fsdd | tee log',
    });
    const cells = (s: string) => s.split(/(?<!\\)\|/).slice(1, -1);
    expect(cells(row)).toHaveLength(cells(RESULTS_TABLE_HEADER.split('\n')[0]).length);
    expect(row).toContain(`${pct(json.systems.baseline.frameAccuracy.test)} / ${pct(json.systems.baseline.wer.test)}`);
    expect(row).toContain(`${pct(json.gainRecovered.frameAccuracy, 0)} / ${pct(json.gainRecovered.wer, 0)}`);
    expect(row).toContain(
      '`npx am-distill run pipelines/fsdd-digits.yaml --corpus-dir ../shared/corpora/fsdd \\| tee log`',
    );
    expect(row).toMatch(/^\| pipelines\/fsdd-digits\.yaml \| synthetic-digits \| 3 \|/);
    expect(row).not.toContain('\n');
  });
});

describe('am-distill report', () => {
  async function cli(...args: string[]) {
    let stdout = '',
      stderr = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      stdout += String(s);
      return true;
    });
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    try {
      return { code: await main(['node', 'am-distill', ...args]), stdout, stderr };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }
  it('writes the report and prints the summary', async () => {
    const d = tempDir('amd-report-cli-');
    const f = join(d, 'report-input.json');
    writeFileSync(f, JSON.stringify(input));
    const r = await cli('report', '--input', f, '--out', join(d, 'report'), '--replicates', '100', '--worst', '3');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /Test WER differences in points, 95% speaker-bootstrap intervals: 3-net ensemble - baseline .*share of the ensemble's gain kept \d+%/,
    );
    expect(r.stdout).toContain(`wrote ${join(d, 'report', 'report.html')}`);
    const j = JSON.parse(readFileSync(join(d, 'report', 'report.json'), 'utf8'));
    expect(j.worstUtterances.utterances).toHaveLength(3);
    expect(j.significance.studentVsBaseline.replicates).toBe(100);
  });
  it('exits 2 naming the file and key on bad input, and on a bad option', async () => {
    const d = tempDir('amd-report-cli-');
    const f = join(d, 'report-input.json');
    const bad = clone(input) as any;
    bad.systems.baseline.wer.test.sub = -1;
    writeFileSync(f, JSON.stringify(bad));
    const r = await cli('report', '--input', f, '--out', join(d, 'out'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}, key 'systems.baseline.wer.test.sub'`);
    expect(existsSync(join(d, 'out'))).toBe(false);
    const r2 = await cli('report', '--input', f, '--out', join(d, 'out'), '--replicates', 'many');
    expect(r2.code).toBe(2);
  });
});
