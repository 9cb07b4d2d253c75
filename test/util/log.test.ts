import { describe, it, expect, afterEach } from 'vitest';
import {
  createLogger,
  etaSeconds,
  formatDuration,
  renderProgress,
  setLogLevel,
  getLogLevel,
  type LoggerOptions,
} from '../../src/util/log.ts';

/** A one-column-per-character terminal: '\r' returns to column 0, '\n' ends the line, text overwrites. */
class FakeTerminal {
  readonly isTTY = true;
  lines: string[] = [''];
  private col = 0;
  readonly writes: string[] = [];
  write(s: string): boolean {
    this.writes.push(s);
    for (const ch of s) {
      if (ch === '\r') this.col = 0;
      else if (ch === '\n') {
        this.lines.push('');
        this.col = 0;
      } else {
        const cur = this.lines[this.lines.length - 1];
        this.lines[this.lines.length - 1] = cur.slice(0, this.col).padEnd(this.col) + ch + cur.slice(this.col + 1);
        this.col++;
      }
    }
    return true;
  }
  /** The screen's lines with trailing blanks removed (what a person reads). */
  screen(): string[] {
    return this.lines.map((l) => l.trimEnd());
  }
}

const level = getLogLevel();
afterEach(() => setLogLevel(level));

/** A logger at level info writing to `stream`, on a clock the test sets (`clock.ms`). */
function clockedLogger(stream: LoggerOptions['stream']) {
  setLogLevel('info');
  const clock = { ms: 0 };
  return { clock, logger: createLogger({ stream, now: () => clock.ms }) };
}

describe('progress', () => {
  it('renders count, rate, elapsed time and an ETA at the mean rate', () => {
    const p = { label: 'align train', count: 25, total: 100, unit: 'utts', elapsedSec: 10 };
    expect(renderProgress(p, true)).toBe(
      'align train [########......................] 25/100 utts 2.5/s 10.0s eta 30s',
    );
    expect(renderProgress(p, false)).toBe('align train: 25/100 utts (2.5/s, 10.0s, eta 30s)');
    expect(renderProgress({ ...p, count: 100, extra: 'done' }, false)).toBe(
      'align train: 100/100 utts (10.0/s, 10.0s) done',
    );
  });

  it('has no ETA without a total, before the first item, or at or past the total', () => {
    expect(etaSeconds(0, 10, 5)).toBeNull();
    expect(etaSeconds(3, 0, 5)).toBeNull();
    expect(etaSeconds(10, 10, 5)).toBeNull();
    expect(etaSeconds(11, 10, 5)).toBeNull();
    expect(etaSeconds(1, 4, 2)).toBe(6);
  });

  it('formats durations as s, m+s or h+m', () => {
    expect(formatDuration(4.4)).toBe('4s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3600 + 7 * 60 + 20)).toBe('1h07m');
  });

  it('redraws a TTY line in place without leaving characters of a longer previous line', () => {
    const term = new FakeTerminal();
    const { clock, logger } = clockedLogger(term);
    const p = logger.progress('features train', 1000, 'utts');
    const drawn: string[] = [];
    // A slow first item (ETA in hours), then the rest: the last report has no ETA and is shorter.
    for (const [ms, n] of [
      [13_000, 1],
      [13_500, 400],
      [14_200, 599],
    ] as const) {
      clock.ms = ms;
      p.tick(n);
      drawn.push(term.screen()[0]);
    }
    const last = renderProgress(
      { label: 'features train', count: 1000, total: 1000, unit: 'utts', elapsedSec: 14.2 },
      true,
    );
    expect(drawn[2]).toBe(last);
    expect(last.length).toBeLessThan(drawn[0].length);
    p.done();
    expect(term.screen()).toEqual([last, '']);
  });

  it('blanks a bar before a log line, so the message stands alone on its line', () => {
    const term = new FakeTerminal();
    const { clock, logger } = clockedLogger(term);
    const p = logger.progress('decode test', 10, 'utts');
    clock.ms = 1000;
    p.tick(2);
    logger.warn('utterance u3: no path survived the beam');
    clock.ms = 2000;
    p.tick(2);
    expect(term.screen()).toEqual([
      'WARN: utterance u3: no path survived the beam',
      renderProgress({ label: 'decode test', count: 4, total: 10, unit: 'utts', elapsedSec: 2 }, true),
    ]);
  });

  it('prints plain lines, at most one per 10 s, when the stream is not a terminal', () => {
    const chunks: string[] = [];
    const { clock, logger } = clockedLogger({ write: (s: string) => chunks.push(s) });
    const p = logger.progress('lm', 4, 'sentences');
    for (const ms of [1000, 5000, 12_000]) {
      clock.ms = ms;
      p.tick();
    }
    p.done();
    expect(chunks).toEqual([
      'lm: 1/4 sentences (1.0/s, 1.0s, eta 3s)\n',
      'lm: 3/4 sentences (0.3/s, 12.0s, eta 4s)\n',
      'lm: 3/4 sentences (0.3/s, 12.0s, eta 4s)\n',
    ]);
  });
});
