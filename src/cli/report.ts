/**
 * `echoes-otel report`: the audit's before/after table (section 8), measured. Every series named
 * here comes from the signal catalog; the queries are the ones DESIGN.md's "success metrics" table
 * and the "Audit targets" dashboard use.
 *
 * This module is the façade; the work lives beside it: report-embedded.ts and
 * report-prometheus.ts (the two sources, naming series through report-series.ts),
 * report-checks.ts (the rows judged against instrumentation/targets.ts) and report-print.ts
 * (text, markdown, JSON).
 */

export type { AuditInputs, Report, ReportFormat, ReportRow, RowKey } from './report-types.js';
export { embeddedCandidates, seriesName } from './report-series.js';
export {
  bucketQuantile,
  collectEmbedded,
  inputsFromSnapshots,
  inputsSinceStart,
  noTraffic,
  PROCESS_START_HEADER,
  resolveSeries,
  scrapeEmbedded,
  slope,
  type EmbeddedOptions,
  type EmbeddedResult,
  type Snapshot,
} from './report-embedded.js';
export {
  collectPrometheus,
  promQueries,
  queryPrometheus,
  type PrometheusOptions,
} from './report-prometheus.js';
export { evaluate } from './report-checks.js';
export { formatReport, verdict } from './report-print.js';
