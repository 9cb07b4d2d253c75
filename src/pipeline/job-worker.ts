/**
 * A worker process of the local executor (./job-pool.ts): runs the jobs its parent sends, one at
 * a time, with the code of `am-distill job` (./jobs-run.ts), and answers each with its outcome
 * or its error. It exits when the parent disconnects.
 */
import { AmDistillError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { defaultRegistry } from '../stages/index.ts';
import { loadRecipe } from './recipe.ts';
import { runJob } from './jobs-run.ts';
import { JOB_END_MARKER, type WorkerReply, type WorkerRequest } from './job-pool.ts';

async function handle(m: WorkerRequest): Promise<WorkerReply> {
  try {
    const { file, cwd, ...over } = m.recipeArgs;
    const recipe = loadRecipe(file, { registry: defaultRegistry, cwd, ...over });
    return { type: 'done', outcome: await runJob(recipe, defaultRegistry, m.spec, log) };
  } catch (err) {
    const e = err as Error & { code?: string };
    return {
      type: 'failed',
      error: {
        message: e?.message ?? String(err),
        ...(err instanceof AmDistillError ? { code: err.code } : {}),
        ...(e?.stack ? { stack: e.stack } : {}),
      },
    };
  }
}

process.on('message', (m: WorkerRequest) => {
  void handle(m).then((reply) => {
    process.stderr.write(JOB_END_MARKER + '\n');
    process.send!(reply);
  });
});
process.on('disconnect', () => process.exit(0));
