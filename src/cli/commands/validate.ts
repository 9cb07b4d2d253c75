/**
 * `am-distill validate <path>`: check a recipe, manifest, prepared data dir, CMVN file, Arrow
 * feature / alignment / soft-target file (told apart by the `am_distill.format` schema metadata),
 * a stage's JSON record (models.json, students.json, targets.json, eval.json, decode.json,
 * score.json, report-input.json: by its `format` tag) or stage output dir (detected by content and
 * name), print a summary; exit 2 when invalid. Each kind is checked by the module that owns its format.
 */
import type { Command } from 'commander';
import { validateFile, ARTEFACT_LABELS } from '../../pipeline/validate.ts';

export function register(program: Command): void {
  program
    .command('validate')
    .description(
      'check a recipe (.yaml), manifest (.jsonl), data dir, CMVN file, Arrow feature, alignment or soft-target file (by its schema metadata), stage JSON record (models, students, targets, eval, decode, score, report input: by its format tag) or stage dir; exit 2 when invalid',
    )
    .argument('<path>', 'file or directory to check')
    .action(async (path: string) => {
      const summary = await validateFile(path);
      process.stdout.write(
        `ok: ${summary.path} is a valid ${ARTEFACT_LABELS[summary.kind]}\n${summary.lines.join('\n')}\n`,
      );
    });
}
