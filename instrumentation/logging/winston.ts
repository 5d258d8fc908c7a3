import { diag } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { WinstonInstrumentation } from '@opentelemetry/instrumentation-winston';
import { createRequire } from 'node:module';
import { createRedactor, type Redactor } from '../redact.js';
import type { EchoesConfig } from '../types.js';

/**
 * Winston loggers the APP creates (`winston.createLogger(...)`, ESM or CJS) get trace correlation
 * (`trace_id`, `span_id`, `trace_flags` on every record inside a span) and are shipped over OTLP
 * through `@opentelemetry/winston-transport`, which instrumentation-winston appends to each
 * logger's transports when the logger is configured. The transport emits to the GLOBAL
 * LoggerProvider, so the SDK must have registered one.
 *
 * Redaction: the transport's `log` is wrapped once so the record it turns into an OTLP log record
 * is redacted first (copy-on-write: the app's other transports see their record unchanged).
 *
 * Exactly once: our own logger (logger.ts) never goes through winston's Logger, so this
 * instrumentation never appends a second OTLP path to it; app loggers get exactly one transport
 * (instrumentation-winston adds it in `configure`, which runs once per logger unless the app calls
 * `configure` again, in which case the transport list is replaced, not extended).
 */
const require = createRequire(import.meta.url);
const PATCHED = Symbol.for('echoes-otel.winston-transport.redacted');

interface TransportProto {
  log(info: unknown, callback?: () => void): void;
  [PATCHED]?: { redactor: Redactor };
}

function patchTransportRedaction(redactor: Redactor): void {
  try {
    // The very module instrumentation-winston loads: a direct dependency of ours, pinned to the
    // version it wants and so hoisted beside it (and one module in the bundle).
    const mod = require('@opentelemetry/winston-transport') as {
      OpenTelemetryTransportV3: { prototype: TransportProto };
    };
    const proto = mod.OpenTelemetryTransportV3.prototype;
    const state = proto[PATCHED];
    if (state) {
      // Already wrapped (a second SDK start in this process): use the newest keys.
      state.redactor = redactor;
      return;
    }
    const holder = { redactor };
    const original = proto.log;
    proto.log = function redactedLog(this: unknown, info: unknown, callback?: () => void): void {
      let safe = info;
      try {
        safe = holder.redactor.redactValue(info);
      } catch {
        // ship unredacted rather than throw into the app's logger? No: drop the fields instead.
        safe = { level: (info as { level?: unknown })?.level, message: '[unredactable record]' };
      }
      return original.call(this, safe, callback);
    };
    Object.defineProperty(proto, PATCHED, { value: holder, enumerable: false });
  } catch (err) {
    diag.warn(
      `echoes-otel: could not install redaction on @opentelemetry/winston-transport (${(err as Error)?.message}); app winston records are not shipped over OTLP`,
    );
    throw err;
  }
}

export function createWinstonInstrumentation(config: EchoesConfig): Instrumentation {
  let sending = config.logs.exporter !== 'none';
  if (sending) {
    try {
      patchTransportRedaction(createRedactor(config.redaction.keys));
    } catch {
      // Without redaction we must not ship: keep correlation only.
      sending = false;
    }
  }
  return new WinstonInstrumentation({
    disableLogSending: !sending,
    disableLogCorrelation: false,
  });
}
