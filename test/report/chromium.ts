/**
 * Load a page in headless Chromium and record what went wrong, over the Chrome DevTools Protocol
 * on `--remote-debugging-pipe` (fd 3: commands in, fd 4: replies out, NUL-terminated JSON), so no
 * port, no WebSocket and no npm package is needed. Records console calls, uncaught exceptions,
 * browser log entries (CSP violations, failed loads) and every request that is not file:, data:
 * or about:. Optionally takes a full-page PNG screenshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = '/usr/bin/chromium';

export interface PageReport {
  console: { type: string; text: string }[];
  exceptions: string[];
  log: { level: string; source: string; text: string; url?: string }[];
  /** Requests to anything but file:, data:, about: URLs (initiated, whether or not they got through). */
  externalRequests: string[];
  /** Requests the browser blocked, with the reason ("csp", ...). */
  blocked: { url: string; reason: string }[];
  /** Result of the `probe` expression (JSON-serialisable). */
  probe: unknown;
  screenshotPng: Buffer | null;
}

export interface LoadOptions {
  /** Expression evaluated in the page after load; its value is returned as `probe`. */
  probe?: string;
  screenshot?: boolean;
  /** Part of the page to capture, CSS px from the top: [y, height]. Default: the whole page. */
  screenshotClip?: [number, number];
  widthPx?: number;
  heightPx?: number;
  timeoutMs?: number;
}

interface Message {
  id?: number;
  method?: string;
  params?: any;
  result?: any;
  error?: { message: string };
  sessionId?: string;
}

class Cdp {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; method: string }>();
  private buffer = Buffer.alloc(0);
  readonly events: Message[] = [];
  private waiters: { pred: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    output.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      let nul: number;
      while ((nul = this.buffer.indexOf(0)) >= 0) {
        const text = this.buffer.subarray(0, nul).toString('utf8');
        this.buffer = this.buffer.subarray(nul + 1);
        this.dispatch(JSON.parse(text) as Message);
      }
    });
  }

  private dispatch(m: Message): void {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`${p.method}: ${m.error.message}`));
      else p.resolve(m.result);
      return;
    }
    this.events.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(m)) return true;
      w.resolve(m);
      return false;
    });
  }

  send(method: string, params: object = {}, sessionId?: string): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  waitFor(pred: (m: Message) => boolean): Promise<Message> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

function remoteObjectText(o: any): string {
  if (!o) return '';
  if (o.value !== undefined) return typeof o.value === 'string' ? o.value : JSON.stringify(o.value);
  return o.description ?? o.type ?? '';
}

/** Open `url` (file://...) in headless Chromium and report console output, errors and requests. */
export async function loadInChromium(url: string, opts: LoadOptions = {}): Promise<PageReport> {
  const profile = mkdtempSync(join(tmpdir(), 'amd-chromium-'));
  const child: ChildProcess = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-extensions',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
      '--mute-audio',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`chromium exited (${code}) before the page was checked:\n${stderr.slice(-2000)}`)),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`chromium: timed out after ${opts.timeoutMs ?? 30000} ms`)),
      opts.timeoutMs ?? 30000,
    );
  });
  const cdp = new Cdp(child.stdio[3] as Writable, child.stdio[4] as Readable);
  const run = async (): Promise<PageReport> => {
    const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
    const s = (method: string, params: object = {}) => cdp.send(method, params, sessionId);
    await Promise.all([s('Runtime.enable'), s('Log.enable'), s('Network.enable'), s('Page.enable')]);
    await s('Emulation.setDeviceMetricsOverride', {
      width: opts.widthPx ?? 1200,
      height: opts.heightPx ?? 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const loaded = cdp.waitFor((m) => m.sessionId === sessionId && m.method === 'Page.loadEventFired');
    const nav = await s('Page.navigate', { url });
    if (nav.errorText) throw new Error(`chromium could not open ${url}: ${nav.errorText}`);
    await loaded;
    // let late console messages and CSP reports arrive
    await new Promise((r) => setTimeout(r, 200));
    let probe: unknown = null;
    if (opts.probe) {
      const ev = await s('Runtime.evaluate', { expression: opts.probe, returnByValue: true });
      if (ev.exceptionDetails)
        throw new Error(`probe failed: ${ev.exceptionDetails.exception?.description ?? ev.exceptionDetails.text}`);
      probe = ev.result.value;
    }
    let screenshotPng: Buffer | null = null;
    if (opts.screenshot) {
      const m = await s('Page.getLayoutMetrics');
      const size = m.cssContentSize ?? m.contentSize;
      const shot = await s('Page.captureScreenshot', {
        format: 'png',
        captureBeyondViewport: true,
        clip: {
          x: 0,
          y: opts.screenshotClip?.[0] ?? 0,
          width: Math.ceil(size.width),
          height: opts.screenshotClip
            ? Math.min(opts.screenshotClip[1], Math.ceil(size.height) - opts.screenshotClip[0])
            : Math.ceil(size.height),
          scale: 1,
        },
      });
      screenshotPng = Buffer.from(shot.data, 'base64');
    }
    const ofPage = cdp.events.filter((e) => e.sessionId === sessionId);
    return {
      console: ofPage
        .filter((e) => e.method === 'Runtime.consoleAPICalled')
        .map((e) => ({ type: e.params.type, text: (e.params.args ?? []).map(remoteObjectText).join(' ') })),
      exceptions: ofPage
        .filter((e) => e.method === 'Runtime.exceptionThrown')
        .map((e) => e.params.exceptionDetails.exception?.description ?? e.params.exceptionDetails.text),
      log: ofPage
        .filter((e) => e.method === 'Log.entryAdded')
        .map((e) => ({
          level: e.params.entry.level,
          source: e.params.entry.source,
          text: e.params.entry.text,
          url: e.params.entry.url,
        })),
      blocked: ofPage
        .filter((e) => e.method === 'Network.loadingFailed' && e.params.blockedReason)
        .map((e) => ({
          url: String(
            ofPage.find((q) => q.method === 'Network.requestWillBeSent' && q.params.requestId === e.params.requestId)
              ?.params.request.url,
          ),
          reason: String(e.params.blockedReason),
        })),
      externalRequests: ofPage
        .filter((e) => e.method === 'Network.requestWillBeSent')
        .map((e) => String(e.params.request.url))
        .filter((u) => !/^(file|data|about):/.test(u)),
      probe,
      screenshotPng,
    };
  };
  try {
    return await Promise.race([run(), exited, timeout]);
  } finally {
    clearTimeout(timer);
    exited.catch(() => undefined);
    const gone = child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
    if (child.exitCode === null) cdp.send('Browser.close').catch(() => undefined);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await gone;
    }
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}
