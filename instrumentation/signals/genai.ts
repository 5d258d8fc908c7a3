import { createRequire } from 'node:module';
import {
  createNoopMeter,
  trace,
  type Meter,
  type MeterProvider,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  createNoopLogger,
  type Logger,
  type LoggerProvider,
  type LogRecord,
} from '@opentelemetry/api-logs';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { FastMetrics } from '../feature.js';
import { createRedactor, type Redactor } from '../redact.js';
import type * as GenAiMetricsModule from './genai-metrics.js';
import type { EchoesConfig } from '../types.js';
import type * as OpenAIModule from '@opentelemetry/instrumentation-openai';

/**
 * The `openai` client (v4 to v6, any OpenAI-compatible baseURL) through
 * @opentelemetry/instrumentation-openai: a `chat {model}` / `embeddings {model}` client span with
 * gen_ai.operation.name, gen_ai.request.model, gen_ai.response.model, gen_ai.usage.*_tokens and
 * error.type. The gen_ai.client.operation.duration and gen_ai.client.token.usage histograms are
 * recorded from those spans through fast-metrics (genai-metrics.ts), so they carry exemplars; the
 * instrumentation's own instruments get a no-op meter, so no call is counted twice.
 * Streams get their usage from the final chunk when the request asks for it
 * (`stream_options: { include_usage: true }`); we do not add that option to the app's request
 * (it adds a chunk with no choices the app may not expect).
 *
 * Content: prompts and completions are log events, emitted only when
 * `config.genai.captureContent` (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT), and then
 * redacted with the configured keys and credential patterns before any exporter sees them
 * (without it, the instrumentation's content-less events are not emitted at all).
 * The API key is never put on a span or metric by the instrumentation (it reads the model, the
 * response and the server address only); spans are redacted on export anyway (traces.ts).
 */

const require = createRequire(import.meta.url);

interface Providers {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  loggerProvider?: LoggerProvider;
  /** When given, the GenAI metrics come from the spans through it (with exemplars). */
  fastMetrics?: FastMetrics;
}

const NOOP_METER = createNoopMeter();

/** A logger provider whose records are redacted (body and attributes) before they are emitted. */
export function redactingLoggerProvider(lp: LoggerProvider, redactor: Redactor): LoggerProvider {
  return {
    getLogger(name, version, options): Logger {
      const inner = lp.getLogger(name, version, options);
      return {
        emit(record: LogRecord): void {
          let safe: LogRecord;
          try {
            safe = {
              ...record,
              body: redactor.redactValue(record.body) as LogRecord['body'],
              ...(record.attributes !== undefined
                ? {
                    attributes: redactor.redactValue(record.attributes) as LogRecord['attributes'],
                  }
                : {}),
            };
          } catch {
            // Unredactable: emit nothing rather than the content.
            return;
          }
          inner.emit(safe);
        },
        enabled: (o) => inner.enabled?.(o) ?? true,
      };
    },
  };
}

/**
 * `withMetrics` is genai-metrics.ts' wrapper, handed in by the library stand-in that requires it
 * when `openai` loads (bundled, a require of our module is a lazy init: an app that never loads
 * `openai` does not evaluate it). Without it, or without fast metrics, upstream records its own.
 */
export function createGenAiInstrumentation(
  config: EchoesConfig,
  p: Providers,
  withMetrics?: typeof GenAiMetricsModule.withGenAiClientMetrics,
): Instrumentation {
  const { OpenAIInstrumentation } =
    require('@opentelemetry/instrumentation-openai') as typeof OpenAIModule;
  const fast = p.fastMetrics;
  let i: InstanceType<typeof OpenAIInstrumentation>;
  if (fast !== undefined && withMetrics !== undefined) {
    const metered = fast;
    const withGenAiClientMetrics = withMetrics;
    // Its instruments are created from `this.meter` (constructor and every setMeterProvider):
    // a no-op meter there, whichever meter provider it is handed, leaves the metrics to ours.
    // Its spans make the metrics: every tracer provider it is handed is wrapped.
    class SpanMeteredOpenAI extends OpenAIInstrumentation {
      protected override get meter(): Meter {
        return NOOP_METER;
      }
      override setTracerProvider(tp: TracerProvider): void {
        super.setTracerProvider(withGenAiClientMetrics(tp, metered));
      }
    }
    i = new SpanMeteredOpenAI();
    // The constructor took the global tracer unwrapped.
    if (p.tracerProvider === undefined) i.setTracerProvider(trace.getTracerProvider());
  } else {
    i = new OpenAIInstrumentation();
  }
  // Its constructor reads OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT itself; our config has
  // read the same variable (and code options may override it): ours decides.
  i.setConfig({ captureMessageContent: config.genai.captureContent });
  if (p.tracerProvider !== undefined) i.setTracerProvider(p.tracerProvider);
  if (p.meterProvider !== undefined) i.setMeterProvider(p.meterProvider);
  if (!config.genai.captureContent) {
    // Without content, its events (one per message and per choice, bodies empty) say nothing the
    // span does not: not emitted, so a model call costs no log records. Set explicitly, or the
    // instrumentation would fall back to the global logger provider (ours).
    i.setLoggerProvider({ getLogger: () => createNoopLogger() });
  } else if (p.loggerProvider !== undefined) {
    i.setLoggerProvider(
      redactingLoggerProvider(p.loggerProvider, createRedactor(config.redaction.keys)),
    );
  }
  return i;
}
