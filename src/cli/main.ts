/**
 * am-distill command-line entry point. Each command lives in src/cli/commands/<name>.ts and
 * exports `register(program)`; the command parses flags, calls one library function and maps
 * errors to exit codes (0 ok, 1 runtime failure, 2 bad usage / bad input).
 */
import { Command, CommanderError } from 'commander';
import { AmDistillError } from '../util/errors.ts';
import { packageVersion } from '../util/package-root.ts';
import { commands } from './commands/index.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('am-distill')
    .description('Distil an ensemble of acoustic models into one (Hinton, Vinyals & Dean 2015)')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError();
  for (const register of commands) register(program);
  return program;
}

/** Run the CLI; returns the process exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    return errorToExitCode(err);
  }
}

export function errorToExitCode(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
      return EXIT_OK;
    return EXIT_BAD_INPUT;
  }
  if (err instanceof AmDistillError) {
    process.stderr.write(`am-distill: error [${err.code}]: ${err.message}\n`);
    return err.code === 'E_NUMERIC' || err.code === 'E_DOWNLOAD' ? EXIT_FAILURE : EXIT_BAD_INPUT;
  }
  const e = err as Error;
  process.stderr.write(`am-distill: internal error: ${e?.stack ?? String(err)}\n`);
  return EXIT_FAILURE;
}
