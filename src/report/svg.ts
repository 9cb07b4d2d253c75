/**
 * A small, dependency-free SVG chart generator for the report: line charts (training curves,
 * temperature sweep) and horizontal grouped bar charts (stage times, per-speaker WER), with axes,
 * "nice" ticks (1/2/5 x 10^n), a legend and escaped text. Output is a standalone SVG element that
 * needs no fonts, scripts or stylesheets from elsewhere, and is byte-identical for equal input
 * (coordinates rounded to 0.01 px).
 */

/** Okabe & Ito's colour-blind-safe palette (yellow left out: too light on white). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'] as const;

const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif';
const FONT_PX = 12;
/** Average glyph width of the sans-serif font relative to its size (for layout estimates). */
const GLYPH_EM = 0.6;

/** Escape text for SVG/XML content and attribute values; drops characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- XML 1.0 forbids these characters
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

/** Coordinates rounded to 0.01 px, printed without trailing zeros. */
function px(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** Default tick label: at most 4 significant digits, no trailing zeros. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  return String(Number(v.toPrecision(4)));
}

function textWidth(s: string, fontPx = FONT_PX): number {
  return [...s].length * fontPx * GLYPH_EM;
}

function truncate(s: string, maxPx: number, fontPx = FONT_PX): string {
  const chars = [...s];
  const max = Math.max(1, Math.floor(maxPx / (fontPx * GLYPH_EM)));
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '\u2026';
}

export interface Ticks {
  /** Axis range, widened to whole steps. */
  domain: [number, number];
  ticks: number[];
  step: number;
}

/** The 1, 2 or 5 x 10^n step that cuts `span` into about `target` intervals. */
export function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const tol = 1e-9; // span / target is often a hair above a round number (0.64 - 0.58 = 0.06000000000000005)
  return (f <= 1 + tol ? 1 : f <= 2 + tol ? 2 : f <= 5 + tol ? 5 : 10) * mag;
}

/**
 * Linear ticks covering [min, max] with a nice step; the domain is widened to whole steps.
 * A degenerate range (min == max) is widened around the value; non-finite input gives [0, 1].
 * `integer` keeps the step >= 1 and integral (epochs).
 */
export function niceTicks(min: number, max: number, target = 5, integer = false): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = integer ? 1 : min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  let step = niceStep(max - min, target);
  if (integer) step = Math.max(1, Math.round(step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const fix = (v: number) => Number(v.toFixed(Math.min(20, decimals)));
  const lo = fix(Math.floor(min / step + 1e-9) * step);
  const hi = fix(Math.ceil(max / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const v = fix(lo + i * step);
    if (v > hi + step * 1e-6) break;
    ticks.push(v);
  }
  return { domain: [lo, hi], ticks, step };
}

/** Log-10 ticks for positive [min, max]: whole decades, plus 2 and 5 when the range spans <= 2 decades. */
export function logTicks(min: number, max: number): Ticks {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) {
    min = 1;
    max = 10;
  }
  const lo = Math.floor(Math.log10(min) + 1e-9);
  let hi = Math.ceil(Math.log10(max) - 1e-9);
  if (hi <= lo) hi = lo + 1;
  const ticks: number[] = [];
  const withMinor = hi - lo <= 2;
  for (let e = lo; e <= hi; e++) {
    for (const m of withMinor ? [1, 2, 5] : [1]) {
      const v = Number((m * 10 ** e).toPrecision(6));
      if (e === hi && m > 1) break;
      ticks.push(v);
    }
  }
  return { domain: [10 ** lo, 10 ** hi], ticks, step: 10 };
}

export interface LineSeries {
  name: string;
  /** [x, y] points in x order; y null (or NaN) leaves a gap. */
  points: ReadonlyArray<readonly [number, number | null]>;
  /** CSS colour; default: the palette by series index. */
  color?: string;
  dashed?: boolean;
  /** Default true. */
  showInLegend?: boolean;
  /** Line width in px. Default 2. */
  widthPx?: number;
  /** Drawing order: lower layers first (underneath). Default 0; the legend keeps the series order. */
  layer?: number;
}

export interface ReferenceLine {
  y: number;
  label: string;
  color?: string;
}

export interface LineChartOptions {
  /** Element id prefix (unique within a page). */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** Horizontal reference lines, included in the y range. */
  referenceLines?: readonly ReferenceLine[];
  /** Default 720 px. */
  widthPx?: number;
  /** Default 340 px. */
  heightPx?: number;
  /** Default 'linear'. On 'log', values <= 0 leave gaps. */
  yScale?: 'linear' | 'log';
  /** Only integer x ticks (epochs). Default false. */
  integerX?: boolean;
  /** Values the y range must include (e.g. 0). */
  yInclude?: readonly number[];
  formatX?: (v: number) => string;
  formatY?: (v: number) => string;
}

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
}

function svgOpen(id: string, title: string, widthPx: number, heightPx: number, desc: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(widthPx)}" height="${px(heightPx)}" viewBox="0 0 ${px(widthPx)} ${px(heightPx)}" role="img" aria-labelledby="${escapeXml(id)}-title ${escapeXml(id)}-desc" font-family="${escapeXml(FONT)}" font-size="${FONT_PX}">`,
    `<title id="${escapeXml(id)}-title">${escapeXml(title)}</title>`,
    `<desc id="${escapeXml(id)}-desc">${escapeXml(desc)}</desc>`,
    `<rect width="${px(widthPx)}" height="${px(heightPx)}" fill="#ffffff"/>`,
    `<text x="${px(widthPx / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="600" fill="#111111">${escapeXml(truncate(title, widthPx - 20, 14))}</text>`,
  ];
}

/** Legend entries stacked in a column at (x, y); returns the SVG lines. */
function legend(
  entries: { name: string; color: string; dashed?: boolean; kind: 'line' | 'box' }[],
  x: number,
  y: number,
  maxWidthPx: number,
  maxRows: number,
): string[] {
  const out: string[] = [];
  const shown = entries.length > maxRows ? entries.slice(0, maxRows - 1) : entries;
  shown.forEach((e, i) => {
    const cy = y + i * 18;
    if (e.kind === 'line') {
      out.push(
        `<line x1="${px(x)}" y1="${px(cy)}" x2="${px(x + 22)}" y2="${px(cy)}" stroke="${escapeXml(e.color)}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    } else {
      out.push(`<rect x="${px(x + 5)}" y="${px(cy - 6)}" width="12" height="12" fill="${escapeXml(e.color)}"/>`);
    }
    out.push(
      `<text x="${px(x + 28)}" y="${px(cy + 4)}" fill="#222222">${escapeXml(truncate(e.name, maxWidthPx - 28))}</text>`,
    );
  });
  if (shown.length < entries.length) {
    out.push(
      `<text x="${px(x + 28)}" y="${px(y + shown.length * 18 + 4)}" fill="#555555">+${entries.length - shown.length} more</text>`,
    );
  }
  return out;
}

function noData(lines: string[], f: Frame): void {
  lines.push(
    `<text x="${px(f.left + f.width / 2)}" y="${px(f.top + f.height / 2)}" text-anchor="middle" fill="#777777">no data</text>`,
  );
}

/** A line chart's data -> pixel maps, over nice ticks that cover the data. */
interface LineScales {
  xt: Ticks;
  yt: Ticks;
  sx: (x: number) => number;
  sy: (y: number) => number;
  /** A y that can be drawn: finite, and positive on a log scale. */
  usable: (y: number | null) => y is number;
  hasData: boolean;
}

/** A line chart as a standalone `<svg>` element. */
export function lineChart(o: LineChartOptions): string {
  const W = o.widthPx ?? 720,
    H = o.heightPx ?? 340;
  const legendEntries = o.series
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.showInLegend !== false)
    .map(({ s, i }) => ({
      name: s.name,
      color: s.color ?? PALETTE[i % PALETTE.length],
      dashed: s.dashed,
      kind: 'line' as const,
    }));
  const legendW = legendEntries.length
    ? Math.min(240, 40 + Math.max(...legendEntries.map((e) => textWidth(e.name))))
    : 0;
  const f: Frame = { left: 68, top: 34, width: W - 68 - 16 - legendW, height: H - 34 - 52 };
  const sc = lineScales(o, f);

  const desc =
    `${o.yLabel} against ${o.xLabel}` + (o.series.length ? `; series: ${o.series.map((s) => s.name).join(', ')}` : '');
  const lines = svgOpen(o.id, o.title, W, H, desc);
  lines.push(
    `<defs><clipPath id="${escapeXml(o.id)}-clip"><rect x="${px(f.left - 4)}" y="${px(f.top - 4)}" width="${px(f.width + 8)}" height="${px(f.height + 8)}"/></clipPath></defs>`,
  );
  lines.push(...lineAxes(o, f, sc, H));
  if (!sc.hasData) noData(lines, f);

  lines.push(`<g clip-path="url(#${escapeXml(o.id)}-clip)">`);
  lines.push(...referenceLines(o.referenceLines ?? [], f, sc));
  const drawOrder = o.series.map((s, i) => ({ s, i })).sort((a, b) => (a.s.layer ?? 0) - (b.s.layer ?? 0) || a.i - b.i);
  for (const { s, i } of drawOrder) lines.push(...seriesLines(s, i, sc));
  lines.push('</g>');
  lines.push(
    ...legend(legendEntries, f.left + f.width + 12, f.top + 8, legendW - 12, Math.max(1, Math.floor(f.height / 18))),
  );
  lines.push('</svg>');
  return lines.join('\n');
}

/**
 * Ticks over the drawable points, reference lines and `yInclude` (x: up to 6 ticks; y: 5 linear
 * ticks padded by 4 % of the span, or log decades), and the maps into the frame `f`.
 */
function lineScales(o: LineChartOptions, f: Frame): LineScales {
  const log = o.yScale === 'log';
  const usable = (y: number | null): y is number => y !== null && Number.isFinite(y) && (!log || y > 0);
  const xs: number[] = [],
    ys: number[] = [];
  for (const s of o.series)
    for (const [x, y] of s.points)
      if (Number.isFinite(x) && usable(y)) {
        xs.push(x);
        ys.push(y);
      }
  for (const r of o.referenceLines ?? []) if (usable(r.y)) ys.push(r.y);
  for (const v of o.yInclude ?? []) if (usable(v)) ys.push(v);
  const hasData = xs.length > 0;
  const xt = niceTicks(hasData ? Math.min(...xs) : 0, hasData ? Math.max(...xs) : 1, 6, o.integerX ?? false);
  // Data never sits on the frame: the linear y range is padded by 4 % of its span before rounding.
  const yLo = ys.length ? Math.min(...ys) : 0,
    yHi = ys.length ? Math.max(...ys) : 1;
  const pad = 0.04 * (yHi - yLo);
  const yt = log ? logTicks(yLo, yHi) : niceTicks(yLo - (yLo === 0 ? 0 : pad), yHi + pad, 5);
  const sx = (x: number) => f.left + ((x - xt.domain[0]) / (xt.domain[1] - xt.domain[0])) * f.width;
  const sy = log
    ? (y: number) =>
        f.top +
        f.height -
        ((Math.log10(y) - Math.log10(yt.domain[0])) / (Math.log10(yt.domain[1]) - Math.log10(yt.domain[0]))) * f.height
    : (y: number) => f.top + f.height - ((y - yt.domain[0]) / (yt.domain[1] - yt.domain[0])) * f.height;
  return { xt, yt, sx, sy, usable, hasData };
}

/** Grid lines with y tick labels, x ticks with labels, the frame and both axis labels. */
function lineAxes(o: LineChartOptions, f: Frame, sc: LineScales, H: number): string[] {
  const fmtX = o.formatX ?? formatTick,
    fmtY = o.formatY ?? formatTick;
  const lines: string[] = [];
  for (const t of sc.yt.ticks) {
    const y = sc.sy(t);
    lines.push(`<line x1="${px(f.left)}" y1="${px(y)}" x2="${px(f.left + f.width)}" y2="${px(y)}" stroke="#e5e5e5"/>`);
    lines.push(
      `<text x="${px(f.left - 6)}" y="${px(y + 4)}" text-anchor="end" fill="#333333">${escapeXml(fmtY(t))}</text>`,
    );
  }
  for (const t of sc.xt.ticks) {
    const x = sc.sx(t);
    lines.push(
      `<line x1="${px(x)}" y1="${px(f.top + f.height)}" x2="${px(x)}" y2="${px(f.top + f.height + 5)}" stroke="#333333"/>`,
    );
    lines.push(
      `<text x="${px(x)}" y="${px(f.top + f.height + 18)}" text-anchor="middle" fill="#333333">${escapeXml(fmtX(t))}</text>`,
    );
  }
  lines.push(
    `<rect x="${px(f.left)}" y="${px(f.top)}" width="${px(f.width)}" height="${px(f.height)}" fill="none" stroke="#333333"/>`,
  );
  lines.push(
    `<text x="${px(f.left + f.width / 2)}" y="${px(H - 10)}" text-anchor="middle" fill="#111111">${escapeXml(o.xLabel)}</text>`,
  );
  lines.push(
    `<text transform="translate(16 ${px(f.top + f.height / 2)}) rotate(-90)" text-anchor="middle" fill="#111111">${escapeXml(o.yLabel)}</text>`,
  );
  return lines;
}

/** Dotted horizontal reference lines, each labelled at its right end (below the line near the top). */
function referenceLines(refs: readonly ReferenceLine[], f: Frame, sc: LineScales): string[] {
  const lines: string[] = [];
  for (const r of refs) {
    if (!sc.usable(r.y)) continue;
    const y = sc.sy(r.y),
      color = escapeXml(r.color ?? '#555555');
    lines.push(
      `<line x1="${px(f.left)}" y1="${px(y)}" x2="${px(f.left + f.width)}" y2="${px(y)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="2 3"/>`,
    );
    const labelY = y - 4 - FONT_PX < f.top ? y + FONT_PX + 2 : y - 4;
    lines.push(
      `<text x="${px(f.left + f.width - 4)}" y="${px(labelY)}" text-anchor="end" fill="${color}">${escapeXml(r.label)}</text>`,
    );
  }
  return lines;
}

/**
 * One series as a `<g>`: a path through each run of drawable points (gaps where y is missing),
 * and point markers when a run is a single point or the series has at most 40 points.
 */
function seriesLines(s: LineSeries, i: number, sc: LineScales): string[] {
  const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
  const segments: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (const [x, y] of s.points) {
    if (Number.isFinite(x) && sc.usable(y)) cur.push([sc.sx(x), sc.sy(y)]);
    else if (cur.length) {
      segments.push(cur);
      cur = [];
    }
  }
  if (cur.length) segments.push(cur);
  const d = segments
    .filter((g) => g.length > 1)
    .map((g) => g.map(([x, y], k) => `${k ? 'L' : 'M'}${px(x)} ${px(y)}`).join(' '))
    .join(' ');
  const name = escapeXml(s.name);
  const lines: string[] = [];
  lines.push(`<g class="series" data-name="${name}">`);
  if (d)
    lines.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="${px(s.widthPx ?? 2)}" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
  const npts = segments.reduce((a, g) => a + g.length, 0);
  for (const g of segments) {
    if (g.length === 1 || npts <= 40)
      for (const [x, y] of g)
        lines.push(`<circle cx="${px(x)}" cy="${px(y)}" r="${g.length === 1 ? 3.5 : 2.5}" fill="${color}"/>`);
  }
  lines.push('</g>');
  return lines;
}

export interface BarSeries {
  name: string;
  /** One value per category; null draws nothing and labels "n/a". */
  values: ReadonlyArray<number | null>;
  color?: string;
  /** Per-value colours overriding `color` (e.g. one colour per system). */
  valueColors?: ReadonlyArray<string | undefined>;
}

export interface BarChartOptions {
  id: string;
  title: string;
  /** Label of the value axis. */
  valueLabel: string;
  categories: readonly string[];
  series: readonly BarSeries[];
  /** Default 720 px; the height follows from the number of bars. */
  widthPx?: number;
  /** Label at the end of each bar. Default: `formatTick`. */
  formatValue?: (v: number) => string;
  /** Axis tick labels. Default: `formatTick`. */
  formatAxis?: (v: number) => string;
}

/** A horizontal (grouped) bar chart as a standalone `<svg>` element: one band per category. */
export function barChart(o: BarChartOptions): string {
  const W = o.widthPx ?? 720;
  const fmt = o.formatValue ?? formatTick;
  const fmtAxis = o.formatAxis ?? formatTick;
  const nSeries = Math.max(1, o.series.length);
  const barH = 14,
    gap = 8;
  const bandH = nSeries * barH + gap;
  const labelW = Math.min(220, Math.max(40, ...o.categories.map((c) => textWidth(c) + 10)));
  const legendH = o.series.length > 1 ? 22 : 0;
  const f: Frame = {
    left: labelW + 8,
    top: 34 + legendH,
    width: W - labelW - 8 - 56,
    height: Math.max(1, o.categories.length) * bandH,
  };
  const H = f.top + f.height + 46;
  const vals = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const t = niceTicks(Math.min(0, ...vals), Math.max(0, ...vals, vals.length ? 0 : 1), 5);
  if (t.domain[1] === t.domain[0]) t.domain[1] = t.domain[0] + 1;
  const sx = (v: number) => f.left + ((v - t.domain[0]) / (t.domain[1] - t.domain[0])) * f.width;

  const desc =
    `${o.valueLabel} per category` + (o.series.length > 1 ? `; series: ${o.series.map((s) => s.name).join(', ')}` : '');
  const lines = svgOpen(o.id, o.title, W, H, desc);
  if (o.series.length > 1) {
    let x = f.left;
    o.series.forEach((s, i) => {
      const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
      lines.push(`<rect x="${px(x)}" y="${px(34)}" width="12" height="12" fill="${color}"/>`);
      lines.push(`<text x="${px(x + 16)}" y="${px(44)}" fill="#222222">${escapeXml(s.name)}</text>`);
      x += 16 + textWidth(s.name) + 18;
    });
  }
  for (const tick of t.ticks) {
    const x = sx(tick);
    lines.push(`<line x1="${px(x)}" y1="${px(f.top)}" x2="${px(x)}" y2="${px(f.top + f.height)}" stroke="#e5e5e5"/>`);
    lines.push(
      `<text x="${px(x)}" y="${px(f.top + f.height + 18)}" text-anchor="middle" fill="#333333">${escapeXml(fmtAxis(tick))}</text>`,
    );
  }
  lines.push(
    `<line x1="${px(sx(0))}" y1="${px(f.top)}" x2="${px(sx(0))}" y2="${px(f.top + f.height)}" stroke="#333333"/>`,
  );
  lines.push(
    `<line x1="${px(f.left)}" y1="${px(f.top + f.height)}" x2="${px(f.left + f.width)}" y2="${px(f.top + f.height)}" stroke="#333333"/>`,
  );
  lines.push(
    `<text x="${px(f.left + f.width / 2)}" y="${px(H - 10)}" text-anchor="middle" fill="#111111">${escapeXml(o.valueLabel)}</text>`,
  );
  if (!o.categories.length) noData(lines, { ...f, height: 30 });
  o.categories.forEach((cat, c) => {
    const y0 = f.top + c * bandH + gap / 2;
    lines.push(
      `<text x="${px(f.left - 8)}" y="${px(y0 + (nSeries * barH) / 2 + 4)}" text-anchor="end" fill="#222222">${escapeXml(truncate(cat, labelW - 10))}</text>`,
    );
    o.series.forEach((s, i) => {
      const v = s.values[c];
      const y = y0 + i * barH;
      if (v === null || v === undefined || !Number.isFinite(v)) {
        lines.push(`<text x="${px(sx(0) + 4)}" y="${px(y + barH - 3)}" fill="#777777" font-size="11">n/a</text>`);
        return;
      }
      const x0 = sx(Math.min(0, v)),
        x1 = sx(Math.max(0, v));
      const color = escapeXml(s.valueColors?.[c] ?? s.color ?? PALETTE[i % PALETTE.length]);
      lines.push(
        `<rect x="${px(x0)}" y="${px(y + 1)}" width="${px(Math.max(0.5, x1 - x0))}" height="${px(barH - 2)}" fill="${color}"><title>${escapeXml(`${cat}, ${s.name}: ${fmt(v)}`)}</title></rect>`,
      );
      lines.push(
        `<text x="${px(x1 + 4)}" y="${px(y + barH - 3)}" fill="#222222" font-size="11">${escapeXml(fmt(v))}</text>`,
      );
    });
  });
  lines.push('</svg>');
  return lines.join('\n');
}
