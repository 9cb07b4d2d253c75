/**
 * Frame sources described as plain data, so a worker thread (which shares no objects with its
 * parent) can open the same source: `openFrameSource(spec)`.
 */
import { ConfigError } from '../util/errors.ts';
import type { FrameSource } from './data.ts';
import { SyntheticFrameSource, type SyntheticCorpusOptions } from './synthetic.ts';
import { ArrowFrameSource, type ArrowFrameSourceOptions } from './arrow-source.ts';

export type FrameSourceSpec =
  /** Deterministic synthetic utterances (tests, benchmarks, smoke runs). */
  | { kind: 'synthetic'; options: Partial<SyntheticCorpusOptions> }
  /** Arrow feature files joined with alignment files (docs/design.md section 4). */
  | { kind: 'arrow'; options: ArrowFrameSourceOptions };

export async function openFrameSource(spec: FrameSourceSpec): Promise<FrameSource> {
  switch (spec?.kind) {
    case 'synthetic':
      return new SyntheticFrameSource(spec.options);
    case 'arrow':
      return ArrowFrameSource.open(spec.options);
    default:
      throw new ConfigError('unknown frame source kind', {
        keyPath: 'kind',
        expected: "'synthetic' or 'arrow'",
        found: String((spec as { kind?: unknown })?.kind),
      });
  }
}
