/**
 * One RESULTS.md table row from a finished experiment's report.json (src/report/results.ts):
 *
 *   node bin/run-ts.js scripts/results-row.ts exp/demo/report/report.json pipelines/demo.yaml "npm run demo"
 *
 * With --header the table's header lines come first.
 */
import { readFileSync } from 'node:fs';
import { formatResultsRow, RESULTS_TABLE_HEADER } from '../src/report/results.ts';
import { validateReportJson } from '../src/report/validate.ts';

const args = process.argv.slice(2);
const header = args.includes('--header');
const [reportPath, recipe, command] = args.filter((a) => a !== '--header');
if (!reportPath || !recipe || !command) {
  console.error('usage: node bin/run-ts.js scripts/results-row.ts [--header] <report.json> <recipe> <command>');
  process.exit(2);
}
const report = validateReportJson(JSON.parse(readFileSync(reportPath, 'utf8')), reportPath);
if (header) console.log(RESULTS_TABLE_HEADER);
console.log(formatResultsRow(report, { recipe, command }));
