/**
 * The audit's targets (seed audit, section 8 "Success Metrics" and its alert list): the one place
 * their numbers live. `echoes-otel report` decides PASS/FAIL with `passes()`, the alert rules in
 * prometheus/rules/echoes.yml are the `alerts[].expr` below (a unit test fails when the YAML and
 * this module disagree), the Audit targets dashboard draws `value` as its thresholds, and the
 * embedded live page shows each figure against `text`. docs/alerts.md explains the choices.
 *
 * Shape (kept stable; the dashboard generator imports it):
 *   TARGETS: readonly Target[]           in display order
 *   TARGET: Readonly<Record<TargetId, Target>>
 *   Target.value / unit / comparison     a measured v passes when `v <comparison> value`
 *   Target.window                        the PromQL range the measurement averages over
 *   Target.query(sel, window)            instant PromQL that measures it; `sel` is a label-matcher
 *                                        list ANDed into every selector (e.g. Grafana variables),
 *                                        `window` the range (default Target.window)
 *   breachExpr(t, sel)                   PromQL that returns the series missing the target
 *   Target.alerts[]                      the rules that enforce it (name, for, severity, expr)
 *
 * Two decisions the audit left open:
 * - "Memory: bounded" means: resident memory (V8 heap when RSS is not reported) grows by less than
 *   10 % per hour of its mean over the window (a least-squares slope: `deriv`), and every cache
 *   has a capacity. Relative, not absolute, so one rule fits a 60 MB service and a 2 GB one; 10 %/h
 *   doubles memory within a working day, which no steady service does, while GC swings average out
 *   over an hour. Shorter windows show start-up growth, not a trend: below `minWindow` only cache
 *   capacities are judged.
 * - "Disk I/O operations/min: ~20 (from ~100)" means: at most 20 node:fs operations per minute
 *   (every API, sync and async, every path group), averaged over 15 minutes. "~" is read as the
 *   ceiling of the audit's 80 % reduction; there is no tolerance band above it.
 */

export type TargetId =
  | 'latencyAvg'
  | 'latencyP95'
  | 'errorRate'
  | 'diskOpsPerMin'
  | 'logGrowthPerDay'
  | 'memoryGrowth'
  | 'unboundedCaches'
  | 'cacheHitRate'
  | 'diskUtilization';

/** How a measured value meets the target: `measured <comparison> value`. */
export type Comparison = '<' | '<=' | '>' | '>=';

export interface AlertSpec {
  readonly name: string;
  /** Prometheus `for:` (how long the breach must hold). */
  readonly for: string;
  readonly severity: 'warning' | 'critical';
  /** The rule's `expr`, exactly (whitespace aside) as in prometheus/rules/echoes.yml. */
  readonly expr: string;
}

export interface Target {
  readonly id: TargetId;
  readonly title: string;
  /**
   * `success-metric`: a row of the audit's section-8 table (the report prints these);
   * `alert`: a threshold behind an alert the audit asks for (disk > 80 %, latency degradation)
   * or that the pipeline needs (error rate).
   */
  readonly kind: 'success-metric' | 'alert';
  /** The audit's "Current" column, for success metrics. */
  readonly before?: string;
  readonly value: number;
  /** UCUM-style unit of `value` (what the measurement yields). */
  readonly unit: string;
  /** Grafana's unit id for the same quantity. */
  readonly grafanaUnit: string;
  readonly comparison: Comparison;
  /** PromQL range the measurement averages over (alerts and dashboards use it). */
  readonly window: string;
  /** The report judges the figure only over windows at least this long (memory trend). */
  readonly minWindow?: string;
  /** Human form of the target, e.g. "< 1.0 s". */
  readonly text: string;
  /** The decision in words: what is measured and when it passes. */
  readonly meaning: string;
  /** Labels the query keeps (one result series per combination). */
  readonly by: readonly string[];
  /**
   * Instant PromQL measuring the target; `sel` is ANDed into every selector, `window` replaces
   * the default range (`window`; e.g. Grafana's `$__range`).
   */
  readonly query: (sel?: string, window?: string) => string;
  readonly alerts: readonly AlertSpec[];
}

const SERVICE = ['service_name', 'deployment_environment_name'] as const;
const BY = SERVICE.join(', ');

/** `name{a, sel}` with empty parts left out. */
function m(name: string, ...matchers: Array<string | undefined>): string {
  const parts = matchers.filter((x): x is string => x !== undefined && x.trim() !== '');
  return parts.length > 0 ? `${name}{${parts.join(', ')}}` : name;
}

const NEGATED: Readonly<Record<Comparison, Comparison>> = {
  '<': '>=',
  '<=': '>',
  '>': '<=',
  '>=': '<',
};

/** Does a measured value meet the target? */
export function passes(t: Target, measured: number): boolean {
  switch (t.comparison) {
    case '<':
      return measured < t.value;
    case '<=':
      return measured <= t.value;
    case '>':
      return measured > t.value;
    case '>=':
      return measured >= t.value;
  }
}

/** PromQL keeping only the series that miss the target (the rules' core). */
export function breachExpr(t: Target, sel?: string): string {
  return `${t.query(sel)} ${NEGATED[t.comparison]} ${t.value}`;
}

/** A PromQL duration in seconds ("15m" → 900). */
export function durationSeconds(d: string): number {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
  let total = 0;
  let seen = '';
  for (const x of d.matchAll(re)) {
    total += x[2] === 'ms' ? Number(x[1]) / 1000 : Number(x[1]) * units[x[2]!]!;
    seen += x[0];
  }
  if (seen !== d || seen === '') throw new Error(`not a PromQL duration: ${JSON.stringify(d)}`);
  return total;
}

const httpSum = 'http_server_request_duration_seconds_sum';
const httpCount = 'http_server_request_duration_seconds_count';
const httpBucket = 'http_server_request_duration_seconds_bucket';
const cacheReq = 'echoes_cache_requests_total';

const CACHE_BY = `${BY}, cache_name`;
/** Cache lookups per second under which the hit rate is not judged by the alert (3 a minute). */
export const CACHE_MIN_LOOKUPS_PER_S = 0.05;

function p95(sel: string | undefined, w: string): string {
  return `histogram_quantile(0.95, sum by (${BY}, le) (rate(${m(httpBucket, sel)}[${w}])))`;
}

type QueryOf = (sel: string | undefined, w: string) => string;

function target(
  t: Omit<Target, 'alerts' | 'query'> & {
    query: QueryOf;
    alerts?: (self: Target) => AlertSpec[];
  },
): Target {
  const q = t.query;
  const query = (sel?: string, window?: string): string => q(sel, window ?? t.window);
  const self = { ...t, query, alerts: [] as AlertSpec[] } as Target;
  const alerts = t.alerts?.(self) ?? [];
  return Object.freeze({ ...self, by: Object.freeze([...t.by]), alerts: Object.freeze(alerts) });
}

// `duplicates` pairs these rows with each other: data, one target per audit row with every field
// named, read by the alert rules, `report`, the dashboards and the live page alike.
export const TARGETS: readonly Target[] = Object.freeze([
  target({
    id: 'latencyAvg',
    title: 'Average response time',
    kind: 'success-metric',
    before: '1.18 s',
    value: 1.0,
    unit: 's',
    grafanaUnit: 's',
    comparison: '<',
    window: '5m',
    text: '< 1.0 s',
    meaning: 'sum of request durations / number of requests (http.server.request.duration)',
    by: SERVICE,
    query: (sel, w) =>
      `sum by (${BY}) (rate(${m(httpSum, sel)}[${w}])) / sum by (${BY}) (rate(${m(httpCount, sel)}[${w}]))`,
    alerts: (t) => [
      { name: 'LatencyAvgAboveTarget', for: '10m', severity: 'warning', expr: breachExpr(t) },
    ],
  }),
  target({
    id: 'latencyP95',
    title: 'p95 response time',
    kind: 'alert',
    value: 1.5,
    unit: 's',
    grafanaUnit: 's',
    comparison: '<',
    window: '5m',
    text: '< 1.5 s',
    meaning:
      'the 95th percentile of request duration from the histogram buckets; the audit asks for an alert on response-time degradation and targets an average under 1.0 s, so the tail may reach 1.5 s',
    by: SERVICE,
    query: (sel, w) => p95(sel, w),
    alerts: (t) => [
      { name: 'LatencyP95AboveTarget', for: '10m', severity: 'warning', expr: breachExpr(t) },
    ],
  }),
  target({
    id: 'errorRate',
    title: 'Error rate (5xx)',
    kind: 'alert',
    value: 0.05,
    unit: '1',
    grafanaUnit: 'percentunit',
    comparison: '<',
    window: '5m',
    text: '< 5 %',
    meaning: 'share of requests answered with a 5xx status',
    by: SERVICE,
    query: (sel, w) =>
      `sum by (${BY}) (rate(${m(httpCount, 'http_response_status_code=~"5.."', sel)}[${w}])) / sum by (${BY}) (rate(${m(httpCount, sel)}[${w}]))`,
    alerts: (t) => [
      { name: 'ErrorRateHigh', for: '5m', severity: 'critical', expr: breachExpr(t) },
    ],
  }),
  target({
    id: 'diskOpsPerMin',
    title: 'Disk I/O operations/min',
    kind: 'success-metric',
    before: '~100',
    value: 20,
    unit: '{operation}/min',
    grafanaUnit: 'opm',
    comparison: '<=',
    window: '15m',
    text: '≤ 20 /min',
    meaning:
      'node:fs operations per minute, every API (sync, callback, promise, stream) and path group, averaged over the window; "~20" is read as a ceiling',
    by: SERVICE,
    query: (sel, w) => `sum by (${BY}) (rate(${m('echoes_fs_operations_total', sel)}[${w}])) * 60`,
    alerts: (t) => [
      { name: 'DiskOpsAboveTarget', for: '30m', severity: 'warning', expr: breachExpr(t) },
    ],
  }),
  target({
    id: 'logGrowthPerDay',
    title: 'Log file growth/day',
    kind: 'success-metric',
    before: '~1-5 MB',
    value: 500_000,
    unit: 'By/d',
    grafanaUnit: 'decbytes',
    comparison: '<',
    window: '1d',
    text: '< 500 KB',
    meaning:
      'bytes written to the local log files over a day (KB = 1000 bytes); shorter windows are projected to a day',
    by: SERVICE,
    query: (sel, w) =>
      `sum by (${BY}) (increase(${m('echoes_log_written_bytes_total', 'log_sink="file"', sel)}[${w}]))`,
    alerts: (t) => [
      { name: 'LogGrowthAboveTarget', for: '5m', severity: 'warning', expr: breachExpr(t) },
    ],
  }),
  target({
    id: 'memoryGrowth',
    title: 'Memory growth',
    kind: 'success-metric',
    before: 'unbounded',
    value: 0.1,
    unit: '1/h',
    grafanaUnit: 'percentunit',
    comparison: '<',
    window: '1h',
    minWindow: '5m',
    text: '< 10 %/h',
    meaning:
      'bounded: resident memory (the V8 heap where RSS is not reported) grows by less than 10 % of its mean per hour (least-squares slope), and every cache has a capacity',
    by: ['job', 'instance'],
    query: (sel, w) =>
      `deriv(${m('process_memory_usage_bytes', sel)}[${w}]) * 3600 / avg_over_time(${m('process_memory_usage_bytes', sel)}[${w}])`,
    alerts: (t) => [
      { name: 'MemoryLeakSuspected', for: '1h', severity: 'warning', expr: breachExpr(t) },
      {
        name: 'HeapGrowthSustained',
        for: '1h',
        severity: 'warning',
        // The slope of a sum is the sum of the slopes: no subquery needed.
        expr: `sum without (v8js_heap_space_name) (deriv(v8js_memory_heap_used_bytes[${t.window}])) * 3600 / sum without (v8js_heap_space_name) (avg_over_time(v8js_memory_heap_used_bytes[${t.window}])) ${NEGATED[t.comparison]} ${t.value}`,
      },
    ],
  }),
  target({
    id: 'unboundedCaches',
    title: 'Caches without a capacity',
    kind: 'success-metric',
    before: 'unbounded',
    value: 0,
    unit: '{cache}',
    grafanaUnit: 'short',
    comparison: '<=',
    window: '5m',
    text: '0',
    meaning:
      'the cache half of "memory bounded": caches that report entries but no capacity (none may)',
    by: SERVICE,
    query: (sel) =>
      `count by (${BY}) (${m('echoes_cache_entries', sel)} unless on (job, instance, cache_name) echoes_cache_capacity)`,
    alerts: () => [
      {
        name: 'UnboundedCacheGrowing',
        for: '30m',
        severity: 'warning',
        // Only a growing one is worth waking someone for; the count is on the dashboard.
        expr: 'deriv(echoes_cache_entries[30m]) > 0 unless on (job, instance, cache_name) echoes_cache_capacity',
      },
    ],
  }),
  target({
    id: 'cacheHitRate',
    title: 'Cache hit rate',
    kind: 'success-metric',
    before: 'unknown',
    value: 0.7,
    unit: '1',
    grafanaUnit: 'percentunit',
    comparison: '>',
    window: '15m',
    text: '> 70 %',
    meaning: `hits / lookups, for every cache on its own (the worst cache decides); the alert needs at least ${CACHE_MIN_LOOKUPS_PER_S * 60} lookups a minute`,
    by: [...SERVICE, 'cache_name'],
    query: (sel, w) =>
      `(sum by (${CACHE_BY}) (rate(${m(cacheReq, 'cache_result="hit"', sel)}[${w}])) or sum by (${CACHE_BY}) (rate(${m(cacheReq, sel)}[${w}])) * 0) / sum by (${CACHE_BY}) (rate(${m(cacheReq, sel)}[${w}]))`,
    alerts: (t) => [
      {
        name: 'CacheHitRateLow',
        for: '15m',
        severity: 'warning',
        expr: `${breachExpr(t)} and sum by (${CACHE_BY}) (rate(${cacheReq}[${t.window}])) > ${CACHE_MIN_LOOKUPS_PER_S}`,
      },
    ],
  }),
  target({
    id: 'diskUtilization',
    title: 'Disk utilization',
    kind: 'alert',
    value: 0.8,
    unit: '1',
    grafanaUnit: 'percentunit',
    comparison: '<',
    window: '5m',
    text: '< 80 %',
    meaning:
      'used share of the volume holding each watched directory (and of each host filesystem)',
    by: [...SERVICE, 'dir_name'],
    query: (sel) => `max by (${BY}, dir_name) (${m('echoes_disk_utilization_ratio', sel)})`,
    alerts: (t) => [
      { name: 'DiskUsageHigh', for: '10m', severity: 'warning', expr: breachExpr(t) },
      {
        name: 'HostDiskUsageHigh',
        for: '10m',
        severity: 'warning',
        expr: `max by (host_name, mountpoint) (system_filesystem_utilization_ratio) ${NEGATED[t.comparison]} ${t.value}`,
      },
    ],
  }),
]);

export const TARGET: Readonly<Record<TargetId, Target>> = Object.freeze(
  Object.fromEntries(TARGETS.map((t) => [t.id, t])) as Record<TargetId, Target>,
);
