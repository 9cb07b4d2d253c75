/**
 * Text helpers shared by the Markdown and HTML renderers: number formats, escaping, and the
 * icefall-style inline word diff `a b (c->d) (e->*) (*->f)` of a REF/HYP alignment.
 */
import type { AlignedPair } from '../score/align.ts';
import { escapeXml } from './svg.ts';

/** Escape text for HTML content and attribute values. */
export const escapeHtml = escapeXml;

/** A fraction as a percentage with `digits` decimals ("58.9%"); "n/a" for null, "inf" for Infinity. */
export function pct(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return 'inf';
  return `${(100 * v).toFixed(digits)}%`;
}

/** A signed fraction as percentage points ("+1.2", "-0.4"). */
export function signedPoints(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const s = (100 * v).toFixed(digits);
  return Number(s) > 0 ? `+${s}` : Number(s) === 0 ? s.replace(/^-/, '') : s;
}

/** Milliseconds with an explicit sign: "+12 ms", "-48 ms", "0 ms". */
export function signedMs(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const s = v.toFixed(0);
  return Number(s) > 0 ? `+${s} ms` : Number(s) === 0 ? '0 ms' : `${s} ms`;
}

/** Seconds as "12.3 s", "4 min 05 s" or "1 h 02 min". */
export function duration(sec: number): string {
  if (!Number.isFinite(sec)) return 'n/a';
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const m = Math.floor(sec / 60),
    s = Math.round(sec - 60 * m);
  if (m < 60) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** An integer with thousands separators ("1,234,567"), locale-independent. */
export function int(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "1 error", "2 errors". */
export function plural(n: number, noun: string): string {
  return `${int(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Escape text for a Markdown table cell or paragraph: backslash-escapes the inline markup
 * characters (\\ ` * _ [ ] | ~), `<` and `>` (so no text can open an HTML tag), an `&` that would
 * start an entity (`&lt;` stays literal text), a block marker at the start (`# `, `- `, `1. `),
 * and flattens newlines.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\r?\n|\r/g, ' ')
    .replace(/[\\`*_[\]|~<>]/g, (c) => `\\${c}`)
    .replace(/&(?=#?[0-9A-Za-z]+;)/g, '&amp;')
    .replace(/^(\s*)(#{1,6}|[-+=]|\d+(?=[.)]))(?=[.)]?(\s|$))/, (_m, sp: string, c: string) =>
      /^\d/.test(c) ? `${sp}${c}\\` : `${sp}\\${c}`,
    );
}

/** A fenced Markdown code block whose fence is longer than any backtick run in the text. */
export function markdownCodeBlock(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}\n${text.replace(/\r\n?/g, '\n')}\n${fence}`;
}

export interface DiffToken {
  op: AlignedPair['op'];
  /** Correct word, or `(ref->hyp)` with `*` for the missing side. */
  text: string;
}

/** icefall `errs-*` style tokens: correct words as they are, errors as `(REF->HYP)`. */
export function diffTokens(pairs: readonly AlignedPair[]): DiffToken[] {
  return pairs.map((p) => ({ op: p.op, text: p.op === 'C' ? (p.ref ?? '') : `(${p.ref ?? '*'}->${p.hyp ?? '*'})` }));
}

/** The inline diff as one line of text. */
export function formatInlineDiff(pairs: readonly AlignedPair[]): string {
  return diffTokens(pairs)
    .map((t) => t.text)
    .join(' ');
}
