import { METRIC } from '../../instrumentation/catalog.js';
import { CliError, formatMs, joinUrl } from './args.js';
import { describeFailure, httpCall } from './http-client.js';
import { HEAP_USED, seriesName } from './report-series.js';
import { queryModelCalls } from './report-model.js';
import type { AuditInputs } from './report-types.js';

/** The report's Prometheus source: one instant PromQL query per input, over the window. */

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
