/**
 * eSpeak NG, offline, through @echogarden/espeak-ng-emscripten (an Emscripten build, pure JS/wasm2js,
 * with espeak-ng.data preloaded into its in-memory file system).
 *
 * Use: `const engine = await getEspeak(); engine.synthesize('hello there.', voice)` gives 16-bit PCM
 * at 22050 Hz and espeak's events. Every event carries `sample`: espeak's own sample counter
 * (`espeak_EVENT.sample`, samples since the start of this synthesis call), i.e. the exact index in
 * the returned PCM where the event happens; `audio_position` (milliseconds, truncated) is not used.
 *
 * Determinism: espeak keeps state between calls (the phase of the pitch cycle, the Klatt
 * synthesiser's noise generator, echo buffers), so the same text and voice give slightly different
 * audio depending on what was synthesised before. The engine therefore copies the whole wasm heap
 * once after initialisation and restores it before every call: each synthesis starts from the
 * same state and is a pure function of (text, voice) — independent of order, sharding or skips.
 * Restoring the 17 MB heap costs about 1 ms. For that to be safe, nothing may be allocated on
 * the wasm heap by JS after the snapshot: the text goes into a buffer allocated before it (passed
 * by pointer), and the WebIDL binder's string cache (used for voice names) is allocated before
 * it too and only ever gets names shorter than its 128 bytes.
 */
import { createRequire } from 'node:module';
import type { ESpeakNGWorker, EspeakModule } from '@echogarden/espeak-ng-emscripten';
import { ConfigError } from '../../src/util/errors.ts';

/** espeak-ng's output sample rate. */
export const ESPEAK_SAMPLE_RATE_HZ = 22050;

/** The version of the espeak-ng build (recorded in corpus.json: other builds give other audio). */
export const ESPEAK_PACKAGE_VERSION: string = (() => {
  const require = createRequire(import.meta.url);
  return (require('@echogarden/espeak-ng-emscripten/package.json') as { version: string }).version;
})();

/** One voice setting: what makes a synthetic speaker. */
export interface EspeakVoice {
  /** espeak language voice, e.g. `en-us`, `en-gb-scotland`. */
  voice: string;
  /** Voice variant from espeak-ng-data/voices/!v, e.g. `m3`, `f2`, `klatt` (none: the voice's default). */
  variant?: string;
  /** Speaking rate in words per minute (espeak: 80..450, default 175). */
  rateWpm: number;
  /** Base pitch, espeak's 0..99 scale (default 50). */
  pitch: number;
  /** Pitch range (intonation excursion), espeak's 0..99 scale (default 50). */
  pitchRange: number;
}

export type EspeakEventType =
  'word' | 'sentence' | 'mark' | 'play' | 'end' | 'msg_terminated' | 'phoneme' | 'samplerate';

export interface EspeakEvent {
  type: EspeakEventType;
  /** 1-based character position in the input text (word: first letter of the word). */
  textPosition: number;
  /** Word events: the word's length in characters; 0 otherwise. */
  length: number;
  /** Sample index in the output (at {@link ESPEAK_SAMPLE_RATE_HZ}) where the event happens. */
  sample: number;
  /** Phoneme events: the phoneme's IPA name (empty for a pause); word/sentence events: their number. */
  id?: string | number;
}

export interface EspeakOutput {
  /** 16-bit PCM at {@link ESPEAK_SAMPLE_RATE_HZ}. */
  samples: Int16Array;
  events: EspeakEvent[];
}

/** Size of the text buffer in the wasm heap (one utterance's text, UTF-8, NUL-terminated). */
const TEXT_CAPACITY_BYTES = 1 << 16;
/** Where espeak-ng-data keeps the voice variants in the module's file system. */
const VARIANT_DIR = '/usr/share/espeak-ng-data/voices/!v';
/** Voice names must fit the binder's 128-byte string cache (see the module comment). */
const MAX_VOICE_NAME_CHARS = 100;

// Order of espeak_EVENT_TYPE (speak_lib.h).
const EVENT_TYPES: (EspeakEventType | 'list_terminated')[] = [
  'list_terminated',
  'word',
  'sentence',
  'mark',
  'play',
  'end',
  'msg_terminated',
  'phoneme',
  'samplerate',
];

/** The full voice name espeak takes: `voice+variant`. */
export function espeakVoiceName(v: Pick<EspeakVoice, 'voice' | 'variant'>): string {
  return v.variant ? `${v.voice}+${v.variant}` : v.voice;
}

function checkRange(name: string, value: number, lo: number, hi: number): void {
  if (!Number.isFinite(value) || value < lo || value > hi) {
    throw new ConfigError(`espeak ${name} out of range`, {
      keyPath: name,
      expected: `${lo}..${hi}`,
      found: String(value),
    });
  }
}

/** The wall clock espeak-ng sees (ms since the epoch): fixed, so its rand() seed is reproducible. */
const FIXED_CLOCK = (): number => 0;

async function withFixedClock<T>(fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = FIXED_CLOCK;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

export class EspeakEngine {
  private readonly module: EspeakModule;
  private readonly worker: ESpeakNGWorker;
  private readonly snapshot: Uint8Array;
  private readonly callbackPtr: number;
  private readonly eventSize: number;
  private readonly textPtr: number;
  private readonly variants: Set<string>;
  /** Where the running synthesis puts its output (the callback is registered once). */
  private sink: { chunks: Int16Array[]; events: EspeakEvent[]; total: number } | null = null;

  private constructor(module: EspeakModule) {
    this.module = module;
    this.worker = new module.eSpeakNGWorker();
    const rate = this.worker.get_samplerate();
    if (rate !== ESPEAK_SAMPLE_RATE_HZ) {
      throw new ConfigError('unexpected espeak-ng sample rate', {
        expected: `${ESPEAK_SAMPLE_RATE_HZ} Hz`,
        found: `${rate} Hz`,
      });
    }
    this.eventSize = this.worker.getSizeOfEventStruct_();
    this.variants = new Set(module.FS.readdir(VARIANT_DIR).filter((f) => f !== '.' && f !== '..'));
    this.callbackPtr = module.addFunction(
      (audioPtr: number, numSamples: number, eventsPtr: number) => this.onChunk(audioPtr, numSamples, eventsPtr),
      'iiii',
    );
    this.textPtr = module._malloc(TEXT_CAPACITY_BYTES);
    if (!this.textPtr) throw new Error('espeak-ng: cannot allocate the text buffer');
    // Allocates the binder's string cache (first use), so that later voice names need no malloc.
    this.worker.set_voice('en');
    this.snapshot = module.HEAPU8.slice();
  }

  /** Load a fresh espeak-ng instance (about 0.6 s). Prefer {@link getEspeak}, which shares one. */
  static async load(): Promise<EspeakEngine> {
    // Imported on first use: the 0.8 MB module is parsed only by commands that synthesise.
    const { default: initializeEspeak } = await import('@echogarden/espeak-ng-emscripten');
    // espeak-ng seeds its noise generator (breath noise of the f2..f5 variants) from time():
    // the wasm build reads Date.now(). Pin the clock while it initialises so every process gets
    // the same seed; the heap snapshot then carries that seeded state into every call.
    return withFixedClock(async () => new EspeakEngine(await initializeEspeak()));
  }

  /** The voices espeak knows (identifier like `gmw/en-US`, name, language codes). */
  listVoices(): { identifier: string; name: string; languages: string[] }[] {
    this.restore();
    return this.worker
      .list_voices()
      .map((v) => ({ identifier: v.identifier, name: v.name, languages: v.languages.map((l) => l.name) }));
  }

  /** The voice variants espeak-ng-data provides (names of files in voices/!v), sorted. */
  listVariants(): string[] {
    return [...this.variants].sort();
  }

  /**
   * True if espeak has the voice and the variant. (espeak itself accepts an unknown variant and
   * silently uses the default, so the variant is checked against the data files.)
   */
  hasVoice(v: Pick<EspeakVoice, 'voice' | 'variant'>): boolean {
    if (v.variant !== undefined && !this.variants.has(v.variant)) return false;
    const name = espeakVoiceName(v);
    if (name.length > MAX_VOICE_NAME_CHARS) return false;
    this.restore();
    return this.worker.set_voice(name) === 0;
  }

  /**
   * Synthesise `text` (plain text; punctuation shapes prosody) with `voice`.
   * @throws ConfigError for an unknown voice or out-of-range settings; whatever espeak throws otherwise
   */
  synthesize(text: string, voice: EspeakVoice): EspeakOutput {
    checkRange('rateWpm', voice.rateWpm, 80, 450);
    checkRange('pitch', voice.pitch, 0, 99);
    checkRange('pitchRange', voice.pitchRange, 0, 99);
    const bytes = new TextEncoder().encode(text);
    if (bytes.length >= TEXT_CAPACITY_BYTES) {
      throw new ConfigError('text too long for espeak', {
        expected: `under ${TEXT_CAPACITY_BYTES} bytes of UTF-8`,
        found: `${bytes.length} bytes`,
      });
    }
    const name = espeakVoiceName(voice);
    if (name.length > MAX_VOICE_NAME_CHARS) {
      throw new ConfigError('espeak voice name too long', {
        keyPath: 'voice',
        expected: `at most ${MAX_VOICE_NAME_CHARS} characters`,
        found: name,
      });
    }
    if (voice.variant !== undefined && !this.variants.has(voice.variant)) {
      throw new ConfigError(`espeak-ng has no voice variant '${voice.variant}'`, {
        keyPath: 'variant',
        expected: `one of ${this.listVariants().join(', ')}`,
        found: voice.variant,
      });
    }
    this.restore();
    const heap = this.module.HEAPU8;
    heap.set(bytes, this.textPtr);
    heap[this.textPtr + bytes.length] = 0;
    if (this.worker.set_voice(name) !== 0) {
      throw new ConfigError(`espeak-ng has no voice '${name}'`, {
        keyPath: 'voice',
        expected: 'an espeak-ng voice (e.g. en-us) and variant (e.g. m3)',
        found: name,
      });
    }
    this.worker.set_rate(Math.round(voice.rateWpm));
    this.worker.set_pitch(Math.round(voice.pitch));
    this.worker.set_range(Math.round(voice.pitchRange));
    const sink = { chunks: [] as Int16Array[], events: [] as EspeakEvent[], total: 0 };
    this.sink = sink;
    const realNow = Date.now;
    Date.now = FIXED_CLOCK;
    try {
      this.worker.synth_(this.textPtr, this.callbackPtr);
    } finally {
      Date.now = realNow;
      this.sink = null;
    }
    const samples = new Int16Array(sink.total);
    let offset = 0;
    for (const c of sink.chunks) {
      samples.set(c, offset);
      offset += c.length;
    }
    return { samples, events: sink.events };
  }

  /** Put the wasm heap back to its state right after initialisation. */
  private restore(): void {
    const heap = this.module.HEAPU8; // re-read: the view changes when the heap grows
    heap.set(this.snapshot);
    if (heap.length > this.snapshot.length) heap.fill(0, this.snapshot.length);
  }

  private onChunk(audioPtr: number, numSamples: number, eventsPtr: number): number {
    const sink = this.sink;
    if (!sink) return 1; // not ours: abort
    if (numSamples > 0) {
      const start = audioPtr >> 1;
      sink.chunks.push(this.module.HEAP16.slice(start, start + numSamples));
    }
    for (let ptr = eventsPtr; ; ptr += this.eventSize) {
      const ev = this.module.wrapPointer(ptr, this.module.espeak_EVENT);
      const type = EVENT_TYPES[ev.get_type()];
      if (type === 'list_terminated' || type === undefined) break;
      let id: string | number | undefined;
      if (type === 'phoneme' || type === 'mark' || type === 'play') id = this.worker.getStringIDFromEventStruct_(ptr);
      else if (type === 'word' || type === 'sentence') id = this.worker.getNumericIDFromEventStruct_(ptr);
      sink.events.push({
        type,
        textPosition: ev.get_text_position(),
        length: ev.get_length(),
        sample: ev.get_sample(),
        ...(id !== undefined ? { id } : {}),
      });
    }
    sink.total += numSamples;
    return 0; // continue
  }
}

let shared: Promise<EspeakEngine> | null = null;

/** The process-wide espeak instance (loaded on first use). */
export function getEspeak(): Promise<EspeakEngine> {
  if (!shared) {
    shared = EspeakEngine.load();
    shared.catch(() => {
      shared = null;
    });
  }
  return shared;
}

/** Replace the process-wide instance by a fresh one (after a synthesis threw: a wasm abort can leave it unusable). */
export function reloadEspeak(): Promise<EspeakEngine> {
  shared = null;
  return getEspeak();
}
