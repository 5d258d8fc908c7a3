import { diag, type Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  ConsoleSpanExporter,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ExportControl } from './export-transport.js';
import { chooseExporter, spooled } from './otlp-exporters.js';
import { SpanBatchProcessor } from './span-batch-processor.js';
import { createIdGenerator } from './span-ids.js';
import { useSpanSerializer } from './span-serializer.js';
import { LeanTracerProvider } from './tracer-lean.js';
import type { Redactor } from '../redact.js';
import type { EchoesConfig } from '../types.js';

/**
 * Tracer provider: sampler from config, a bounded batch processor, and the exporter the config
 * names (loaded on demand: an app that exports nothing does not pay for the protobuf encoder;
 * the OTLP factory is otlp-exporters.ts, shared by the three signals).
 * Spans are redacted on their way to the exporter, so no secret reaches OTLP or the console.
 */

// `duplicates` pairs this switch with propagators.ts's: each maps a configured name to its class.
export function createSampler(name: string, arg: number | undefined): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(arg ?? 1);
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

// `duplicates` pairs it with logs-sdk.ts's createLogExporter: both only call the shared
// chooseExporter with the signal's own console exporter and spool types.
function createSpanExporter(
  config: EchoesConfig,
  control?: ExportControl,
): SpanExporter | undefined {
  return chooseExporter<SpanExporter>(
    'traces',
    config.traces,
    control,
    () => new ConsoleSpanExporter(),
    (otlp) => {
      // Protobuf (http or gRPC) through our one-pass encoder (span-serializer.ts); JSON stays
      // upstream's.
      if (config.traces.otlp.protocol !== 'http/json' && !useSpanSerializer(otlp))
        diag.debug('echoes-otel: spans are encoded by upstream (unknown exporter internals)');
      return spooled<ReadableSpan, SpanExporter>(otlp, config, 'spans', control);
    },
  );
}

/**
 * A view of the span with redacted attributes and event attributes. The span itself is left alone
 * (other processors may still read it); nothing is allocated when nothing needs redacting.
 */
export function redactSpan(span: ReadableSpan, redactor: Redactor): ReadableSpan {
  const attributes = redactor.redactAttributes(span.attributes);
  let events = span.events;
  for (let i = 0; i < span.events.length; i++) {
    const e = span.events[i]!;
    if (e.attributes === undefined) continue;
    const ra = redactor.redactAttributes(e.attributes);
    if (ra !== e.attributes) {
      if (events === span.events) events = [...span.events];
      (events as (typeof span.events)[number][])[i] = { ...e, attributes: ra as Attributes };
    }
  }
  if (attributes === span.attributes && events === span.events) return span;
  return Object.create(span, {
    attributes: { value: attributes, enumerable: true },
    events: { value: events, enumerable: true },
  }) as ReadableSpan;
}

/** Redacts spans in `export`, the one place every exported span passes. */
export function redactingExporter(inner: SpanExporter, redactor: Redactor): SpanExporter {
  const original = inner.export.bind(inner);
  inner.export = (spans, cb) => {
    let out: ReadableSpan[] = spans;
    try {
      out = spans.map((s) => redactSpan(s, redactor));
    } catch {
      // A redaction bug must not leak: drop the batch rather than export it unredacted.
      cb({ code: 1, error: new Error('echoes-otel: span redaction failed; batch dropped') });
      return;
    }
    original(out, cb);
  };
  return inner;
}

// `duplicates` pairs its opening with metrics.ts's createMeterProvider: each signal's provider over
// its own SDK classes; what they share (the exporter choice, the spool) is in otlp-exporters.ts.
export function createTracerProvider(
  config: EchoesConfig,
  resource: Resource,
  redactor: Redactor,
  control?: ExportControl,
): NodeTracerProvider {
  const spanProcessors: SpanProcessor[] = [];
  const exporter = createSpanExporter(config, control);
  if (exporter !== undefined) {
    spanProcessors.push(
      // Redacted before the spool: a held span is already clean.
      // The SDK's batch contract without its closure per span end (span-batch-processor.ts).
      new SpanBatchProcessor(redactingExporter(exporter, redactor), {
        // Bounded: with the collector down, memory stays capped; spans past the bound are dropped.
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 1000,
        exportTimeoutMillis: config.traces.otlp.timeoutMs,
      }),
    );
  }
  // The SDK's provider (env span limits, register, flush, shutdown) whose tracers build our
  // leaner spans (tracer-lean.ts, span-lean.ts); ids from a pooled crypto buffer (span-ids.ts).
  return new LeanTracerProvider({
    resource,
    sampler: createSampler(config.traces.sampler, config.traces.samplerArg),
    idGenerator: createIdGenerator(),
    spanProcessors,
  });
}
