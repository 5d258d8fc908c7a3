import { context, diag, isSpanContextValid, trace, type Context } from '@opentelemetry/api';
import {
  SeverityNumber,
  type AnyValueMap,
  type Logger as OtelLogger,
} from '@opentelemetry/api-logs';
import { isMainThread, threadId } from 'node:worker_threads';
import { createLogFileSink, type LogFileSink } from './log-file-sink.js';
import { countDropped, createLogStats, LEVELS, type LogStats } from './log-metrics.js';
import { createRedactor, type Redactor } from '../redact.js';
import type { EchoesConfig, LogLevel } from '../types.js';
import type { OtlpLogDrops } from '../export/logs-sdk.js';

/**
 * The logger's per-line core: one configuration's sinks, redactor and counters, and `write`, which
 * turns a call into one JSON line (constant parts serialised once, metadata redacted and
 * serialised by one JSON.stringify, trace context from the active span) and hands it to the file
 * sink, the console and the OTel logger. logger.ts owns which core is active and the public API.
 */

const SEVERITY: readonly SeverityNumber[] = [
  SeverityNumber.ERROR,
  SeverityNumber.WARN,
  SeverityNumber.INFO,
  SeverityNumber.DEBUG3,
  SeverityNumber.DEBUG2,
  SeverityNumber.DEBUG,
  SeverityNumber.TRACE,
];
const SEVERITY_TEXT = LEVELS.map((l) => l.toUpperCase());
const LEVEL_PART = LEVELS.map((l) => `","level":"${l}","message":`);
const TRUNCATION_MARKER = '…[truncated]';

export interface Bindings {
  /** `,"k":v,...` or '' */
  readonly json: string;
  readonly obj: Readonly<Record<string, unknown>> | undefined;
}
export const NO_BINDINGS: Bindings = { json: '', obj: undefined };

/** Everything one configuration built: sinks, redactor, counters. Loggers write through the active one. */
export interface LogCore {
  readonly threshold: number;
  readonly level: LogLevel;
  readonly stats: LogStats;
  readonly redactor: Redactor;
  write(lvl: number, message: unknown, meta: unknown, b: Bindings): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface CoreDeps {
  readonly otelLogger?: OtelLogger | undefined;
  /** What the OTLP log path dropped (logs-sdk.ts); its queue count is read around each emit. */
  readonly otlpDrops?: OtlpLogDrops | undefined;
  readonly stdout?: (line: string) => void;
  readonly stderr?: (line: string) => void;
  readonly stats?: LogStats;
}

const warned = new Set<string>();
export function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  diag.warn(message);
}

export function levelIndex(level: LogLevel | undefined, fallback: number): number {
  const i = level === undefined ? -1 : LEVELS.indexOf(level);
  return i >= 0 ? i : fallback;
}

function stringifyMessage(m: unknown): string {
  if (typeof m === 'string') return m;
  if (m instanceof Error) return m.message;
  try {
    return typeof m === 'object' && m !== null ? JSON.stringify(m) : String(m);
  } catch {
    return String(m);
  }
}

function truncateUtf8(s: string, maxBytes: number): string {
  // Cut on a UTF-8 boundary: decode the prefix and drop a trailing partial character.
  const cut = Buffer.from(s, 'utf8').subarray(0, maxBytes).toString('utf8');
  return (cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut) + TRUNCATION_MARKER;
}

export function createCore(config: EchoesConfig, deps: CoreDeps): LogCore {
  const stats = deps.stats ?? createLogStats();
  const threshold = levelIndex(config.logs.level, 2);
  const maxMessageBytes = config.logs.maxMessageBytes;
  const serviceJson = `,"service.name":${JSON.stringify(config.serviceName)}`;
  const redactor = createRedactor(config.redaction.keys, {
    // Metadata strings get the message's bound too, so no field turns one line into megabytes.
    maxStringChars: maxMessageBytes,
    onTruncated: () => {
      countDropped(stats, 'truncated');
      warnOnce(
        'truncated-meta',
        `echoes-otel: a log metadata string exceeded ECHOES_LOG_MAX_MESSAGE_BYTES (${maxMessageBytes}) and was truncated (counted in echoes.log.dropped{reason=truncated})`,
      );
    },
    onUnserializable: (kind) => {
      countDropped(stats, 'unserializable');
      warnOnce(
        `meta:${kind}`,
        `echoes-otel: log metadata held a ${kind.replace('_', ' ')} value; it was replaced so the line could be written (counted in echoes.log.dropped{reason=unserializable})`,
      );
    },
  });
  const stdout = config.logs.console
    ? (deps.stdout ?? ((l: string) => process.stdout.write(l)))
    : undefined;
  const stderr = deps.stderr ?? ((l: string) => process.stderr.write(l));
  const otel = config.logs.exporter === 'none' ? undefined : deps.otelLogger;
  const otlpDrops = deps.otlpDrops;

  let sink: LogFileSink | undefined;
  // Worker threads write no files: a second rotator on the same files would rotate and prune
  // the main thread's files under it (DRF keeps its state per instance). Their lines go to the
  // console, or to stderr when console output is off.
  const workerFallback =
    config.logs.file.enabled && !isMainThread && stdout === undefined ? stderr : undefined;
  if (config.logs.file.enabled && !isMainThread) {
    warnOnce(
      'worker',
      `echoes-otel: the logger in worker thread ${threadId} does not write log files (only the main thread does); its lines go to ${stdout ? 'stdout' : 'stderr'}`,
    );
  } else if (config.logs.file.enabled) {
    sink = createLogFileSink({
      dir: config.logs.file.dir,
      name: config.logs.file.name,
      maxBytes: config.logs.file.maxBytes,
      backupCount: config.logs.file.backupCount,
      gzip: config.logs.file.gzip,
      // With console output on, the console already has every line; otherwise keep them on stderr.
      fallback: stdout ? undefined : stderr,
      onWritten: (n) => (stats.writtenFile += n),
      onRotate: () => stats.rotations++,
      onDropped: (reason, n) => countDropped(stats, reason, n),
      warn: (m) => diag.warn(m),
    });
  }

  let lastMs = 0;
  let lastIso = '';

  function write(lvl: number, message: unknown, meta: unknown, b: Bindings): void {
    try {
      stats.records[lvl]!++;
      let msg = typeof message === 'string' ? message : stringifyMessage(message);
      if (msg.length * 3 > maxMessageBytes && Buffer.byteLength(msg) > maxMessageBytes) {
        msg = truncateUtf8(msg, maxMessageBytes);
        countDropped(stats, 'truncated');
        warnOnce(
          'truncated',
          `echoes-otel: a log message exceeded ECHOES_LOG_MAX_MESSAGE_BYTES (${maxMessageBytes} bytes) and was truncated (counted in echoes.log.dropped{reason=truncated})`,
        );
      }
      msg = redactor.redactString(msg);

      let m: Record<string, unknown> | undefined;
      if (meta !== undefined && meta !== null) {
        const shaped =
          typeof meta !== 'object' || Array.isArray(meta)
            ? { meta }
            : meta instanceof Error
              ? { error: meta }
              : meta;
        m = redactor.redactValue(shaped) as Record<string, unknown>;
      }
      let metaJson = '';
      if (m !== undefined) {
        let s: string;
        try {
          s = JSON.stringify(m);
        } catch {
          countDropped(stats, 'unserializable');
          warnOnce(
            'meta:stringify',
            'echoes-otel: log metadata could not be serialised (a throwing toJSON?); it was replaced by "[Unserializable]"',
          );
          s = '{"meta":"[Unserializable]"}';
          m = { meta: '[Unserializable]' };
        }
        if (typeof s !== 'string') {
          // A toJSON that returned undefined: nothing to write.
          s = '{}';
          m = undefined;
        } else if (s.charCodeAt(0) !== 123 /* { */) {
          // Not an object once serialised (a Date, a toJSON returning a string): keep it under
          // one key so the line stays one JSON object.
          s = `{"meta":${s}}`;
          m = { meta: m };
        }
        if (s.length > 2) metaJson = `,${s.slice(1, -1)}`;
      }

      const ctx: Context = context.active();
      let traceJson = '';
      const span = trace.getSpan(ctx);
      if (span !== undefined) {
        const sc = span.spanContext();
        if (isSpanContextValid(sc))
          traceJson = `,"trace_id":"${sc.traceId}","span_id":"${sc.spanId}"`;
      }
      const now = Date.now();
      if (now !== lastMs) {
        lastMs = now;
        lastIso = new Date(now).toISOString();
      }
      const line = `{"timestamp":"${lastIso}${LEVEL_PART[lvl]}${JSON.stringify(msg)}${serviceJson}${traceJson}${b.json}${metaJson}}\n`;
      if (sink !== undefined) sink.write(line);
      else if (workerFallback !== undefined) workerFallback(line);
      if (stdout !== undefined) stdout(line);
      if (otel !== undefined) {
        let attributes: AnyValueMap | undefined;
        if (b.obj !== undefined)
          attributes =
            m !== undefined ? ({ ...b.obj, ...m } as AnyValueMap) : (b.obj as AnyValueMap);
        else if (m !== undefined) attributes = m as AnyValueMap;
        const refusedBefore = otlpDrops?.droppedQueueFull;
        otel.emit({
          timestamp: now,
          severityNumber: SEVERITY[lvl]!,
          severityText: SEVERITY_TEXT[lvl]!,
          body: msg,
          attributes,
          context: ctx,
        });
        if (otlpDrops !== undefined && otlpDrops.droppedQueueFull !== refusedBefore) {
          // Counted by the processor (echoes.log.dropped{reason=otlp_queue_full}); the files have it.
          warnOnce(
            'otlp-queue-full',
            'echoes-otel: the OTLP log export queue is full (a burst faster than the exporter); records past it are not shipped over OTLP (the log files keep every line); counted in echoes.log.dropped{reason=otlp_queue_full}',
          );
        } else {
          // Approximate: the JSON line's length stands in for the bytes the exporter will encode.
          stats.writtenOtlp += line.length;
        }
      }
    } catch (err) {
      countDropped(stats, 'sink_error');
      warnOnce(
        'write',
        `echoes-otel: a log record could not be written (${(err as Error)?.message}); counted in echoes.log.dropped{reason=sink_error}`,
      );
    }
  }

  return {
    threshold,
    level: LEVELS[threshold]!,
    stats,
    redactor,
    write,
    flush: () => sink?.flush() ?? Promise.resolve(),
    close: () => sink?.close() ?? Promise.resolve(),
  };
}

/** Test seam (resetLoggingForTests): warn again about what was already warned once. */
export function forgetWarnings(): void {
  warned.clear();
}
