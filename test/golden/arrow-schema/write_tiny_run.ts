// node bin/run-ts.js test/golden/arrow-schema/write_tiny_run.ts <exp-dir>: the tiny experiment of test/pipeline/tiny-experiment.ts.
import { runTinyExperiment } from '../../pipeline/tiny-experiment.ts';
import { createLogger } from '../../../src/util/log.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: write_tiny_run.ts <exp-dir>');
await runTinyExperiment(dir, createLogger());
