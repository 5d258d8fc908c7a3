/** The shapes `echoes-otel report` passes between its sources, checks and printing (report.ts re-exports them). */
import type { ModelCallStats } from './report-model.js';

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
