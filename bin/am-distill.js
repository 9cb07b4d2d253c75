#!/usr/bin/env node
// Entry point: registers the TypeScript loader (tsx) and runs the CLI from source,
// so `npm ci` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
