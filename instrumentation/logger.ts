import { context, diag, isSpanContextValid, trace, type Context } from '@opentelemetry/api';
import {
  logs,
  SeverityNumber,
  type AnyValueMap,
  type Logger as OtelLogger,
  type LoggerProvider,
} from '@opentelemetry/api-logs';
import { loadConfig } from './config.js';
import type { Feature, SetupContext } from './feature.js';
import { isMainThread, threadId } from 'node:worker_threads';
import { createLogFileSink, type LogFileSink } from './log-file-sink.js';
import {
  countDropped,
  createLogStats,
  LEVELS,
  setupLogMetrics,
  type LogDropReason,
  type LogStats,
} from './log-metrics.js';
import { createRedactor, type Redactor } from './redact.js';
import type { EchoesConfig, LogLevel } from './types.js';
import type { OtlpLogDrops } from './logs-sdk.js';

/**
 * The structured logger: one JSON line per record
 * `{"timestamp","level","message","service.name","trace_id","span_id",...metadata}` to rotated
 * files (log-file-sink.ts, winston-daily-rotate-file underneath), optionally the console, and once
 * to the OTel LoggerProvider (the OTLP exporter fills trace/span ids from the active context).
 *
 * The per-line path is pino-shaped, not winston's logform chain (bench/logger.mjs measures both):
 * the level is one integer compare; constant parts (level, service name, child bindings) are
 * serialised once; the metadata is redacted copy-on-write and serialised by one JSON.stringify;
 * files get lines batched into 64 KiB writes; metrics are plain `++` read by observable counters.
 */
export interface EchoesLogger {
  error(message: string, meta?: object): void;
  warn(message: string, meta?: object): void;
  info(message: string, meta?: object): void;
  http(message: string, meta?: object): void;
  verbose(message: string, meta?: object): void;
  debug(message: string, meta?: object): void;
  silly(message: string, meta?: object): void;
  /** A logger whose records all carry `meta` (serialised once, here). */
  child(meta: object): EchoesLogger;
  /** The level in force (the active configuration's `logs.level`, or this logger's own). */
  readonly level: LogLevel;
}

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

interface Bindings {
  /** `,"k":v,...` or '' */
  readonly json: string;
  readonly obj: Readonly<Record<string, unknown>> | undefined;
}
const NO_BINDINGS: Bindings = { json: '', obj: undefined };

/** Everything one configuration built: sinks, redactor, counters. Loggers write through the active one. */
interface LogCore {
  readonly threshold: number;
  readonly level: LogLevel;
  readonly stats: LogStats;
  readonly redactor: Redactor;
  write(lvl: number, message: unknown, meta: unknown, b: Bindings): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface CoreDeps {
  readonly otelLogger?: OtelLogger | undefined;
  /** What the OTLP log path dropped (logs-sdk.ts); its queue count is read around each emit. */
  readonly otlpDrops?: OtlpLogDrops | undefined;
  readonly stdout?: (line: string) => void;
  readonly stderr?: (line: string) => void;
  readonly stats?: LogStats;
}

const warned = new Set<string>();
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  diag.warn(message);
}

function levelIndex(level: LogLevel | undefined, fallback: number): number {
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

function createCore(config: EchoesConfig, deps: CoreDeps): LogCore {
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

// ---- the active core: set by setupLogging (preload), else built lazily on first use.
let active: LogCore | undefined;
let lazyFailed = false;

function lazyCore(): LogCore | undefined {
  if (active !== undefined || lazyFailed) return active;
  try {
    const { config } = loadConfig();
    // No SDK here: only a LoggerProvider someone registered globally (else the no-op one).
    active = createCore(config, { otelLogger: logs.getLogger('echoes-otel') });
  } catch (err) {
    lazyFailed = true;
    warnOnce(
      'lazy',
      `echoes-otel: the logger could not start (${(err as Error)?.message}); log calls are ignored`,
    );
  }
  return active;
}

function makeLogger(b: Bindings, ownThreshold: number | undefined): EchoesLogger {
  const at = (lvl: number) =>
    function log(message: string, meta?: object): void {
      const core = active ?? lazyCore();
      if (core === undefined || lvl > (ownThreshold ?? core.threshold)) return;
      core.write(lvl, message, meta, b);
    };
  return {
    error: at(0),
    warn: at(1),
    info: at(2),
    http: at(3),
    verbose: at(4),
    debug: at(5),
    silly: at(6),
    child(meta: object): EchoesLogger {
      return makeLogger(bind(b, meta), ownThreshold);
    },
    get level(): LogLevel {
      if (ownThreshold !== undefined) return LEVELS[ownThreshold]!;
      return (active ?? lazyCore())?.level ?? 'info';
    },
  };
}

function bind(parent: Bindings, meta: object | undefined): Bindings {
  if (meta === undefined || meta === null || typeof meta !== 'object') return parent;
  try {
    const core = active ?? lazyCore();
    const red = (core ? core.redactor.redactValue(meta) : meta) as Record<string, unknown>;
    const s = JSON.stringify(red);
    // Bindings must be an object once serialised (not a Date or a toJSON string): else ignore them.
    if (typeof s !== 'string' || s.charCodeAt(0) !== 123) return parent;
    const json = s.length > 2 ? `${parent.json},${s.slice(1, -1)}` : parent.json;
    return { json, obj: { ...parent.obj, ...red } };
  } catch {
    return parent;
  }
}

/** The default logger: `import { logger } from 'echoes-otel'`, with or without the preload. */
export const logger: EchoesLogger = makeLogger(NO_BINDINGS, undefined);

/**
 * A named logger: `name` becomes the `logger.name` field; `level` overrides the configured level
 * for this logger only, in either direction (e.g. `debug` for one noisy module while the rest
 * stays at `info`).
 */
export function createLogger(
  options: { name?: string; level?: LogLevel; meta?: object } = {},
): EchoesLogger {
  const meta =
    options.name !== undefined ? { 'logger.name': options.name, ...options.meta } : options.meta;
  const own = options.level !== undefined ? levelIndex(options.level, 2) : undefined;
  return makeLogger(bind(NO_BINDINGS, meta), own);
}

/**
 * Registers the logger with the started SDK (sdk.ts calls this): sinks from `ctx.config`, OTLP
 * records to `ctx.loggerProvider`, log-growth metrics on `ctx.meter`. Never throws.
 */
export function setupLogging(ctx: SetupContext, deps: Omit<CoreDeps, 'otelLogger'> = {}): Feature {
  try {
    const provider: LoggerProvider = ctx.loggerProvider;
    const previous = active;
    // Counters continue across a switch from the lazy logger, so nothing counted is lost.
    const core = createCore(ctx.config, {
      ...deps,
      stats: deps.stats ?? previous?.stats,
      otelLogger: provider.getLogger('echoes-otel'),
      otlpDrops: ctx.otlpLogDrops,
    });
    active = core;
    if (previous !== undefined) void previous.close().catch(() => undefined);
    // The callbacks stay registered: counters report until the meter provider shuts down.
    try {
      const otlpDrops = ctx.otlpLogDrops;
      // The reasons that mean a line is missing somewhere are reported from the start (0).
      const lossReasons: LogDropReason[] = [
        ...(ctx.config.logs.file.enabled ? (['sink_error', 'disk_full'] as const) : []),
        ...(otlpDrops !== undefined ? (['otlp_queue_full', 'otlp_export_failed'] as const) : []),
      ];
      setupLogMetrics(ctx.meter, () => core.stats, otlpDrops, lossReasons);
    } catch (err) {
      warnOnce('metrics', `echoes-otel: log metrics unavailable (${(err as Error)?.message})`);
    }
    return {
      name: 'logging',
      flush: () => core.flush().catch(() => undefined),
      shutdown: async () => {
        try {
          await core.close();
        } catch {
          // never throw from shutdown
        }
      },
    };
  } catch (err) {
    warnOnce(
      'setup',
      `echoes-otel: structured logging could not start (${(err as Error)?.message}); log calls are ignored`,
    );
    return { name: 'logging', shutdown: () => undefined };
  }
}

/**
 * Without the preload, the logger built itself lazily and nothing owns its files: write out and
 * close them (`shutdownEchoes()` calls this when no SDK was started). Loggers used afterwards
 * build a fresh core on their next line. Never rejects.
 */
export async function closeStandaloneLogging(): Promise<void> {
  const core = active;
  if (core === undefined) return;
  active = undefined;
  try {
    await core.close();
  } catch {
    // the sink reports its own errors; closing never throws to the app
  }
}

/** Test seam: forget the active core (unit tests that build several configurations). */
export function resetLoggingForTests(): void {
  active = undefined;
  lazyFailed = false;
  warned.clear();
}
