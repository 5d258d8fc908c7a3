import { diag, DiagConsoleLogger, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { setGlobalErrorHandler, type ExportResult } from '@opentelemetry/core';
import type { DiagLevelName } from '../config/config.js';

/**
 * OTel's own diagnostics, made quiet and useful:
 *
 * | OTEL_LOG_LEVEL | DiagLogLevel |
 * |---|---|
 * | unset | WARN (so config problems and the one "collector unreachable" warning reach stderr) |
 * | none / error / warn / info / debug / verbose / all | the same level |
 *
 * Repeated identical warnings and errors (an exporter failing every few seconds) are printed once;
 * export failures are tracked per signal by `watchExporter`: one warning when exports start
 * failing, one line when they recover, and a count in between.
 */

const LEVELS: Record<DiagLevelName, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** Messages already printed at warn/error level (bounded: past it, everything passes through). */
const MAX_REMEMBERED = 512;

/** A DiagLogger that prints each distinct warning or error once (debug and below untouched). */
export function createCollapsingLogger(
  inner: DiagLogger,
): DiagLogger & { readonly suppressed: number } {
  const seen = new Set<string>();
  let suppressed = 0;
  const once =
    (level: 'error' | 'warn') =>
    (message: string, ...args: unknown[]): void => {
      // Numbers vary between otherwise identical failures (ports, counts, timings).
      const key = `${level}:${String(message).slice(0, 200).replace(/\d+/g, '#')}`;
      if (seen.has(key)) {
        suppressed++;
        return;
      }
      if (seen.size < MAX_REMEMBERED) seen.add(key);
      inner[level](message, ...args);
    };
  return {
    error: once('error'),
    warn: once('warn'),
    info: (m, ...a) => inner.info(m, ...a),
    debug: (m, ...a) => inner.debug(m, ...a),
    verbose: (m, ...a) => inner.verbose(m, ...a),
    get suppressed() {
      return suppressed;
    },
  };
}

/** Errors already reported by `watchExporter`; the global handler stays quiet about them. */
const reported = new WeakSet<object>();
/** Watched exporters currently failing: processors re-wrap their errors ("export failed"), so
 * while one is failing, export errors are already accounted for. */
let failingExporters = 0;

/**
 * Installs the diag logger (WARN unless OTEL_LOG_LEVEL says otherwise) and a global error handler
 * that routes OTel's internal errors through it, collapsed.
 */
export function setupDiag(
  level: DiagLevelName | undefined,
  logger: DiagLogger = new DiagConsoleLogger(),
): void {
  diag.setLogger(createCollapsingLogger(logger), {
    logLevel: LEVELS[level ?? 'warn'],
    suppressOverrideMessage: true,
  });
  setGlobalErrorHandler((err: unknown) => {
    try {
      if (err !== null && typeof err === 'object' && reported.has(err)) return;
      const msg =
        err instanceof Error ? err.message : typeof err === 'string' ? err : safeJson(err);
      if (failingExporters > 0 && /export/i.test(msg)) return;
      diag.error(`echoes-otel: OpenTelemetry internal error: ${msg}`);
    } catch {
      // never throw from the error handler
    }
  });
}

/**
 * register's last word when setup failed: the one warning, through a plain console logger at
 * WARN (whatever logger setup got as far as installing is replaced).
 */
export function warnDisabled(message: string): void {
  diag.setLogger(new DiagConsoleLogger(), {
    logLevel: DiagLogLevel.WARN,
    suppressOverrideMessage: true,
  });
  diag.warn(message);
}

/** The API's diag, for register (its imports of OTel packages all go through our modules). */
export { diag };

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export interface ExportHealth {
  readonly failures: number;
  readonly failing: boolean;
}

interface ExporterLike<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void;
}

/**
 * Wraps an exporter's `export` so that a failing destination gives one warning per signal ("cannot
 * export traces to …; retrying quietly"), later failures are only counted, and recovery is said
 * once. The error objects are marked so the global error handler does not repeat them.
 */
export function watchExporter<T>(
  signal: string,
  destination: string,
  exporter: ExporterLike<T>,
): ExportHealth {
  let failures = 0;
  let failing = false;
  const original = exporter.export.bind(exporter);
  exporter.export = (items: T, resultCallback: (result: ExportResult) => void): void => {
    const done = (result: ExportResult): void => {
      try {
        if (result.code !== 0) {
          failures++;
          if (result.error !== undefined) reported.add(result.error);
          if (!failing) {
            failing = true;
            failingExporters++;
            diag.warn(
              `echoes-otel: cannot export ${signal} to ${destination}: ${result.error?.message ?? 'export failed'}; ` +
                'the application is not affected, further failures are counted quietly until it recovers',
            );
          }
        } else if (failing) {
          failing = false;
          failingExporters--;
          diag.warn(
            `echoes-otel: ${signal} export to ${destination} recovered after ${failures} failed export(s)`,
          );
          failures = 0;
        }
      } catch {
        // bookkeeping must never break the export pipeline
      }
      resultCallback(result);
    };
    try {
      original(items, done);
    } catch (err) {
      done({ code: 1, error: err instanceof Error ? err : new Error(String(err)) });
    }
  };
  return {
    get failures() {
      return failures;
    },
    get failing() {
      return failing;
    },
  };
}
