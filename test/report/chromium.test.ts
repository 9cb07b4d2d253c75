import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from '../../src/report/write.ts';
import { setLogLevel } from '../../src/util/log.ts';
import { CHROMIUM, loadInChromium } from './chromium.ts';
import { clone, makeFixture, tempDir } from './fixtures.ts';

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`SKIPPED: report.html rendering checks need ${CHROMIUM} (Debian: apt-get install -y chromium)`);

setLogLevel('warn');

/** What the page looks like to a reader: sizes of every figure and whether anything overflows. */
const PROBE = `JSON.stringify({
  title: document.title,
  svgs: [...document.querySelectorAll('figure svg')].map((s) => { const r = s.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; }),
  overflowX: document.documentElement.scrollWidth > window.innerWidth,
  sections: [...document.querySelectorAll('section')].map((s) => s.id),
  scripts: document.scripts.length,
  hostileText: [...document.querySelectorAll('.diff')].some((d) => d.textContent.includes('<script>alert(1)</script>')),
  injected: document.querySelectorAll('main script, main b, main i').length,
})`;

describe.skipIf(!hasChromium)('report.html in headless Chromium (needs /usr/bin/chromium)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('amd-report-chromium-');
    await writeReport(clone(makeFixture(21, undefined, { perSpeaker: 12 }).input), dir, { bootstrapReplicates: 100 });
  });

  it('the checker sees console output, exceptions and blocked external loads (control pages)', async () => {
    const bad = join(dir, 'bad.html');
    writeFileSync(
      bad,
      '<!DOCTYPE html><html><head><title>x</title></head><body><script>console.error("boom"); undefinedFn();</script></body></html>',
    );
    const r = await loadInChromium(pathToFileURL(bad).href);
    expect(r.console).toEqual([{ type: 'error', text: 'boom' }]);
    expect(r.exceptions.join('\n')).toMatch(/undefinedFn is not defined/);
    // The report's own CSP blocks an external stylesheet someone might add, and says so.
    const html = readFileSync(join(dir, 'report.html'), 'utf8').replace(
      '</head>',
      '<link rel="stylesheet" href="https://example.invalid/x.css"></head>',
    );
    const withLink = join(dir, 'with-link.html');
    writeFileSync(withLink, html);
    const r2 = await loadInChromium(pathToFileURL(withLink).href);
    expect([...r2.log.map((l) => l.text), ...r2.console.map((c) => c.text)].join('\n')).toMatch(
      /Content Security Policy/,
    );
    expect(r2.blocked).toEqual([{ url: 'https://example.invalid/x.css', reason: 'csp' }]);
  });

  it('renders without console messages, errors or requests, with every figure laid out', async () => {
    const shotDir = process.env.AM_DISTILL_SCREENSHOT_DIR;
    const r = await loadInChromium(pathToFileURL(join(dir, 'report.html')).href, {
      probe: PROBE,
      screenshot: true,
      widthPx: 1200,
    });
    expect(r.exceptions).toEqual([]);
    expect(r.console).toEqual([]);
    expect(r.log.filter((l) => l.level === 'error' || l.level === 'warning')).toEqual([]);
    expect(r.externalRequests).toEqual([]);
    const p = JSON.parse(r.probe as string);
    expect(p.title).toBe('Distillation report: synthetic-digits');
    expect(p.scripts).toBe(0);
    expect(p.injected).toBe(0);
    expect(p.hostileText).toBe(true); // shown as text, not run
    expect(p.overflowX).toBe(false);
    expect(p.svgs).toHaveLength(8);
    for (const [w, h] of p.svgs) {
      expect(w).toBeGreaterThan(300);
      expect(h).toBeGreaterThan(100);
    }
    expect(p.sections).toEqual([
      'table-1',
      'systems',
      'corpus',
      'significance',
      'soft-targets',
      'temperature-sweep',
      'training-curves',
      'per-speaker',
      'frequent-errors',
      'worst-utterances',
      'stages',
      'environment',
    ]);
    expect(r.screenshotPng!.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    if (shotDir) {
      mkdirSync(shotDir, { recursive: true });
      writeFileSync(join(shotDir, 'report.png'), r.screenshotPng!);
    }
  });

  it('every plots/*.svg parses as XML on its own', async () => {
    for (const name of ['curve-learning-rate', 'per-speaker-wer', 'stage-times']) {
      const r = await loadInChromium(pathToFileURL(join(dir, 'plots', `${name}.svg`)).href, {
        probe: `document.documentElement.nodeName + '|' + document.getElementsByTagName('parsererror').length`,
      });
      expect(r.probe, name).toBe('svg|0');
      expect(r.exceptions).toEqual([]);
    }
  });
});
