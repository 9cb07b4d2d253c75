/**
 * Model directories: TF.js layers format (model.json + weights.bin, readable by
 * tf.loadLayersModel and tfjs-node's file:// handler) plus `sidecar.json`, which records what the
 * model expects (senone inventory, feature config, splice window, CMVN) and its senone priors, so
 * a model can never be paired with the wrong inputs.
 *
 * Writing goes through tf.io.withSaveHandler into a temporary directory that is renamed into place
 * (file:// saving needs tfjs-node, which is optional); a crash never leaves a half-written model.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { withAtomicOutput } from '../util/fs.ts';
import { canonicalJson, hashConfig } from '../util/hash.ts';
import { FormatError } from '../util/errors.ts';
import { ModelError } from './errors.ts';
import { FrameClassifier, type FrameClassifierShape } from './model.ts';
import type { CmvnOptions, SpliceWindow } from './data.ts';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const SIDECAR_JSON = 'sidecar.json';
export const SIDECAR_KIND = 'am-distill/frame-classifier';
export const SIDECAR_VERSION = 1;

/** The senone set a model's outputs index. */
export interface SenoneInventory {
  /** Number of senones (outputs). */
  numSenones: number;
  /** Identity of the inventory (e.g. a hash of the tree / tied-state table from the align stage). */
  id?: string;
  /** Optional human-readable names, one per senone. */
  names?: string[];
}

/** What a model expects and carries besides its weights. */
export interface ModelSidecar {
  kind: typeof SIDECAR_KIND;
  formatVersion: number;
  shape: FrameClassifierShape;
  senones: SenoneInventory;
  /** Feature extraction config of the producer (features stage), opaque here; compared by value. */
  featureConfig: Record<string, unknown> | null;
  /** Unspliced feature dimension. */
  featureDim: number;
  splice: SpliceWindow;
  cmvn: CmvnOptions;
  /** Senone priors p(s) from the training alignments (hybrid decoding divides by them). */
  priors: number[];
  /** The saved model outputs softmax posteriors; the layer 'logits' holds the logits. */
  output: 'posteriors';
  /** Free-form training summary (seed, epochs, accuracies, backend). */
  training?: Record<string, unknown>;
}

async function writeModelFiles(dir: string, classifier: FrameClassifier): Promise<void> {
  await classifier.model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const modelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      await fsp.writeFile(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      await fsp.writeFile(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(0),
          modelTopologyType: 'JSON',
          weightDataBytes: weightData.byteLength,
        },
      };
    }),
  );
}

/**
 * Write a model directory atomically: model.json, weights.bin, sidecar.json and any extra files
 * (e.g. optimizer state of a checkpoint). An existing directory is replaced in one step.
 */
export async function saveModelDir(
  dir: string,
  classifier: FrameClassifier,
  sidecar: ModelSidecar,
  extraFiles: Record<string, string | Uint8Array> = {},
): Promise<void> {
  await withAtomicOutput(dir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    await writeModelFiles(tmp, classifier);
    await fsp.writeFile(join(tmp, SIDECAR_JSON), JSON.stringify(sidecar, null, 2) + '\n');
    for (const [name, data] of Object.entries(extraFiles)) await fsp.writeFile(join(tmp, name), data);
  });
}

async function readFileOr(path: string, what: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (err) {
    throw new ModelError(`cannot read ${what}`, {
      file: path,
      cause: err,
      expected: 'a model directory written by am-distill',
      found: (err as NodeJS.ErrnoException).code ?? 'unreadable',
    });
  }
}

function parseJson(buf: Buffer, path: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new ModelError('malformed JSON', {
      file: path,
      cause: err,
      expected: 'JSON',
      found: String((err as Error).message).slice(0, 80),
    });
  }
}

/** Read and check a sidecar. */
export async function readSidecar(dir: string): Promise<ModelSidecar> {
  const path = join(dir, SIDECAR_JSON);
  const j = parseJson(await readFileOr(path, 'model sidecar'), path) as Partial<ModelSidecar>;
  if (j?.kind !== SIDECAR_KIND)
    throw new ModelError('not a frame-classifier sidecar', {
      file: path,
      expected: `kind '${SIDECAR_KIND}'`,
      found: String(j?.kind),
    });
  if (j.formatVersion !== SIDECAR_VERSION)
    throw new ModelError('unsupported sidecar version', {
      file: path,
      expected: String(SIDECAR_VERSION),
      found: String(j.formatVersion),
    });
  const s = j as ModelSidecar;
  if (
    !Array.isArray(s.priors) ||
    s.priors.length !== s.senones?.numSenones ||
    s.shape?.numSenones !== s.senones.numSenones
  ) {
    throw new ModelError('sidecar is inconsistent', {
      file: path,
      expected: 'priors, shape.numSenones and senones.numSenones of one length',
      found: `${s.priors?.length}, ${s.shape?.numSenones}, ${s.senones?.numSenones}`,
    });
  }
  return s;
}

/** Load a model directory (model.json + weights.bin + sidecar.json) and check they agree. */
export async function loadModelDir(dir: string): Promise<{ classifier: FrameClassifier; sidecar: ModelSidecar }> {
  const sidecar = await readSidecar(dir);
  const modelPath = join(dir, MODEL_JSON);
  const mj = parseJson(await readFileOr(modelPath, 'model topology'), modelPath) as {
    modelTopology?: object;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  if (!mj.modelTopology || !Array.isArray(mj.weightsManifest)) {
    throw new ModelError('not a TF.js layers model', {
      file: modelPath,
      expected: 'modelTopology and weightsManifest',
      found: Object.keys(mj ?? {}).join(', '),
    });
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of mj.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(await readFileOr(join(dir, p), 'model weights'));
  }
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const expectedBytes = weightSpecs.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (total !== expectedBytes) {
    throw new ModelError('weights file size does not match the manifest (truncated or foreign file?)', {
      file: join(dir, WEIGHTS_BIN),
      expected: `${expectedBytes} bytes`,
      found: `${total} bytes`,
    });
  }
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const b of buffers) {
    weightData.set(b, off);
    off += b.length;
  }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs, weightData: weightData.buffer }),
    );
  } catch (err) {
    throw new ModelError('cannot build the model from model.json', {
      file: modelPath,
      cause: err,
      expected: 'a TF.js layers model',
      found: String((err as Error).message).slice(0, 120),
    });
  }
  const classifier = new FrameClassifier(model);
  const a = classifier.shape,
    b = sidecar.shape;
  if (
    a.inputDim !== b.inputDim ||
    a.hiddenLayers !== b.hiddenLayers ||
    a.hiddenUnits !== b.hiddenUnits ||
    a.numSenones !== b.numSenones
  ) {
    classifier.dispose();
    throw new ModelError('model.json and sidecar.json describe different models', {
      file: dir,
      expected: canonicalJson(b),
      found: canonicalJson(a),
    });
  }
  return { classifier, sidecar };
}

/** What data a model is about to meet: compared with its sidecar by `checkCompatible`. */
export interface ModelInputs {
  senones: SenoneInventory;
  featureConfig?: Record<string, unknown> | null;
  featureDim?: number;
  splice?: SpliceWindow;
}

/**
 * Throw FormatError unless `expected` (e.g. the student's data, or another teacher) fits the
 * model's sidecar: same senone inventory (count and id), feature config and dimension, splice window.
 * `what` names the two sides in the message, e.g. "teacher exp/teacher-3 vs student data".
 */
export function checkCompatible(sidecar: ModelSidecar, expected: ModelInputs, what: string): void {
  const problems: string[] = [];
  if (sidecar.senones.numSenones !== expected.senones.numSenones)
    problems.push(`senone count ${sidecar.senones.numSenones} vs ${expected.senones.numSenones}`);
  if (
    sidecar.senones.id !== undefined &&
    expected.senones.id !== undefined &&
    sidecar.senones.id !== expected.senones.id
  )
    problems.push(`senone inventory ${sidecar.senones.id} vs ${expected.senones.id}`);
  if (
    expected.featureConfig !== undefined &&
    sidecar.featureConfig !== null &&
    expected.featureConfig !== null &&
    hashConfig(sidecar.featureConfig) !== hashConfig(expected.featureConfig)
  ) {
    problems.push(`feature config ${canonicalJson(sidecar.featureConfig)} vs ${canonicalJson(expected.featureConfig)}`);
  }
  if (expected.featureDim !== undefined && sidecar.featureDim !== expected.featureDim)
    problems.push(`feature dimension ${sidecar.featureDim} vs ${expected.featureDim}`);
  if (
    expected.splice &&
    (sidecar.splice.leftContext !== expected.splice.leftContext ||
      sidecar.splice.rightContext !== expected.splice.rightContext)
  ) {
    problems.push(
      `splice window -${sidecar.splice.leftContext}/+${sidecar.splice.rightContext} vs -${expected.splice.leftContext}/+${expected.splice.rightContext}`,
    );
  }
  if (problems.length)
    throw new FormatError(`model and data do not match (${what})`, {
      expected: 'the same senone inventory, feature config and splice window',
      found: problems.join('; '),
    });
}
