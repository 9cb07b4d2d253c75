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

export interface LoggerOptions {
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  prefix?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const prefix = opts.prefix ? `[${opts.prefix}] ` : '';
  const emit = (level: LogLevel, msg: string) => {
    if (ORDER[level] < ORDER[globalLevel]) return;
    const tag = level === 'info' ? '' : `${level.toUpperCase()}: `;
    stream.write(`${prefix}${tag}${msg}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    progress: (label, total, unit = 'items') => makeProgress(stream, prefix + label, total, unit),
  };
}

function makeProgress(
  stream: { write(s: string): unknown; isTTY?: boolean },
  label: string,
  total: number,
  unit: string,
): Progress {
  const start = Date.now();
  let count = 0;
  let lastDraw = 0;
  const tty = Boolean(stream.isTTY) && globalLevel !== 'silent';
  const quiet = ORDER[globalLevel] > ORDER.info;
  const plainEveryMs = 10_000;
  const draw = (final: boolean, extra = '') => {
    if (quiet) return;
    const elapsed = (Date.now() - start) / 1000;
    const rate = elapsed > 0 ? count / elapsed : 0;
    if (tty) {
      const width = 30;
      const frac = total > 0 ? Math.min(1, count / total) : 0;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      stream.write(`\r${label} [${bar}] ${count}/${total} ${unit} ${rate.toFixed(1)}/s ${elapsed.toFixed(1)}s${extra ? ' ' + extra : ''}${final ? '\n' : ''}`);
    } else {
      stream.write(`${label}: ${count}/${total} ${unit} (${rate.toFixed(1)}/s, ${elapsed.toFixed(1)}s)${extra ? ' ' + extra : ''}\n`);
    }
  };
  return {
    tick(n = 1) {
      count += n;
      const now = Date.now();
      if (tty ? now - lastDraw > 100 : now - lastDraw > plainEveryMs) {
        lastDraw = now;
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
