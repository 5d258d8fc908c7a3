import { METRIC } from '../../instrumentation/catalog.js';
import { CliError } from './args.js';
import { describeFailure, httpCall } from './http-client.js';
import {
  bucketQuantile,
  ExpositionError,
  parseExposition,
  sumBy,
  sumSamples,
} from './prom-text.js';
import type { Sample } from './prom-text.js';
import { embeddedCandidates, HEAP_USED } from './report-series.js';
import { modelCallsFromSnapshots } from './report-model.js';

import type { AuditInputs } from './report-types.js';

// Moved to prom-text.ts (report-model.ts uses it too); still importable from here.
export { bucketQuantile };

/**
 * The report's embedded source: scrapes of the process's own /metrics page over the window (or
 * since the process started), turned into the audit inputs by counter deltas, a memory slope and
 * latency quantiles from histogram buckets.
 */

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

export interface Snapshot {
  readonly atMs: number;
  readonly samples: readonly Sample[];
  /** When the process serving the page started (its start header), if it says. */
  readonly processStartMs?: number;
}

/** The header instrumentation/export/metrics.ts sets on /metrics (kept literal: the CLI loads no SDK). */
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
