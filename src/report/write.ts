/** writeReport: report.json, report.md, report.html and plots/*.svg in one output directory. */
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { withAtomicOutput, writeFileAtomic } from '../util/fs.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { buildReport, type ReportOptions } from './build.ts';
import { buildFigures } from './charts.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import type { ReportInput, ReportJson } from './types.ts';
import { validateReportInput, validateReportJson } from './validate.ts';

export interface WriteReportOptions extends ReportOptions {
  logger?: Logger;
  /**
   * Where `outDir` will be once the caller moves it into place (the report stage writes into its
   * temp dir): the directory the log line names. Default outDir.
   */
  finalDir?: string;
}

export interface WrittenReport {
  report: ReportJson;
  jsonPath: string;
  markdownPath: string;
  htmlPath: string;
  /** SVG files under plots/. */
  plotPaths: string[];
}

/**
 * Validate `input`, compute the report and write `<outDir>/report.json`, `report.md`,
 * `report.html` and `plots/<figure>.svg`. Every file is written atomically (temp + rename);
 * plots/ is replaced as a whole, and the HTML, which embeds the figures, is written last.
 * The same input and options give the same bytes.
 */
export async function writeReport(
  input: ReportInput,
  outDir: string,
  opts: WriteReportOptions = {},
): Promise<WrittenReport> {
  const log = opts.logger ?? createLogger({ prefix: 'report' });
  validateReportInput(input);
  const report = buildReport(input, opts);
  validateReportJson(JSON.parse(JSON.stringify(report)));
  const figures = buildFigures(report);
  const plotsDir = join(outDir, 'plots');
  await withAtomicOutput(plotsDir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    for (const f of figures)
      await fsp.writeFile(join(tmp, `${f.name}.svg`), `<?xml version="1.0" encoding="UTF-8"?>\n${f.svg}\n`);
  });
  const jsonPath = join(outDir, 'report.json');
  const markdownPath = join(outDir, 'report.md');
  const htmlPath = join(outDir, 'report.html');
  await writeFileAtomic(jsonPath, JSON.stringify(report, null, 2) + '\n');
  await writeFileAtomic(markdownPath, renderMarkdown(report, figures));
  await writeFileAtomic(htmlPath, renderHtml(report, figures));
  const shown = (p: string) => (opts.finalDir === undefined ? p : join(opts.finalDir, relative(outDir, p)));
  log.info(`report: ${shown(htmlPath)} (${figures.length} figures), ${shown(markdownPath)}, ${shown(jsonPath)}`);
  return { report, jsonPath, markdownPath, htmlPath, plotPaths: figures.map((f) => join(plotsDir, `${f.name}.svg`)) };
}
