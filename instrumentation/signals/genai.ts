import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { logs, type Logger, type LoggerProvider, type LogRecord } from '@opentelemetry/api-logs';
import type { FastMetrics } from '../feature.js';
import { createRedactor, type Redactor } from '../redact.js';
import { createGenAiMetric } from './genai-metrics.js';
import { OpenAIInstrumentation } from './genai-openai.js';
import type { EchoesConfig } from '../types.js';

/**
 * The `openai` client (v4 to v6, any OpenAI-compatible baseURL) through our own instrumentation
 * (genai-openai.ts; upstream's instrumentation-openai made the same spans at several times the
 * cost, docs/performance.md): a `chat {model}` / `embeddings {model}` client span with
 * gen_ai.operation.name, gen_ai.request.model, gen_ai.response.model, gen_ai.usage.*_tokens and
 * error.type, and the gen_ai.client.operation.duration and gen_ai.client.token.usage histograms
 * through fast-metrics (genai-metrics.ts), so they carry exemplars.
 * Streams get their usage from the final chunk when the request asks for it
 * (`stream_options: { include_usage: true }`); we do not add that option to the app's request
 * (it adds a chunk with no choices the app may not expect).
 *
 * Content: prompts and completions are log events, emitted only when
 * `config.genai.captureContent` (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT), and then
 * redacted with the configured keys and credential patterns before any exporter sees them;
 * without it, no event at all. The API key is never read by the instrumentation (it reads the
 * model, the response and the server address only); spans are redacted on export anyway
 * (traces.ts).
 *
 * This module is required by the `openai` stand-in of libraries.ts when the app loads `openai`
 * (bundled, a require of our module is a lazy init): an app that never loads it pays nothing.
 */

interface Providers {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  loggerProvider?: LoggerProvider;
  /** When given, the GenAI metrics are recorded through it (with exemplars). */
  fastMetrics?: FastMetrics;
}

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

/** Our openai instrumentation, handed our providers and the content setting. */
export function createGenAiInstrumentation(
  config: EchoesConfig,
  p: Providers,
): OpenAIInstrumentation {
  const capture = config.genai.captureContent;
  const i = new OpenAIInstrumentation(createGenAiMetric(p), { captureMessageContent: capture });
  if (p.tracerProvider !== undefined) i.setTracerProvider(p.tracerProvider);
  // Without content capture it never emits: no logger provider is set at all. With it, the
  // instrumentation's own fallback (the global provider) would not redact: ours always does.
  if (capture) {
    i.setLoggerProvider(
      redactingLoggerProvider(
        p.loggerProvider ?? logs.getLoggerProvider(),
        createRedactor(config.redaction.keys),
      ),
    );
  }
  return i;
}
