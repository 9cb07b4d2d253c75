#!/usr/bin/env node
// Entry point. An installed package runs the build in dist/ with plain Node. A checkout (src/
// present, tsx installed) runs the TypeScript sources through tsx, so an edit needs no rebuild;
// AM_DISTILL_FROM=dist runs the build there too.
import { existsSync } from 'node:fs';

async function loadMain() {
  const fromSources =
    process.env.AM_DISTILL_FROM !== 'dist' && existsSync(new URL('../src/cli/main.ts', import.meta.url));
  if (fromSources) {
    let tsx = null;
    try {
      tsx = await import('tsx/esm/api');
    } catch {
      // tsx is a devDependency: without it, run the build
    }
    if (tsx) {
      tsx.register();
      return (await import('../src/cli/main.ts')).main;
    }
  }
  const built = new URL('../dist/src/cli/main.js', import.meta.url);
  if (!existsSync(built)) {
    console.error('am-distill: no build in dist/ (npm run build, or npm ci, which runs it)');
    process.exit(2);
  }
  return (await import(built.href)).main;
}

const main = await loadMain();
process.exitCode = await main(process.argv);
