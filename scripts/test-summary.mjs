#!/usr/bin/env node
// Prints the plain closing line "N passed, N failed, N skipped" from a vitest JSON report,
// so CI logs end with a runner-independent summary. Usage: node scripts/test-summary.mjs report.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/test-summary.mjs <vitest-json-report>');
  process.exit(2);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
const passed = r.numPassedTests ?? 0;
const failed = r.numFailedTests ?? 0;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed + failed === 0) {
  console.error('no test ran');
  process.exit(1);
}
