/**
 * Types for the parts of @echogarden/espeak-ng-emscripten (an Emscripten build of eSpeak NG,
 * GPL-3.0, no bundled typings) that corpora/synth/espeak.ts uses.
 */
declare module '@echogarden/espeak-ng-emscripten' {
  export interface EspeakEventStruct {
    get_type(): number;
    get_text_position(): number;
    get_length(): number;
    get_audio_position(): number;
    get_sample(): number;
  }

  export interface EspeakVoiceInfo {
    name: string;
    identifier: string;
    languages: { priority: number; name: string }[];
  }

  export interface ESpeakNGWorker {
    /** Select a voice by name, e.g. `en-us+m3`; returns 0 on success (espeak_ERROR). */
    set_voice(name: string): number;
    set_rate(wpm: number): void;
    set_pitch(pitch: number): void;
    set_range(range: number): void;
    get_samplerate(): number;
    list_voices(): EspeakVoiceInfo[];
    /** Synthesise `text`; the callback (an addFunction pointer, signature 'iiii') gets audio chunks and events. */
    synth_(text: string | number, callbackPtr: number): void;
    getSizeOfEventStruct_(): number;
    getStringIDFromEventStruct_(eventPtr: number): string;
    getNumericIDFromEventStruct_(eventPtr: number): number;
  }

  export interface EspeakModule {
    eSpeakNGWorker: new () => ESpeakNGWorker;
    espeak_EVENT: unknown;
    HEAPU8: Uint8Array;
    HEAP16: Int16Array;
    wrapPointer(ptr: number, cls: unknown): EspeakEventStruct;
    addFunction(fn: (...args: number[]) => number, signature: string): number;
    removeFunction(ptr: number): void;
    _malloc(bytes: number): number;
    /** The in-memory file system holding espeak-ng-data. */
    FS: { readdir(path: string): string[] };
  }

  const initialize: (moduleArg?: Record<string, unknown>) => Promise<EspeakModule>;
  export default initialize;
}
