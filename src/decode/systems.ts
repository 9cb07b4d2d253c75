/**
 * Acoustic systems for decoding: one trained frame classifier (baseline, a member, the student)
 * or an ensemble of them (the members' posteriors combined per frame, arithmetic mean at T = 1,
 * as the paper's ensemble). A system turns one utterance's raw features into the decoder's
 * scaled hybrid scores: acousticScale * (log posterior - log prior).
 *
 * Models are loaded once per directory and their logits are computed once per utterance, however
 * many systems use them (a member alone and inside the ensemble). Priors come from the model's
 * sidecar (senone frequencies of the training alignments, floored as Kaldi's class-frame-counts);
 * an ensemble divides by the mean of its members' priors (identical when they were trained on
 * the same alignments, which is checked and warned about otherwise).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { checkCompatible, loadModelDir, SIDECAR_JSON, type ModelSidecar } from '../nnet/io.ts';
import type { FrameClassifier } from '../nnet/model.ts';
import { utteranceLogits } from '../nnet/train.ts';
import type { CmvnOptions, SpeakerCmvn, Utterance } from '../nnet/data.ts';
import { EnsembleAccumulator } from '../distill/combine.ts';
import { logSoftmaxRows } from '../util/softmax.ts';
import { hybridScores } from './hybrid.ts';
import type { ScoreMatrix } from './types.ts';

/** What to decode: a name and one model directory (a single net) or several (an ensemble). */
export interface SystemSpec {
  /** Output name: `baseline`, `member-1`, `ensemble`, `student`, ... ([A-Za-z0-9._-]+). */
  name: string;
  /** Model directories (model.json + weights.bin + sidecar.json). Two or more: an ensemble. */
  models: string[];
}

/**
 * A model directory: `dir` itself when it holds sidecar.json, else `dir/final` (the trainer's
 * best epoch), else null.
 */
export function resolveModelDir(dir: string): string | null {
  if (existsSync(join(dir, SIDECAR_JSON))) return dir;
  if (existsSync(join(dir, 'final', SIDECAR_JSON))) return join(dir, 'final');
  return null;
}

export function checkSystemSpecs(specs: readonly SystemSpec[]): void {
  if (specs.length === 0)
    throw new ConfigError('nothing to decode', {
      keyPath: 'systems',
      expected: 'at least one acoustic model',
      found: 'none',
    });
  const seen = new Set<string>();
  for (const s of specs) {
    if (!/^[A-Za-z0-9._-]+$/.test(s.name) || s.name === 'refs') {
      throw new ConfigError('bad system name', {
        keyPath: 'systems',
        expected: "letters, digits, '.', '_' or '-' (not 'refs')",
        found: JSON.stringify(s.name),
      });
    }
    if (seen.has(s.name))
      throw new ConfigError('system name used twice', {
        keyPath: 'systems',
        expected: 'distinct names',
        found: s.name,
      });
    seen.add(s.name);
    if (s.models.length === 0)
      throw new ConfigError(`system '${s.name}' has no model`, {
        keyPath: 'systems',
        expected: 'at least one model directory',
        found: 'none',
      });
  }
}

interface LoadedModel {
  dir: string;
  classifier: FrameClassifier;
  sidecar: ModelSidecar;
  /** Seconds spent in forward passes. */
  forwardSec: number;
}

/** Timing of one system (not written to deterministic outputs). */
export interface SystemTiming {
  /** Forward passes of its models (a model shared by several systems is counted for the first one that asks per utterance). */
  forwardSec: number;
  /** Posterior combination and hybrid score computation. */
  scoreSec: number;
}

export class AcousticSystem {
  readonly name: string;
  readonly models: readonly LoadedModel[];
  readonly numSenones: number;
  /** Natural-log priors divided out of the posteriors. */
  readonly logPriors: Float64Array;
  readonly timing: SystemTiming = { forwardSec: 0, scoreSec: 0 };
  private readonly bank: ModelBank;

  constructor(name: string, models: LoadedModel[], bank: ModelBank, logger?: Logger) {
    this.name = name;
    this.models = models;
    this.bank = bank;
    const S = models[0].sidecar.senones.numSenones;
    for (const m of models) {
      if (m.sidecar.senones.numSenones !== S) {
        throw new FormatError(`the models of system '${name}' differ in senone count`, {
          file: m.dir,
          expected: `${S} senones (as ${models[0].dir})`,
          found: String(m.sidecar.senones.numSenones),
        });
      }
    }
    this.numSenones = S;
    const mean = new Float64Array(S);
    let maxRel = 0;
    for (const m of models) {
      for (let s = 0; s < S; s++) {
        const p = m.sidecar.priors[s];
        if (!(p > 0 && p <= 1))
          throw new FormatError('senone prior outside (0, 1]', {
            file: join(m.dir, SIDECAR_JSON),
            expected: 'priors in (0, 1]',
            found: `${p} for senone ${s}`,
          });
        mean[s] += p / models.length;
        const q = models[0].sidecar.priors[s];
        maxRel = Math.max(maxRel, Math.abs(p - q) / q);
      }
    }
    if (maxRel > 1e-6)
      logger?.warn(
        `system '${name}': its models' senone priors differ (up to ${(100 * maxRel).toFixed(2)}% relative); dividing by their mean`,
      );
    this.logPriors = Float64Array.from(mean, (p) => Math.log(p));
  }

  /**
   * Posteriors of one utterance, [numFrames x numSenones]: the net's log-softmax (`log: true`) for
   * one model, the members' arithmetic mean of probabilities at T = 1 (`log: false`) for an ensemble.
   */
  private posteriors(utt: Utterance): { values: Float64Array<ArrayBufferLike>; log: boolean } {
    const S = this.numSenones;
    const T = utt.numFrames;
    if (this.models.length === 1) {
      const z = this.bank.logits(this.models[0], utt);
      this.timing.forwardSec += this.bank.lastForwardSec;
      const t0 = performance.now();
      const values = logSoftmaxRows(z, T, S, 1);
      this.timing.scoreSec += (performance.now() - t0) / 1000;
      return { values, log: true };
    }
    const acc = new EnsembleAccumulator(T, S, { temperature: 1, rule: 'arithmetic' });
    for (const m of this.models) {
      const z = this.bank.logits(m, utt);
      this.timing.forwardSec += this.bank.lastForwardSec;
      const t0 = performance.now();
      acc.add(z, `model ${m.dir}, utterance '${utt.uttId}'`);
      this.timing.scoreSec += (performance.now() - t0) / 1000;
    }
    const t0 = performance.now();
    const values = acc.finish();
    this.timing.scoreSec += (performance.now() - t0) / 1000;
    return { values, log: false };
  }

  /** Scaled hybrid scores of one utterance (raw features in; each model normalises and splices). */
  scores(utt: Utterance, acousticScale: number): ScoreMatrix {
    const p = this.posteriors(utt);
    const t0 = performance.now();
    const out = hybridScores(p.values, utt.numFrames, this.logPriors, {
      acousticScale,
      input: p.log ? 'log-posteriors' : 'posteriors',
      uttId: utt.uttId,
    });
    this.timing.scoreSec += (performance.now() - t0) / 1000;
    return out;
  }

  /** Add this system's posteriors of `utt`, summed over frames, to `sums` (one value per senone). */
  accumulatePosteriors(utt: Utterance, sums: Float64Array): void {
    const S = this.numSenones;
    const p = this.posteriors(utt);
    for (let t = 0; t < utt.numFrames; t++) {
      const b = t * S;
      if (p.log) for (let s = 0; s < S; s++) sums[s] += Math.exp(p.values[b + s]);
      else for (let s = 0; s < S; s++) sums[s] += p.values[b + s];
    }
  }

  /**
   * Replace the priors (e.g. by the system's mean posterior, as Kaldi's nnet3-am-adjust-priors):
   * normalised to sum 1, each raised to at least `floor`.
   */
  setPriors(priors: ArrayLike<number>, floor = 1e-10): void {
    if (priors.length !== this.numSenones)
      throw new FormatError(`system '${this.name}': wrong number of priors`, {
        expected: `${this.numSenones} senones`,
        found: String(priors.length),
      });
    let sum = 0;
    for (let s = 0; s < priors.length; s++) {
      if (!(priors[s] >= 0) || !Number.isFinite(priors[s]))
        throw new FormatError(`system '${this.name}': bad prior`, {
          expected: 'finite values >= 0',
          found: `${priors[s]} for senone ${s}`,
        });
      sum += priors[s];
    }
    if (!(sum > 0))
      throw new FormatError(`system '${this.name}': priors sum to 0`, {
        expected: 'a positive total',
        found: String(sum),
      });
    for (let s = 0; s < priors.length; s++) this.logPriors[s] = Math.log(Math.max(priors[s] / sum, floor));
  }
}

export interface ModelBankOptions {
  /** Frames per forward pass. Default 512. */
  batchSize?: number;
  logger?: Logger;
}

/**
 * Every distinct model directory of the systems, loaded once; logits are cached for the current
 * utterance only (memory: one utterance x senones per model).
 */
export class ModelBank {
  readonly systems: AcousticSystem[];
  private readonly loaded: Map<string, LoadedModel>;
  private readonly batchSize: number;
  private cmvnFor: (o: CmvnOptions) => SpeakerCmvn | undefined = () => undefined;
  private cacheUtt: Utterance | null = null;
  private readonly cache = new Map<string, Float32Array>();
  /** Forward time of the last `logits` call (0 when it was cached). */
  lastForwardSec = 0;

  private constructor(loaded: Map<string, LoadedModel>, specs: readonly SystemSpec[], opts: ModelBankOptions) {
    this.loaded = loaded;
    this.batchSize = opts.batchSize ?? 512;
    this.systems = specs.map(
      (s) =>
        new AcousticSystem(
          s.name,
          s.models.map((d) => loaded.get(d)!),
          this,
          opts.logger,
        ),
    );
  }

  /** Load the models of `specs` (each directory once). The TF.js backend must be initialised. */
  static async open(specs: readonly SystemSpec[], opts: ModelBankOptions = {}): Promise<ModelBank> {
    checkSystemSpecs(specs);
    const loaded = new Map<string, LoadedModel>();
    try {
      for (const s of specs) {
        for (const dir of s.models) {
          if (loaded.has(dir)) continue;
          const { classifier, sidecar } = await loadModelDir(dir);
          loaded.set(dir, { dir, classifier, sidecar, forwardSec: 0 });
        }
      }
      return new ModelBank(loaded, specs, opts);
    } catch (err) {
      for (const m of loaded.values()) m.classifier.dispose();
      throw err;
    }
  }

  /** The sidecars of all loaded models, by directory. */
  sidecars(): Map<string, ModelSidecar> {
    return new Map([...this.loaded].map(([d, m]) => [d, m.sidecar]));
  }

  /** Distinct CMVN settings of the models (the caller computes statistics for each). */
  cmvnSettings(): CmvnOptions[] {
    const out = new Map<string, CmvnOptions>();
    for (const m of this.loaded.values())
      out.set(JSON.stringify([m.sidecar.cmvn.mode, m.sidecar.cmvn.normVars]), m.sidecar.cmvn);
    return [...out.values()];
  }

  /** Set the CMVN statistics of the data about to be decoded (per split). */
  useCmvn(cmvnFor: (o: CmvnOptions) => SpeakerCmvn | undefined): void {
    this.cmvnFor = cmvnFor;
    this.cache.clear();
    this.cacheUtt = null;
  }

  /** Check every model against the data's feature config and dimension and the HMM's senone count. */
  checkInputs(
    expected: { featureConfig: Record<string, unknown>; featureDim: number; numSenones: number },
    what: string,
  ): void {
    for (const m of this.loaded.values()) {
      checkCompatible(
        m.sidecar,
        {
          senones: { numSenones: expected.numSenones },
          featureConfig: expected.featureConfig,
          featureDim: expected.featureDim,
        },
        `model ${m.dir} vs ${what}`,
      );
    }
  }

  logits(m: LoadedModel, utt: Utterance): Float32Array {
    if (this.cacheUtt !== utt) {
      this.cache.clear();
      this.cacheUtt = utt;
    }
    const hit = this.cache.get(m.dir);
    if (hit) {
      this.lastForwardSec = 0;
      return hit;
    }
    const t0 = performance.now();
    const cmvn = m.sidecar.cmvn.mode === 'none' ? undefined : this.cmvnFor(m.sidecar.cmvn);
    if (m.sidecar.cmvn.mode !== 'none' && !cmvn)
      throw new FormatError('no CMVN statistics for the data', {
        file: m.dir,
        uttId: utt.uttId,
        expected: `statistics for CMVN mode '${m.sidecar.cmvn.mode}'`,
        found: 'none',
      });
    const z = utteranceLogits(m.classifier, utt, { cmvn, splice: m.sidecar.splice, batchSize: this.batchSize });
    this.lastForwardSec = (performance.now() - t0) / 1000;
    m.forwardSec += this.lastForwardSec;
    this.cache.set(m.dir, z);
    return z;
  }

  dispose(): void {
    for (const m of this.loaded.values()) m.classifier.dispose();
    this.loaded.clear();
    this.cache.clear();
  }
}
