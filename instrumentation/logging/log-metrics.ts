import type { Meter, ObservableResult } from '@opentelemetry/api';
import { instrumentOptions, METRIC } from '../catalog.js';
import { LOG_LEVELS } from '../config/config.js';
import type { LogLevel } from '../types.js';

/**
 * Log-growth counters, kept as plain numbers on the hot path (one `++` per record) and reported
 * through observable counters: no attribute hashing per log line. Cumulative, so they are the same
 * series whichever reader collects them (OTLP, Prometheus).
 */
export const LEVELS: readonly LogLevel[] = LOG_LEVELS;

export type LogDropReason =
  | 'truncated'
  | 'sink_error'
  | 'disk_full'
  | 'unserializable'
  | 'closed'
  // Not written to OTLP (the files have the line): the SDK's export queue was full, or the export
  // failed for good (export spool full, refused, or at shutdown). Reported from logs-sdk.ts' counts.
  | 'otlp_queue_full'
  | 'otlp_export_failed';

export interface LogStats {
  /** Records accepted, indexed like `LEVELS`. */
  readonly records: number[];
  writtenFile: number;
  writtenOtlp: number;
  rotations: number;
  readonly dropped: Map<LogDropReason, number>;
}

export function createLogStats(): LogStats {
  return {
    records: LEVELS.map(() => 0),
    writtenFile: 0,
    writtenOtlp: 0,
    rotations: 0,
    dropped: new Map(),
  };
}

export function countDropped(stats: LogStats, reason: LogDropReason, n = 1): void {
  stats.dropped.set(reason, (stats.dropped.get(reason) ?? 0) + n);
}

/** Registers the four log-growth instruments on `meter`; `stop()` detaches the callbacks. */
export function setupLogMetrics(
  meter: Meter,
  stats: () => LogStats,
  /** What the OTLP path dropped, the app's own winston records included (logs-sdk.ts). */
  otlp?: { readonly droppedQueueFull: number; readonly droppedExportFailed: number },
  /**
   * Loss reasons reported from the start, at 0 until something is lost: `increase()` does not
   * count a series' first sample, so an alert on a series born with its first loss would miss it
   * (prometheus/rules/echoes.yml: LogRecordsLost, LogRecordsNotShipped).
   */
  lossReasons: readonly LogDropReason[] = [],
): { stop(): void } {
  // `duplicates` pairs these declarations with each other and with cache-metrics.ts's: one
  // instrument per catalog row, each spelled out so a reader sees which name is which kind.
  const records = meter.createObservableCounter(
    METRIC.logRecords,
    instrumentOptions(METRIC.logRecords),
  );
  const written = meter.createObservableCounter(
    METRIC.logWritten,
    instrumentOptions(METRIC.logWritten),
  );
  const rotations = meter.createObservableCounter(
    METRIC.logRotations,
    instrumentOptions(METRIC.logRotations),
  );
  const dropped = meter.createObservableCounter(
    METRIC.logDropped,
    instrumentOptions(METRIC.logDropped),
  );
  const levelAttrs = LEVELS.map((l) => ({ 'log.level': l }));
  const fileAttrs = { 'log.sink': 'file' };
  const otlpAttrs = { 'log.sink': 'otlp' };

  const onRecords = (r: ObservableResult): void => {
    const s = stats();
    for (let i = 0; i < LEVELS.length; i++) {
      // Levels that never logged stay absent rather than exporting a zero series per level.
      if (s.records[i]! > 0) r.observe(s.records[i]!, levelAttrs[i]);
    }
  };
  const onWritten = (r: ObservableResult): void => {
    const s = stats();
    r.observe(s.writtenFile, fileAttrs);
    r.observe(s.writtenOtlp, otlpAttrs);
  };
  const onRotations = (r: ObservableResult): void => {
    r.observe(stats().rotations);
  };
  const lossAttrs = new Map(lossReasons.map((reason) => [reason, { reason }]));
  const onDropped = (r: ObservableResult): void => {
    const counts = new Map<LogDropReason, number>(stats().dropped);
    if (otlp !== undefined) {
      if (otlp.droppedQueueFull > 0) counts.set('otlp_queue_full', otlp.droppedQueueFull);
      if (otlp.droppedExportFailed > 0) counts.set('otlp_export_failed', otlp.droppedExportFailed);
    }
    for (const [reason, attrs] of lossAttrs) r.observe(counts.get(reason) ?? 0, attrs);
    for (const [reason, n] of counts) if (!lossAttrs.has(reason)) r.observe(n, { reason });
  };
  records.addCallback(onRecords);
  written.addCallback(onWritten);
  rotations.addCallback(onRotations);
  dropped.addCallback(onDropped);
  return {
    stop() {
      records.removeCallback(onRecords);
      written.removeCallback(onWritten);
      rotations.removeCallback(onRotations);
      dropped.removeCallback(onDropped);
    },
  };
}
