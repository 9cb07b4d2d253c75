/**
 * The stages of the am-distill pipeline, in pipeline order (docs/design.md section 2).
 * A later stage plugs in by adding one `register(...)` line after the stages it reads
 * (lang, align, train, targets, distill, lm, decode, score, report).
 */
import { StageRegistry } from './stage.ts';
import { prepareStage } from './prepare.ts';
import { featuresStage } from './features.ts';
import { alignStage } from './align.ts';
import { trainStage } from './train.ts';
import { targetsStage } from './targets.ts';
import { distillStage } from './distill.ts';
import { evalStage } from './eval.ts';
import { lmStage } from './lm.ts';
import { createDecodeStage } from './decode.ts';
import { scoreStage } from './score.ts';
import { reportStage } from './report.ts';

export function createDefaultRegistry(): StageRegistry {
  return new StageRegistry()
    .register(prepareStage)
    .register(featuresStage)
    .register(alignStage)
    .register(trainStage)
    .register(targetsStage)
    .register(distillStage)
    .register(evalStage)
    .register(lmStage)
    .register(createDecodeStage())
    .register(scoreStage)
    .register(reportStage);
}

/** The registry the CLI uses. */
export const defaultRegistry: StageRegistry = createDefaultRegistry();

export * from './stage.ts';
export * from './schema.ts';
export * from './common.ts';
export * from './prepare.ts';
export * from './features.ts';
export * from './align.ts';
export * from './train.ts';
export * from './targets.ts';
export * from './distill.ts';
export * from './eval.ts';
export * from './lm.ts';
export * from './decode.ts';
export * from './score.ts';
export * from './report.ts';
