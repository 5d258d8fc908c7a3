import { formatMs } from './args.js';
import { formatModelCalls } from './report-model.js';
import type { Report, ReportFormat, ReportRow } from './report-types.js';

/** The report's printing: the table as text or markdown, or the whole report as JSON. */

function resultText(pass: boolean | null): string {
  return pass === null ? 'NO DATA' : pass ? 'PASS' : 'FAIL';
}

/** One closing line: how many targets were met, missed, or could not be measured. */
export function verdict(rows: readonly ReportRow[]): string {
  const met = rows.filter((r) => r.pass === true).length;
  const missed = rows.filter((r) => r.pass === false).map((r) => r.metric.toLowerCase());
  const none = rows.filter((r) => r.pass === null).length;
  return (
    `${met} of ${rows.length} audit targets met` +
    (missed.length > 0 ? `; missed: ${missed.join(', ')}` : '') +
    (none > 0 ? `; ${none} without data` : '')
  );
}

export function formatReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  const head = ['Metric', 'Before (audit)', 'Target', 'Measured', 'Result'];
  const body = report.rows.map((r) => [
    r.metric,
    r.before,
    r.target,
    r.measured,
    resultText(r.pass),
  ]);
  const scope = report.sinceStart
    ? `since the process started (${report.sinceStart.startedAt}, ${formatMs(Math.round(report.sinceStart.coveredMs / 1000) * 1000)} ago): the ${formatMs(report.windowMs)} window sampled saw no traffic`
    : `window ${formatMs(report.windowMs)}`;
  const title = `echoes-otel report: ${report.source === 'prometheus' ? 'Prometheus' : 'embedded /metrics'} ${report.url}, ${scope}, ${report.generatedAt}`;
  const notes = report.rows.filter((r) => r.detail).map((r) => `- ${r.metric}: ${r.detail}`);
  if (report.sinceStart)
    notes.unshift(
      '- Counted since the process started, not in the sampled window (which saw no requests and no cache lookups): rates are averages over the life of the process. Sample while traffic runs (e.g. `echoes-otel load` in another terminal) to measure a window.',
    );
  if (report.modelCalls !== undefined) notes.push(formatModelCalls(report.modelCalls));
  notes.push('', verdict(report.rows));
  if (format === 'markdown') {
    const line = (cells: string[]) =>
      `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [
      `**${title}**`,
      '',
      line(head),
      line(head.map(() => '---')),
      ...body.map(line),
      '',
      ...notes,
      '',
    ].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    title,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    ...notes,
    '',
  ].join('\n');
}
