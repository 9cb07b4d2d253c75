/**
 * The stages of the am-distill pipeline, in pipeline order (DESIGN.md section 2).
 * A later stage plugs in by adding one `register(...)` line after the stages it reads
 * (lang, align, train, targets, distill, lm, decode, score, report).
 */
import { StageRegistry } from '../stage.ts';
import { prepareStage } from './prepare.ts';
import { featuresStage } from './features.ts';
import { alignStage } from './align.ts';

export function createDefaultRegistry(): StageRegistry {
  return new StageRegistry()
    .register(prepareStage)
    .register(featuresStage)
    .register(alignStage);
}

/** The registry the CLI uses. */
export const defaultRegistry: StageRegistry = createDefaultRegistry();
