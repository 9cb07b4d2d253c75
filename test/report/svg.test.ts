import { describe, it, expect } from 'vitest';
import { barChart, escapeXml, lineChart, logTicks, niceStep, niceTicks } from '../../src/report/svg.ts';
import { Rng } from '../../src/util/rng.ts';

/** Elements with a given tag, as attribute maps (the generator writes one element per line). */
function elements(svg: string, tag: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag}\\s([^>]*?)/?>`, 'g'))].map((m) =>
    Object.fromEntries([...m[1].matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
  );
}

describe('nice ticks', () => {
  it('use steps of 1, 2 or 5 x 10^n and cover the data on random ranges', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 500; i++) {
      const a = (rng.next() - 0.5) * 10 ** rng.int(8 - 3),
        b = a + rng.next() * 10 ** (rng.int(6) - 3);
      const t = niceTicks(a, b, 5);
      const mant = t.step / 10 ** Math.floor(Math.log10(t.step) + 1e-9);
      expect([1, 2, 5, 10].some((m) => Math.abs(mant - m) < 1e-6)).toBe(true);
      expect(t.domain[0]).toBeLessThanOrEqual(a);
      expect(t.domain[1]).toBeGreaterThanOrEqual(b);
      expect(t.ticks[0]).toBe(t.domain[0]);
      expect(t.ticks[t.ticks.length - 1]).toBeCloseTo(t.domain[1], 9);
      expect(t.ticks.length).toBeGreaterThanOrEqual(2);
      expect(t.ticks.length).toBeLessThanOrEqual(12);
    }
  });
  it('give exact decimal labels (no 0.30000000000000004)', () => {
    expect(niceTicks(0.58, 0.64, 6).ticks).toEqual([0.58, 0.59, 0.6, 0.61, 0.62, 0.63, 0.64]);
    expect(niceTicks(0.58, 0.64, 5).ticks).toEqual([0.58, 0.6, 0.62, 0.64]);
    expect(niceTicks(0.1, 0.7, 6).ticks).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    expect(niceTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceStep(7, 5)).toBe(2);
  });
  it('widen a single value and keep integer steps for epochs', () => {
    expect(niceTicks(0.5, 0.5).domain[0]).toBeLessThan(0.5);
    expect(niceTicks(0, 0).domain).toEqual([-1, 1]);
    expect(niceTicks(1, 3, 6, true).ticks).toEqual([1, 2, 3]);
    expect(niceTicks(1, 1, 6, true).ticks).toEqual([0, 1, 2]);
    expect(niceTicks(NaN, 3).domain).toEqual([0, 1]);
  });
  it('on a log scale cover whole decades, with 2 and 5 on short ranges', () => {
    expect(logTicks(0.001, 0.008)).toMatchObject({ domain: [0.001, 0.01], ticks: [0.001, 0.002, 0.005, 0.01] });
    expect(logTicks(1e-5, 1).ticks).toEqual([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1]);
  });
});

describe('lineChart', () => {
  const chart = (extra: Partial<Parameters<typeof lineChart>[0]> = {}) =>
    lineChart({
      id: 'c',
      title: 'Loss <&> "quoted"',
      xLabel: 'epoch',
      yLabel: 'loss',
      integerX: true,
      series: [
        {
          name: 'baseline',
          points: [
            [1, 3],
            [2, 2],
            [3, 1.5],
            [4, 1.2],
          ],
        },
        {
          name: 'student <b>',
          points: [
            [1, 2.5],
            [2, null],
            [3, 1.4],
            [4, 1.1],
          ],
        },
      ],
      ...extra,
    });
  it('escapes title, labels and legend text', () => {
    const svg = chart();
    expect(svg).toContain('Loss &lt;&amp;&gt; &quot;quoted&quot;');
    expect(svg).toContain('student &lt;b&gt;');
    expect(svg).not.toMatch(/<b>/);
    expect(escapeXml("a\u0001b'")).toBe('ab&#39;');
  });
  it('maps points into the plot area and leaves gaps at null', () => {
    const svg = chart();
    const paths = elements(svg, 'path').map((p) => p.d);
    // baseline: one 4-point line; student: a lone point (circle only), then a 2-point segment
    expect(paths).toHaveLength(2);
    expect(paths[0].match(/[ML]/g)).toEqual(['M', 'L', 'L', 'L']);
    expect(paths[1].match(/[ML]/g)).toEqual(['M', 'L']);
    const circles = elements(svg, 'circle');
    expect(circles).toHaveLength(4 + 3);
    const frame = elements(svg, 'rect').find((r) => r.fill === 'none')!;
    const [x0, y0, w, h] = ['x', 'y', 'width', 'height'].map((k) => Number(frame[k]));
    for (const c of circles) {
      expect(Number(c.cx)).toBeGreaterThanOrEqual(x0);
      expect(Number(c.cx)).toBeLessThanOrEqual(x0 + w);
      expect(Number(c.cy)).toBeGreaterThanOrEqual(y0);
      expect(Number(c.cy)).toBeLessThanOrEqual(y0 + h);
    }
    // higher loss is drawn higher up (smaller y)
    const base = circles.slice(0, 4).map((c) => Number(c.cy));
    expect(base).toEqual([...base].sort((a, b) => a - b));
    expect(svg).toContain('student &lt;b&gt;');
  });
  it('draws a log scale and skips non-positive values there', () => {
    const svg = lineChart({
      id: 'lr',
      title: 'lr',
      xLabel: 'epoch',
      yLabel: 'lr',
      yScale: 'log',
      series: [
        {
          name: 'a',
          points: [
            [1, 0.008],
            [2, 0.004],
            [3, 0],
            [4, 0.001],
          ],
        },
      ],
    });
    expect(elements(svg, 'circle')).toHaveLength(3);
    expect(svg).toContain('>0.001<');
    expect(svg).toContain('>0.01<');
  });
  it('says "no data" for empty series, is byte-identical on repeat, and keeps ids unique per chart', () => {
    const empty = lineChart({ id: 'e', title: 't', xLabel: 'x', yLabel: 'y', series: [] });
    expect(empty).toContain('no data');
    expect(chart()).toBe(chart());
    expect(chart()).toContain('id="c-clip"');
    expect(chart({ id: 'd' })).toContain('id="d-clip"');
  });
  it('draws reference lines and includes them in the y range', () => {
    const svg = chart({ referenceLines: [{ y: 10, label: 'ensemble' }] });
    expect(svg).toContain('>ensemble<');
    expect(svg).toContain('>10<');
  });
});

describe('barChart', () => {
  it('draws one bar per value with its label, n/a for null, and a zero axis for negative values', () => {
    const svg = barChart({
      id: 'b',
      title: 'Stages',
      valueLabel: 'seconds',
      categories: ['prepare', 'align <x>', 'train'],
      series: [{ name: 's', values: [3, null, -2] }],
    });
    const bars = elements(svg, 'rect').filter((r) => r.height === '12');
    expect(bars).toHaveLength(2);
    expect(svg).toContain('>n/a<');
    expect(svg).toContain('align &lt;x&gt;');
    // the negative bar ends where the positive one starts (at 0)
    const pos = bars[0],
      neg = bars[1];
    expect(Number(neg.x) + Number(neg.width)).toBeCloseTo(Number(pos.x), 1);
  });
  it('gives bars lengths proportional to their values and a legend for several series', () => {
    const svg = barChart({
      id: 'g',
      title: 'WER',
      valueLabel: 'WER',
      categories: ['a', 'b'],
      series: [
        { name: 'baseline', values: [0.2, 0.4] },
        { name: 'student', values: [0.1, 0.3] },
      ],
    });
    const bars = elements(svg, 'rect').filter((r) => r.height === '12' && r.width !== '12');
    const w = bars.map((b) => Number(b.width));
    expect(w[1] / w[0]).toBeCloseTo(0.5, 2);
    expect(w[2] / w[3]).toBeCloseTo(4 / 3, 2);
    expect(svg).toContain('>baseline<');
  });
});
