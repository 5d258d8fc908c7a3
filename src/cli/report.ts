import { CATALOG, METRIC } from '../../instrumentation/catalog.js';
import type { CatalogEntry } from '../../instrumentation/catalog.js';
import { TARGET, durationSeconds, passes } from '../../instrumentation/targets.js';
import { CliError, formatMs, joinUrl } from './args.js';
import { describeFailure, httpCall } from './http-client.js';
import { ExpositionError, parseExposition, sumBy, sumSamples } from './prom-text.js';
import type { Sample } from './prom-text.js';
import {
  formatModelCalls,
  modelCallsFromSnapshots,
  queryModelCalls,
  type ModelCallStats,
} from './report-model.js';

/**
 * `echoes-otel report`: the audit's before/after table (section 8), measured. Every series named
 * here comes from the signal catalog; the queries are the ones DESIGN.md's "success metrics" table
 * and the "Audit targets" dashboard use.
 */

export type ReportFormat = 'text' | 'markdown' | 'json';
export type RowKey =
  'avg_response_time' | 'disk_io_per_min' | 'log_growth_per_day' | 'memory' | 'cache_hit_rate';

export interface ReportRow {
  readonly key: RowKey;
  readonly metric: string;
  readonly before: string;
  readonly target: string;
  /** The number the pass/fail decision uses (unit in `unit`), null when there was no data. */
  readonly value: number | null;
  readonly unit: string;
  readonly measured: string;
  readonly pass: boolean | null;
  readonly detail?: string;
  /** Per path group (disk I/O, per minute) or per cache (hit rate), for JSON consumers. */
  readonly breakdown?: Readonly<Record<string, number>>;
}

export interface Report {
  readonly source: 'prometheus' | 'embedded';
  readonly url: string;
  readonly windowMs: number;
  readonly generatedAt: string;
  /**
   * Set when the sampled window saw no traffic and the figures are what the process counted
   * since it started (embedded endpoint only).
   */
  readonly sinceStart?: { readonly startedAt: string; readonly coveredMs: number };
  readonly rows: readonly ReportRow[];
  readonly modelCalls?: readonly ModelCallStats[];
}

/** What the five rows are computed from, whatever the source. Rates are over the window. */
export interface AuditInputs {
  /** Seconds the figures cover. */
  readonly windowS: number;
  /** The counters cover the life of the process, not the window (see collectEmbedded). */
  readonly sinceStart?: boolean;
  readonly httpDurationSumS: number | null;
  readonly httpCount: number | null;
  /** Latency quantiles (seconds) from the duration histogram's buckets, when there were requests. */
  readonly httpQuantilesS?: { readonly p50: number; readonly p95: number; readonly p99: number };
  readonly fsOpsPerMin: number | null;
  readonly fsOpsPerMinByGroup: Readonly<Record<string, number>>;
  readonly logFileBytesPerDay: number | null;
  readonly memory: {
    readonly series: string | null;
    readonly slopeBytesPerS: number | null;
    readonly meanBytes: number | null;
    readonly caches: readonly string[];
    readonly cappedCaches: readonly string[];
  };
  readonly cacheRequests: Readonly<Record<string, { hits: number; misses: number }>>;
  /** Calls through the openai client per model (report-model.ts). */
  readonly modelCalls?: readonly ModelCallStats[];
}

/** The success-metric targets the five rows judge (values in instrumentation/targets.ts). */
const T = {
  avg: TARGET.latencyAvg,
  io: TARGET.diskOpsPerMin,
  log: TARGET.logGrowthPerDay,
  memory: TARGET.memoryGrowth,
  uncapped: TARGET.unboundedCaches,
  cache: TARGET.cacheHitRate,
} as const;
/** Shorter windows see start-up growth and GC sawtooth, not a trend: only caches are judged. */
const MEMORY_TREND_MIN_WINDOW_S = durationSeconds(T.memory.minWindow ?? T.memory.window);

function entry(name: string): CatalogEntry {
  const e = CATALOG.find((c) => c.name === name);
  if (!e) throw new Error(`${name} is not in the signal catalog`);
  return e;
}

/** Series names from the catalog: Prometheus (after OTLP translation) or the embedded exporter's. */
export function seriesName(name: string, source: 'prometheus' | 'embedded', suffix = ''): string {
  const e = entry(name);
  const base = source === 'prometheus' ? e.prometheus : e.embedded;
  if (base === undefined) throw new Error(`${name} has no embedded series in the catalog`);
  return base + suffix;
}

/**
 * The names a metric may carry on an embedded /metrics page: the catalog's Prometheus name (what
 * the collector path gives, unit suffixes included) and its exporter-prometheus name (no unit
 * suffix). Which one the endpoint serves depends on how the preload configures the exporter, so
 * the report takes whichever is on the page, and never a name outside the catalog.
 */
export function embeddedCandidates(name: string, suffix = ''): string[] {
  const e = entry(name);
  return [...new Set([e.prometheus, e.embedded].filter((n): n is string => n !== undefined))].map(
    (n) => n + suffix,
  );
}

/** The first candidate that has samples in any snapshot (the first candidate when none has). */
export function resolveSeries(
  candidates: readonly string[],
  snapshots: readonly Snapshot[],
): string {
  for (const c of candidates) {
    if (snapshots.some((snap) => snap.samples.some((x) => x.name === c))) return c;
  }
  return candidates[0]!;
}

const HEAP_USED = 'v8js.memory.heap.used';

function fmtBytes(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)} KB`;
  return `${Math.round(n)} B`;
}

function fmtSeconds(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(3)} s` : 'n/a';
}

/**
 * The q-quantile of a cumulative histogram given as (upper bound, count) pairs, interpolated
 * linearly inside the bucket the way PromQL's histogram_quantile does.
 */
export function bucketQuantile(
  q: number,
  buckets: ReadonlyArray<readonly [number, number]>,
): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      // The +Inf bucket has no upper bound: the answer is the highest finite one, as in PromQL.
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount || 1);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function fmtNum(n: number): string {
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function evaluate(inputs: AuditInputs): ReportRow[] {
  const rows: ReportRow[] = [];

  const avg =
    inputs.httpCount && inputs.httpCount > 0 && inputs.httpDurationSumS !== null
      ? inputs.httpDurationSumS / inputs.httpCount
      : null;
  rows.push({
    key: 'avg_response_time',
    metric: 'Average response time',
    before: T.avg.before ?? '',
    target: T.avg.text,
    value: avg,
    unit: 's',
    measured: avg === null ? 'no requests' : `${avg.toFixed(3)} s`,
    pass: avg === null ? null : passes(T.avg, avg),
    ...(inputs.httpCount !== null && {
      detail:
        `${Math.round(inputs.httpCount)} requests ${inputs.sinceStart ? 'since the process started' : 'in the window'}` +
        (inputs.httpQuantilesS
          ? `; p50 ${fmtSeconds(inputs.httpQuantilesS.p50)}, p95 ${fmtSeconds(inputs.httpQuantilesS.p95)}, p99 ${fmtSeconds(inputs.httpQuantilesS.p99)} (from histogram buckets)`
          : ''),
    }),
    ...(inputs.httpQuantilesS && { breakdown: { ...inputs.httpQuantilesS } }),
  });

  const io = inputs.fsOpsPerMin;
  const groups = Object.entries(inputs.fsOpsPerMinByGroup)
    .sort((a, b) => b[1] - a[1])
    .map(([g, v]) => `${g || 'unlabelled'} ${fmtNum(v)}`)
    .join(', ');
  rows.push({
    key: 'disk_io_per_min',
    metric: 'Disk I/O operations/min',
    before: T.io.before ?? '',
    target: T.io.text,
    value: io,
    unit: '{operation}/min',
    measured: io === null ? 'no data' : fmtNum(io),
    pass: io === null ? null : passes(T.io, io),
    ...(groups && { detail: `by path group: ${groups}`, breakdown: inputs.fsOpsPerMinByGroup }),
  });

  const lg = inputs.logFileBytesPerDay;
  rows.push({
    key: 'log_growth_per_day',
    metric: 'Log file growth/day',
    before: T.log.before ?? '',
    target: T.log.text,
    value: lg,
    unit: 'By/d',
    measured: lg === null ? 'no data' : fmtBytes(lg),
    pass: lg === null ? null : passes(T.log, lg),
    detail: `bytes written to local log files, projected from ${inputs.sinceStart ? 'the life of the process' : 'the window'} to a day`,
  });

  const m = inputs.memory;
  const uncapped = m.caches.filter((c) => !m.cappedCaches.includes(c));
  const growth =
    m.slopeBytesPerS !== null && m.meanBytes ? (m.slopeBytesPerS * 3600) / m.meanBytes : null;
  const trendJudged = inputs.windowS >= MEMORY_TREND_MIN_WINDOW_S;
  const capsOk = passes(T.uncapped, uncapped.length);
  const capText = `${m.cappedCaches.filter((c) => m.caches.includes(c)).length}/${m.caches.length} caches capped`;
  let memPass: boolean | null;
  if (trendJudged) memPass = growth === null ? null : passes(T.memory, growth) && capsOk;
  else memPass = m.caches.length === 0 && growth === null ? null : capsOk;
  const pct = growth === null ? '' : `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %/h`;
  // A short window's slope is start-up growth and GC noise: shown in the notes, not in the table.
  const trend = growth === null ? 'no memory series' : trendJudged ? pct : 'trend not judged';
  rows.push({
    key: 'memory',
    metric: 'Memory usage',
    before: T.memory.before ?? '',
    target: `bounded (${T.memory.text}, every cache capped)`,
    value: growth,
    unit: '1/h',
    measured: `${trend}, ${capText}`,
    pass: memPass,
    detail:
      `${m.series ?? 'no memory series'}: growth per hour relative to its mean, bounded below ${T.memory.value * 100} %/h` +
      (trendJudged
        ? ''
        : `; over this ${Math.round(inputs.windowS)} s window it moved ${pct || 'n/a'}, but so short a window shows start-up growth and GC swings, not a trend, so only cache capacities are judged (use --window ${T.memory.minWindow ?? T.memory.window} or more)`) +
      (uncapped.length > 0 ? `; caches without a capacity: ${uncapped.join(', ')}` : ''),
  });

  let hits = 0;
  let total = 0;
  const per: string[] = [];
  const rates: Record<string, number> = {};
  let worst: number | null = null;
  for (const [name, c] of Object.entries(inputs.cacheRequests).sort()) {
    const t = c.hits + c.misses;
    if (t <= 0) continue;
    hits += c.hits;
    total += t;
    const r = c.hits / t;
    worst = worst === null ? r : Math.min(worst, r);
    per.push(`${name} ${(r * 100).toFixed(1)} %`);
    rates[name] = r;
  }
  const rate = total > 0 ? hits / total : null;
  rows.push({
    key: 'cache_hit_rate',
    metric: 'Cache hit rate',
    before: T.cache.before ?? '',
    target: T.cache.text,
    value: rate,
    unit: '1',
    measured: rate === null ? 'no lookups' : `${(rate * 100).toFixed(1)} %`,
    // Every cache must meet the target, not just the blend of them.
    pass: worst === null ? null : passes(T.cache, worst),
    ...(per.length > 0 && { detail: `per cache: ${per.join(', ')}`, breakdown: rates }),
  });
  return rows;
}

/** Least-squares slope of (t seconds, value) points. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mt = points.reduce((s, p) => s + p[0], 0) / n;
  const mv = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of points) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  return den === 0 ? null : num / den;
}

// ---------- embedded /metrics source ----------

export interface Snapshot {
  readonly atMs: number;
  readonly samples: readonly Sample[];
  /** When the process serving the page started (its start header), if it says. */
  readonly processStartMs?: number;
}

/** The header instrumentation/metrics.ts sets on /metrics (kept literal: the CLI loads no SDK). */
export const PROCESS_START_HEADER = 'x-echoes-process-start';

/** No request and no cache lookup in the window: nothing happened to measure. */
export function noTraffic(inputs: AuditInputs): boolean {
  const lookups = Object.values(inputs.cacheRequests).reduce((a, c) => a + c.hits + c.misses, 0);
  return (inputs.httpCount ?? 0) === 0 && lookups === 0;
}

/**
 * What the process counted from its start to the last snapshot: counters from zero at
 * `processStartMs` (so rates are over the whole life of the process), memory still from the
 * window's samples (a slope needs points).
 */
export function inputsSinceStart(
  snapshots: readonly Snapshot[],
  processStartMs: number,
): AuditInputs {
  const last = snapshots[snapshots.length - 1]!;
  const life = inputsFromSnapshots([{ atMs: processStartMs, samples: [] }, last]);
  const window = inputsFromSnapshots(snapshots);
  // The memory trend is judged over the sampled window, so its length stays the window's.
  return { ...life, windowS: window.windowS, sinceStart: true, memory: window.memory };
}

function delta(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined && b === undefined) return null;
  // A counter that appeared during the window started from zero.
  const d = (b ?? 0) - (a ?? 0);
  return d < 0 ? (b ?? 0) : d; // a reset (restart) mid-window: count what the new process saw
}

export function inputsFromSnapshots(snapshots: readonly Snapshot[]): AuditInputs {
  if (snapshots.length < 2) throw new CliError('report needs at least two samples of /metrics');
  const first = snapshots[0]!;
  const last = snapshots[snapshots.length - 1]!;
  const secs = (last.atMs - first.atMs) / 1000;
  const s = (name: string, suffix = '') =>
    resolveSeries(embeddedCandidates(name, suffix), snapshots);
  /** How much a counter grew over the window. */
  const grew = (name: string, match: Record<string, string> = {}) =>
    delta(sumSamples(first.samples, name, match), sumSamples(last.samples, name, match));

  const fsName = s(METRIC.fsOperations);
  const fsDelta = grew(fsName);
  const byGroupA = sumBy(first.samples, fsName, 'fs_path_group');
  const byGroupB = sumBy(last.samples, fsName, 'fs_path_group');
  const fsOpsPerMinByGroup: Record<string, number> = {};
  for (const [g, v] of byGroupB)
    fsOpsPerMinByGroup[g] = (delta(byGroupA.get(g), v) ?? 0) * (60 / secs);

  const logDelta = grew(s(METRIC.logWritten), { log_sink: 'file' });

  // Memory: RSS when served, else the V8 heap; sampled over the whole window for a slope.
  let memSeries: string | null = null;
  const points: Array<[number, number]> = [];
  for (const name of [s(METRIC.processMemory), s(HEAP_USED)]) {
    for (const snap of snapshots) {
      const v = sumSamples(snap.samples, name);
      if (v !== undefined) points.push([(snap.atMs - first.atMs) / 1000, v]);
    }
    if (points.length >= 2) {
      memSeries = name;
      break;
    }
    points.length = 0;
  }
  const caches = [...sumBy(last.samples, s(METRIC.cacheEntries), 'cache_name').keys()];
  const capped = [...sumBy(last.samples, s(METRIC.cacheCapacity), 'cache_name').keys()];

  const reqName = s(METRIC.cacheRequests);
  const cacheRequests: Record<string, { hits: number; misses: number }> = {};
  const names = new Set([...sumBy(last.samples, reqName, 'cache_name').keys()]);
  for (const c of names) {
    cacheRequests[c] = {
      hits: grew(reqName, { cache_name: c, cache_result: 'hit' }) ?? 0,
      misses: grew(reqName, { cache_name: c, cache_result: 'miss' }) ?? 0,
    };
  }

  const bucketName = s(METRIC.httpServerDuration, '_bucket');
  const before = sumBy(first.samples, bucketName, 'le');
  const buckets: Array<[number, number]> = [...sumBy(last.samples, bucketName, 'le')].map(
    ([le, v]) => [le === '+Inf' ? Infinity : Number(le), v - (before.get(le) ?? 0)],
  );
  const httpQuantilesS =
    buckets.length > 0 && (buckets.find((b) => b[0] === Infinity)?.[1] ?? 0) > 0
      ? {
          p50: bucketQuantile(0.5, buckets),
          p95: bucketQuantile(0.95, buckets),
          p99: bucketQuantile(0.99, buckets),
        }
      : undefined;
  return {
    windowS: secs,
    httpDurationSumS: grew(s(METRIC.httpServerDuration, '_sum')),
    ...(httpQuantilesS && { httpQuantilesS }),
    httpCount: grew(s(METRIC.httpServerDuration, '_count')),
    fsOpsPerMin: fsDelta === null ? null : fsDelta * (60 / secs),
    fsOpsPerMinByGroup,
    logFileBytesPerDay: logDelta === null ? null : logDelta * (86_400 / secs),
    memory: {
      series: memSeries,
      slopeBytesPerS: memSeries ? slope(points) : null,
      meanBytes: points.length > 0 ? points.reduce((a, p) => a + p[1], 0) / points.length : null,
      caches,
      cappedCaches: capped,
    },
    cacheRequests,
    modelCalls: modelCallsFromSnapshots(snapshots),
  };
}

export async function scrapeEmbedded(url: URL, timeoutMs = 5000): Promise<Snapshot> {
  let answer;
  try {
    answer = await httpCall(url, { timeoutMs });
  } catch (err) {
    throw new CliError(
      `${describeFailure(err, `cannot read ${url.href}`)}. Is the service running with --import echoes-otel/register and the Prometheus endpoint enabled? Or pass --prometheus URL.`,
    );
  }
  if (answer.status !== 200)
    throw new CliError(`${url.href} answered HTTP ${answer.status}, not a metrics page`);
  try {
    const start = Number(answer.headers[PROCESS_START_HEADER]);
    return {
      atMs: Date.now(),
      samples: parseExposition(answer.body),
      ...(Number.isFinite(start) && start > 0 && { processStartMs: start }),
    };
  } catch (err) {
    const why = err instanceof ExpositionError ? err.message : String(err);
    throw new CliError(`${url.href} does not serve Prometheus text metrics (${why})`);
  }
}

export interface EmbeddedOptions {
  readonly url: URL;
  readonly windowMs: number;
  /** Most one scrape may take (default 5 s). */
  readonly timeoutMs?: number;
  readonly samples?: number;
  /** Called once the first scrape answered, before the window is sampled. */
  readonly onStart?: () => void;
  readonly onTick?: (elapsedMs: number) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface EmbeddedResult {
  readonly inputs: AuditInputs;
  /** Set when the window saw no traffic and `inputs` cover the life of the process instead. */
  readonly sinceStart?: { readonly startedAt: string; readonly coveredMs: number };
}

/**
 * Sample the endpoint over the window. When nothing happened in it (no request, no cache
 * lookup) and the endpoint says when its process started, report what the process counted since
 * then instead: `report` right after `load` then shows the load, not NO DATA.
 */
export async function collectEmbedded(opts: EmbeddedOptions): Promise<EmbeddedResult> {
  const n = Math.max(2, opts.samples ?? 11);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const snaps: Snapshot[] = [await scrapeEmbedded(opts.url, opts.timeoutMs)];
  const start = snaps[0]!.atMs;
  opts.onStart?.();
  for (let i = 1; i < n; i++) {
    const due = start + (opts.windowMs * i) / (n - 1);
    await sleep(Math.max(0, due - Date.now()));
    snaps.push(await scrapeEmbedded(opts.url, opts.timeoutMs));
    opts.onTick?.(Date.now() - start);
  }
  const inputs = inputsFromSnapshots(snaps);
  const last = snaps[snaps.length - 1]!;
  const processStartMs = last.processStartMs;
  if (!noTraffic(inputs) || processStartMs === undefined || processStartMs >= last.atMs)
    return { inputs };
  const life = inputsSinceStart(snaps, processStartMs);
  if (noTraffic(life)) return { inputs };
  return {
    inputs: life,
    sinceStart: {
      startedAt: new Date(processStartMs).toISOString(),
      coveredMs: last.atMs - processStartMs,
    },
  };
}

// ---------- Prometheus source ----------

export interface PrometheusOptions {
  readonly url: URL;
  readonly windowMs: number;
  /** Restrict to one service: Prometheus' OTLP ingestion puts service.name in `job`. */
  readonly job?: string;
  readonly timeoutMs?: number;
}

interface VectorResult {
  metric: Record<string, string>;
  value: [number, string];
}

export function promQueries(windowMs: number, job?: string): Record<string, string> {
  const w = formatMs(Math.max(1000, Math.round(windowMs / 1000) * 1000));
  const secs = Math.round(windowMs / 1000);
  const sel = (extra = '') => {
    const parts = [...(job ? [`job=${JSON.stringify(job)}`] : []), ...(extra ? [extra] : [])];
    return parts.length ? `{${parts.join(',')}}` : '';
  };
  const p = (name: string, suffix = '') => seriesName(name, 'prometheus', suffix);
  return {
    httpSum: `sum(increase(${p(METRIC.httpServerDuration, '_sum')}${sel()}[${w}]))`,
    httpCount: `sum(increase(${p(METRIC.httpServerDuration, '_count')}${sel()}[${w}]))`,
    httpP50: `histogram_quantile(0.5, sum by (le) (rate(${p(METRIC.httpServerDuration, '_bucket')}${sel()}[${w}])))`,
    httpP95: `histogram_quantile(0.95, sum by (le) (rate(${p(METRIC.httpServerDuration, '_bucket')}${sel()}[${w}])))`,
    httpP99: `histogram_quantile(0.99, sum by (le) (rate(${p(METRIC.httpServerDuration, '_bucket')}${sel()}[${w}])))`,
    fsOpsPerMin: `sum(rate(${p(METRIC.fsOperations)}${sel()}[${w}])) * 60`,
    fsOpsPerMinByGroup: `sum by (fs_path_group) (rate(${p(METRIC.fsOperations)}${sel()}[${w}])) * 60`,
    logPerDay: `sum(increase(${p(METRIC.logWritten)}${sel('log_sink="file"')}[${w}])) * ${86_400 / secs}`,
    rssSlope: `sum(deriv(${p(METRIC.processMemory)}${sel()}[${w}]))`,
    rssMean: `sum(avg_over_time(${p(METRIC.processMemory)}${sel()}[${w}]))`,
    heapSlope: `sum(deriv(${p(HEAP_USED)}${sel()}[${w}]))`,
    heapMean: `sum(avg_over_time(${p(HEAP_USED)}${sel()}[${w}]))`,
    caches: `max by (cache_name) (last_over_time(${p(METRIC.cacheEntries)}${sel()}[${w}]))`,
    capped: `max by (cache_name) (last_over_time(${p(METRIC.cacheCapacity)}${sel()}[${w}]))`,
    cacheRequests: `sum by (cache_name, cache_result) (increase(${p(METRIC.cacheRequests)}${sel()}[${w}]))`,
  };
}

export async function queryPrometheus(
  base: URL,
  promql: string,
  timeoutMs = 10_000,
): Promise<VectorResult[]> {
  const u = joinUrl(base, '/api/v1/query');
  u.searchParams.set('query', promql);
  let answer;
  try {
    answer = await httpCall(u, { timeoutMs });
  } catch (err) {
    throw new CliError(
      `${describeFailure(err, `cannot query Prometheus at ${base.href}`)}. Check --prometheus, or run \`echoes-otel doctor\`.`,
    );
  }
  let body: {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: VectorResult[] };
  };
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    throw new CliError(
      `${base.href} answered HTTP ${answer.status} with something that is not the Prometheus API (not JSON); is --prometheus pointing at Prometheus?`,
    );
  }
  if (body.status !== 'success' || body.data?.resultType !== 'vector') {
    throw new CliError(
      `Prometheus at ${base.href} rejected a query (HTTP ${answer.status}): ${body.error ?? 'unexpected answer'}`,
    );
  }
  return body.data.result ?? [];
}

function scalar(r: VectorResult[]): number | null {
  if (r.length === 0) return null;
  const v = Number(r[0]!.value[1]);
  return Number.isFinite(v) ? v : null;
}

export async function collectPrometheus(opts: PrometheusOptions): Promise<AuditInputs> {
  const q = promQueries(opts.windowMs, opts.job);
  const keys = Object.keys(q);
  const results = await Promise.all(
    keys.map((k) => queryPrometheus(opts.url, q[k]!, opts.timeoutMs)),
  );
  const r = Object.fromEntries(keys.map((k, i) => [k, results[i]!])) as Record<
    keyof typeof q,
    VectorResult[]
  >;
  const byGroup: Record<string, number> = {};
  for (const x of r.fsOpsPerMinByGroup) byGroup[x.metric.fs_path_group ?? ''] = Number(x.value[1]);
  const cacheRequests: Record<string, { hits: number; misses: number }> = {};
  for (const x of r.cacheRequests) {
    const name = x.metric.cache_name ?? '';
    const c = (cacheRequests[name] ??= { hits: 0, misses: 0 });
    if (x.metric.cache_result === 'hit') c.hits += Number(x.value[1]);
    else if (x.metric.cache_result === 'miss') c.misses += Number(x.value[1]);
  }
  const rss = scalar(r.rssSlope) !== null;
  const modelCalls = await queryModelCalls(
    (promql) => queryPrometheus(opts.url, promql, opts.timeoutMs),
    opts.windowMs,
    opts.job,
  );
  return {
    windowS: opts.windowMs / 1000,
    httpDurationSumS: scalar(r.httpSum),
    ...(scalar(r.httpP50) !== null && {
      httpQuantilesS: {
        p50: scalar(r.httpP50)!,
        p95: scalar(r.httpP95) ?? NaN,
        p99: scalar(r.httpP99) ?? NaN,
      },
    }),
    httpCount: scalar(r.httpCount),
    fsOpsPerMin: scalar(r.fsOpsPerMin),
    fsOpsPerMinByGroup: byGroup,
    logFileBytesPerDay: scalar(r.logPerDay),
    memory: {
      series: rss
        ? seriesName(METRIC.processMemory, 'prometheus')
        : scalar(r.heapSlope) !== null
          ? seriesName(HEAP_USED, 'prometheus')
          : null,
      slopeBytesPerS: rss ? scalar(r.rssSlope) : scalar(r.heapSlope),
      meanBytes: rss ? scalar(r.rssMean) : scalar(r.heapMean),
      caches: r.caches.map((x) => x.metric.cache_name ?? ''),
      cappedCaches: r.capped.map((x) => x.metric.cache_name ?? ''),
    },
    cacheRequests,
    modelCalls,
  };
}

// ---------- output ----------

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
