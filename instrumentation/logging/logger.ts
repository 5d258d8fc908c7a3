import { logs, type LoggerProvider } from '@opentelemetry/api-logs';
import { loadConfig } from '../config/config.js';
import type { Feature, SetupContext } from '../feature.js';
import {
  createCore,
  forgetWarnings,
  levelIndex,
  NO_BINDINGS,
  warnOnce,
  type Bindings,
  type CoreDeps,
  type LogCore,
} from './log-core.js';
import { LEVELS, setupLogMetrics, type LogDropReason } from './log-metrics.js';
import type { LogLevel } from '../types.js';

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
 *
 * The per-line core (formatting, sinks) is log-core.ts; this module keeps the public loggers and
 * which core they write through: the preload's (setupLogging) or one built lazily on first use.
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
  forgetWarnings();
}
