/**
 * Logging and progress. Progress draws a bar on a TTY and prints plain periodic lines otherwise
 * (CI logs, pipes), so long work always shows that it is moving.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  progress(label: string, total: number, unit?: string): Progress;
}

export interface Progress {
  tick(n?: number): void;
  done(extra?: string): void;
}

let globalLevel: LogLevel = (process.env.AM_DISTILL_LOG as LogLevel) || 'info';

export function setLogLevel(level: LogLevel): void {
  globalLevel = level;
}

export function getLogLevel(): LogLevel {
  return globalLevel;
}

type Sink = { write(s: string): unknown; isTTY?: boolean };

export interface LoggerOptions {
  stream?: NodeJS.WriteStream | Sink;
  prefix?: string;
  /** Clock in milliseconds for progress rates and ETAs (tests pass a fake one). Default Date.now. */
  now?: () => number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream: Sink = opts.stream ?? process.stderr;
  const prefix = opts.prefix ? `[${opts.prefix}] ` : '';
  const now = opts.now ?? Date.now;
  // The bar being redrawn on this TTY line, if any: a log line first blanks it (the next tick
  // redraws the bar below the message).
  const line: TtyLine = { width: 0 };
  const emit = (level: LogLevel, msg: string) => {
    if (ORDER[level] < ORDER[globalLevel]) return;
    const tag = level === 'info' ? '' : `${level.toUpperCase()}: `;
    stream.write(`${clearTtyLine(line)}${prefix}${tag}${msg}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    progress: (label, total, unit = 'items') => makeProgress(stream, line, now, prefix + label, total, unit),
  };
}

/** Width of what a progress bar last drew on the current terminal line (0: nothing there). */
interface TtyLine {
  width: number;
}

/** Carriage return plus blanks over a bar left on the line, then back to its start ('' if none). */
function clearTtyLine(line: TtyLine): string {
  if (line.width === 0) return '';
  const s = `\r${' '.repeat(line.width)}\r`;
  line.width = 0;
  return s;
}

/** What one progress report shows. */
export interface ProgressState {
  label: string;
  count: number;
  total: number;
  unit: string;
  elapsedSec: number;
  extra?: string;
}

/**
 * Seconds as a short duration: '42s', '3m05s', '2h07m'. Used for ETAs, where a tenth of a
 * second is noise.
 */
export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Estimated time to completion at the mean rate so far, or null where there is no estimate: no
 * total, nothing done yet, or the count at or past the total.
 */
export function etaSeconds(count: number, total: number, elapsedSec: number): number | null {
  if (!(total > 0) || count <= 0 || count >= total || !(elapsedSec > 0)) return null;
  return ((total - count) * elapsedSec) / count;
}

/** The text of one progress report, without line control: '<label> [###...] 3/10 utts 1.5/s 2.0s eta 5s'. */
export function renderProgress(p: ProgressState, bar: boolean): string {
  const rate = p.elapsedSec > 0 ? p.count / p.elapsedSec : 0;
  const eta = etaSeconds(p.count, p.total, p.elapsedSec);
  const etaText = eta === null ? '' : ` eta ${formatDuration(eta)}`;
  const extra = p.extra ? ` ${p.extra}` : '';
  if (!bar)
    return `${p.label}: ${p.count}/${p.total} ${p.unit} (${rate.toFixed(1)}/s, ${p.elapsedSec.toFixed(1)}s${etaText ? ',' + etaText : ''})${extra}`;
  const width = 30;
  const frac = p.total > 0 ? Math.min(1, p.count / p.total) : 0;
  const filled = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
  return `${p.label} [${filled}] ${p.count}/${p.total} ${p.unit} ${rate.toFixed(1)}/s ${p.elapsedSec.toFixed(1)}s${etaText}${extra}`;
}

function makeProgress(
  stream: Sink,
  line: TtyLine,
  now: () => number,
  label: string,
  total: number,
  unit: string,
): Progress {
  const start = now();
  let count = 0;
  let lastDraw = -Infinity;
  const tty = Boolean(stream.isTTY) && globalLevel !== 'silent';
  const quiet = ORDER[globalLevel] > ORDER.info;
  const plainEveryMs = 10_000;
  const draw = (final: boolean, extra = '') => {
    if (quiet) return;
    const text = renderProgress({ label, count, total, unit, elapsedSec: (now() - start) / 1000, extra }, tty);
    if (!tty) {
      stream.write(`${text}\n`);
      return;
    }
    // Redraw in place; blanks cover the rest of a longer previous report ('3.6s.0s' otherwise).
    const pad = ' '.repeat(Math.max(0, line.width - text.length));
    stream.write(`\r${text}${pad}${final ? '\n' : ''}`);
    line.width = final ? 0 : text.length;
  };
  return {
    tick(n = 1) {
      count += n;
      const t = now();
      if (t - lastDraw > (tty ? 100 : plainEveryMs)) {
        lastDraw = t;
        draw(false);
      }
    },
    done(extra = '') {
      draw(true, extra);
    },
  };
}

/** The default logger (stderr). */
export const log = createLogger();
