/**
 * The list of CLI commands. Each module exports `register(program: Command): void`.
 * Add one import and one list entry per command file.
 */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [];
