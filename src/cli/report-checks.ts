import { TARGET, durationSeconds, passes } from '../../instrumentation/targets.js';
import type { AuditInputs, ReportRow } from './report-types.js';

/**
 * The report's checks: the five audit rows judged against the targets in
 * instrumentation/targets.ts, whatever source the inputs came from.
 */

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

function fmtNum(n: number): string {
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function evaluate(inputs: AuditInputs): ReportRow[] {
  // `duplicates` pairs the rows below: one per audit row, each with its own input, unit, format
  // and detail; the field order is the JSON output's.
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
