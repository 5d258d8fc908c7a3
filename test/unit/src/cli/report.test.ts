import { describe, expect, it } from 'vitest';
import { CATALOG, METRIC, catalogSeriesNames } from '../../../../instrumentation/catalog.js';
import {
  bucketQuantile,
  evaluate,
  formatReport,
  verdict,
  inputsFromSnapshots,
  inputsSinceStart,
  noTraffic,
  PROCESS_START_HEADER,
  promQueries,
  seriesName,
  slope,
} from '../../../../src/cli/report.js';
import type { AuditInputs, Report, Snapshot } from '../../../../src/cli/report.js';
import type { Sample } from '../../../../src/cli/prom-text.js';

const base: AuditInputs = {
  windowS: 600,
  httpDurationSumS: 12,
  httpCount: 100,
  fsOpsPerMin: 15,
  fsOpsPerMinByGroup: { sessions: 10, logs: 5 },
  logFileBytesPerDay: 300_000,
  memory: {
    series: 'process_memory_usage',
    slopeBytesPerS: 0,
    meanBytes: 50e6,
    caches: ['model-info'],
    cappedCaches: ['model-info'],
  },
  cacheRequests: { 'model-info': { hits: 90, misses: 10 } },
};

function row(inputs: AuditInputs, key: string) {
  return evaluate(inputs).find((r) => r.key === key)!;
}

describe('evaluate', () => {
  it('passes every target when the inputs meet them', () => {
    const rows = evaluate(base);
    expect(rows.map((r) => [r.key, r.pass])).toEqual([
      ['avg_response_time', true],
      ['disk_io_per_min', true],
      ['log_growth_per_day', true],
      ['memory', true],
      ['cache_hit_rate', true],
    ]);
    expect(rows[0]!.value).toBeCloseTo(0.12);
    expect(rows[4]!.value).toBeCloseTo(0.9);
  });
  it('fails each target on its own threshold', () => {
    expect(row({ ...base, httpDurationSumS: 150 }, 'avg_response_time').pass).toBe(false);
    expect(row({ ...base, fsOpsPerMin: 100 }, 'disk_io_per_min').pass).toBe(false);
    expect(row({ ...base, logFileBytesPerDay: 2e6 }, 'log_growth_per_day').pass).toBe(false);
    expect(
      row(
        { ...base, cacheRequests: { a: { hits: 9, misses: 1 }, b: { hits: 1, misses: 1 } } },
        'cache_hit_rate',
      ).pass,
    ).toBe(false);
  });
  it('calls memory unbounded when it grows fast or a cache has no capacity', () => {
    const growing = { ...base, memory: { ...base.memory, slopeBytesPerS: 50e6 / 3600 } };
    expect(row(growing, 'memory').pass).toBe(false);
    const uncapped = { ...base, memory: { ...base.memory, caches: ['model-info', 'raw'] } };
    const r = row(uncapped, 'memory');
    expect(r.pass).toBe(false);
    expect(r.detail).toMatch(/without a capacity: raw/);
  });
  it('judges only cache capacities when the window is too short for a memory trend', () => {
    const short = { ...base, windowS: 30, memory: { ...base.memory, slopeBytesPerS: 50e6 / 3600 } };
    const r = row(short, 'memory');
    expect(r.pass).toBe(true);
    expect(r.measured).toBe('trend not judged, 1/1 caches capped');
    expect(r.detail).toMatch(
      /window it moved \+100\.0 %\/h, but .* only cache capacities are judged/,
    );
    expect(
      row({ ...short, memory: { ...short.memory, caches: ['model-info', 'raw'] } }, 'memory').pass,
    ).toBe(false);
  });
  it('says "no data" rather than pass or fail when nothing was measured', () => {
    const empty: AuditInputs = {
      windowS: 600,
      httpDurationSumS: null,
      httpCount: null,
      fsOpsPerMin: null,
      fsOpsPerMinByGroup: {},
      logFileBytesPerDay: null,
      memory: { series: null, slopeBytesPerS: null, meanBytes: null, caches: [], cappedCaches: [] },
      cacheRequests: {},
    };
    expect(evaluate(empty).every((r) => r.pass === null)).toBe(true);
  });
});

describe('bucketQuantile', () => {
  it('interpolates inside the bucket as histogram_quantile does', () => {
    const b: Array<[number, number]> = [
      [0.05, 0],
      [0.075, 50],
      [0.1, 100],
      [Infinity, 100],
    ];
    expect(bucketQuantile(0.5, b)).toBeCloseTo(0.075);
    expect(bucketQuantile(0.25, b)).toBeCloseTo(0.0625);
    expect(bucketQuantile(0.99, b)).toBeCloseTo(0.0995);
    expect(bucketQuantile(0.5, [[Infinity, 0]])).toBeNaN();
    // Everything above the highest finite bound: that bound, as PromQL answers.
    expect(
      bucketQuantile(0.5, [
        [1, 0],
        [Infinity, 10],
      ]),
    ).toBe(1);
  });
});

describe('slope', () => {
  it('fits a line', () => {
    expect(
      slope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).toBeCloseTo(2);
    expect(slope([[0, 1]])).toBeNull();
  });
});

function snap(atMs: number, s: Array<[string, Record<string, string>, number]>): Snapshot {
  return { atMs, samples: s.map(([name, labels, value]): Sample => ({ name, labels, value })) };
}

describe('inputsFromSnapshots', () => {
  // The embedded endpoint may serve exporter-prometheus names or the collector path's (unit
  // suffixes); the report reads whichever catalog name is on the page.
  it.each(['embedded', 'prometheus'] as const)(
    'turns counter deltas over the window into rates and per-day projections (%s names)',
    (naming) => {
      const e = (n: string, suffix = '') => seriesName(n, naming, suffix);
      const at = (t: number, k: number): Snapshot =>
        snap(t, [
          [e(METRIC.httpServerDuration, '_sum'), { http_route: '/chat' }, 2 * k],
          [e(METRIC.httpServerDuration, '_count'), { http_route: '/chat' }, 20 * k],
          [e(METRIC.fsOperations), { fs_path_group: 'sessions', fs_operation: 'open' }, 10 * k],
          [e(METRIC.fsOperations), { fs_path_group: 'logs', fs_operation: 'write' }, 5 * k],
          [e(METRIC.logWritten), { log_sink: 'file' }, 1000 * k],
          [e(METRIC.logWritten), { log_sink: 'otlp' }, 9999 * k],
          [e(METRIC.processMemory), {}, 50e6 + k],
          [e(METRIC.cacheRequests), { cache_name: 'model-info', cache_result: 'hit' }, 8 * k],
          [e(METRIC.cacheRequests), { cache_name: 'model-info', cache_result: 'miss' }, 2 * k],
          [e(METRIC.cacheEntries), { cache_name: 'model-info' }, 3],
          [e(METRIC.cacheCapacity), { cache_name: 'model-info' }, 8],
        ]);
      const inputs = inputsFromSnapshots([at(0, 1), at(30_000, 2), at(60_000, 3)]);
      expect(inputs.httpCount).toBe(40);
      expect(inputs.httpDurationSumS).toBe(4);
      expect(inputs.fsOpsPerMin).toBeCloseTo(30);
      expect(inputs.fsOpsPerMinByGroup).toEqual({ sessions: 20, logs: 10 });
      expect(inputs.logFileBytesPerDay).toBeCloseTo(2000 * 1440);
      expect(inputs.cacheRequests).toEqual({ 'model-info': { hits: 16, misses: 4 } });
      expect(inputs.memory.series).toBe(e(METRIC.processMemory));
      expect(inputs.httpQuantilesS).toBeUndefined(); // no buckets on this page
      expect(inputs.memory.slopeBytesPerS).toBeCloseTo(1 / 30);
      expect(inputs.memory.cappedCaches).toEqual(['model-info']);
    },
  );
  it('needs two samples', () => {
    expect(() => inputsFromSnapshots([snap(0, [])])).toThrow(/two samples/);
  });
});

describe('promQueries', () => {
  it('names only series from the signal catalog', () => {
    const known = catalogSeriesNames();
    const q = promQueries(300_000, 'echoes-api');
    const keywords = new Set([
      'sum',
      'by',
      'increase',
      'rate',
      'deriv',
      'avg_over_time',
      'last_over_time',
      'max',
      'histogram_quantile',
      'le',
      'job',
      'log_sink',
      'fs_path_group',
      'cache_name',
      'cache_result',
      'file',
      'echoes',
      'api',
      'm',
    ]);
    for (const promql of Object.values(q)) {
      const names = [...promql.matchAll(/[a-z_][a-z0-9_]*/g)]
        .map((m) => m[0])
        .filter((n) => !keywords.has(n));
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) expect(known, `${n} in ${promql}`).toContain(n);
    }
    expect(q.fsOpsPerMin).toBe('sum(rate(echoes_fs_operations_total{job="echoes-api"}[5m])) * 60');
  });
  it('uses embedded names that the catalog declares', () => {
    for (const m of [METRIC.fsOperations, METRIC.logWritten, METRIC.cacheRequests]) {
      expect(CATALOG.find((c) => c.name === m)!.embedded).toBe(seriesName(m, 'embedded'));
    }
  });
});

describe('formatReport', () => {
  const report: Report = {
    source: 'embedded',
    url: 'http://127.0.0.1:9464/metrics',
    windowMs: 30_000,
    generatedAt: '2026-01-01T00:00:00Z',
    rows: evaluate(base),
  };
  it('prints an aligned text table with results', () => {
    const t = formatReport(report, 'text');
    expect(t).toMatch(/Average response time\s+1\.18 s\s+< 1\.0 s\s+0\.120 s\s+PASS/);
    expect(t).toMatch(/window 30s/);
  });
  it('closes with a verdict line', () => {
    expect(formatReport(report, 'text').trimEnd().split('\n').at(-1)).toBe(
      '5 of 5 audit targets met',
    );
    const rows = evaluate({ ...base, fsOpsPerMin: 90, httpCount: null });
    expect(verdict(rows)).toBe(
      '3 of 5 audit targets met; missed: disk i/o operations/min; 1 without data',
    );
  });
  it('prints a markdown table', () => {
    const t = formatReport(report, 'markdown');
    expect(t).toContain('| Metric | Before (audit) | Target | Measured | Result |');
    expect(t).toContain('| Cache hit rate | unknown | > 70 % | 90.0 % | PASS |');
  });
  it('prints JSON that parses back', () => {
    const j = JSON.parse(formatReport(report, 'json'));
    expect(j.rows).toHaveLength(5);
    expect(j.rows[1]).toMatchObject({ key: 'disk_io_per_min', value: 15, pass: true });
  });
});

describe('inputsSinceStart', () => {
  const e = (n: string, suffix = '') => seriesName(n, 'embedded', suffix);
  // A process that served 30 requests and 10 lookups in its first minute, then nothing.
  const page = (atMs: number, rss: number): Snapshot =>
    snap(atMs, [
      [e(METRIC.httpServerDuration, '_sum'), {}, 3],
      [e(METRIC.httpServerDuration, '_count'), {}, 30],
      [e(METRIC.fsOperations), { fs_path_group: 'sessions' }, 60],
      [e(METRIC.logWritten), { log_sink: 'file' }, 6000],
      [e(METRIC.processMemory), {}, rss],
      [e(METRIC.cacheRequests), { cache_name: 'm', cache_result: 'hit' }, 9],
      [e(METRIC.cacheRequests), { cache_name: 'm', cache_result: 'miss' }, 1],
    ]);
  const start = 1_000_000;
  const window = [page(start + 60_000, 50e6), page(start + 90_000, 50e6 + 30)];

  it('sees no traffic in a window where nothing was counted', () => {
    expect(noTraffic(inputsFromSnapshots(window))).toBe(true);
  });

  it('counts from zero at the process start, and judges memory over the window', () => {
    const life = inputsSinceStart(window, start);
    expect(noTraffic(life)).toBe(false);
    expect(life.sinceStart).toBe(true);
    expect(life.httpCount).toBe(30);
    expect(life.httpDurationSumS).toBe(3);
    // 60 operations over the 90 s the process has lived.
    expect(life.fsOpsPerMin).toBeCloseTo(40);
    expect(life.logFileBytesPerDay).toBeCloseTo(6000 * (86_400 / 90));
    expect(life.cacheRequests).toEqual({ m: { hits: 9, misses: 1 } });
    expect(life.windowS).toBe(30);
    expect(life.memory.slopeBytesPerS).toBeCloseTo(1);
    const avg = evaluate(life).find((r) => r.key === 'avg_response_time')!;
    expect(avg.detail).toMatch(/^30 requests since the process started/);
    expect(avg.value).toBeCloseTo(0.1);
  });

  it('names the header instrumentation/export/metrics.ts sets', async () => {
    const metrics = await import('../../../../instrumentation/export/metrics.js');
    expect(PROCESS_START_HEADER).toBe(metrics.PROCESS_START_HEADER);
  });
});

describe('formatReport since the process started', () => {
  it('says the figures are since the start, and why', () => {
    const text = formatReport(
      {
        source: 'embedded',
        url: 'http://127.0.0.1:9464/metrics',
        windowMs: 30_000,
        generatedAt: '2026-12-03T10:00:00.000Z',
        sinceStart: { startedAt: '2026-12-03T09:58:00.000Z', coveredMs: 120_000 },
        rows: evaluate(base),
      },
      'text',
    );
    expect(text).toMatch(
      /since the process started \(2026-12-03T09:58:00\.000Z, 2m ago\): the 30s window sampled saw no traffic/,
    );
    expect(text).toMatch(/Counted since the process started, not in the sampled window/);
  });
});
