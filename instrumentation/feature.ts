import type {
  Attributes,
  Meter,
  MeterProvider,
  SpanContext,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import type { LoggerProvider } from '@opentelemetry/api-logs';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import type { EchoesConfig } from './types.js';
import type { OtlpLogDrops } from './export/logs-sdk.js';

/**
 * What `sdk.ts` hands each feature module (http, logger, cache, fs, dirs, runtime) when it starts
 * it. Feature modules never reach for globals themselves, so unit tests pass in-memory providers.
 */
export interface SetupContext {
  readonly config: EchoesConfig;
  readonly meterProvider: MeterProvider;
  readonly meter: Meter;
  readonly tracerProvider: TracerProvider;
  readonly tracer: Tracer;
  readonly loggerProvider: LoggerProvider;
  /** What the OTLP log path dropped: full queue, failed exports (undefined: no OTLP logs). */
  readonly otlpLogDrops?: OtlpLogDrops | undefined;
  /** Hot-path metrics (HTTP, fs): pre-bound attribute sets, exported through `producer`. */
  readonly fastMetrics: FastMetrics;
}

/** A started feature. `shutdown` must never throw and must finish within the deadline it gets. */
export interface Feature {
  readonly name: string;
  /** Flush buffered work (log files, pending measurements). */
  flush?(): Promise<void>;
  shutdown(): Promise<void> | void;
}

/**
 * Cheap counters and histograms for hot paths (implemented in `fast-metrics.ts`): the attribute
 * set is bound once, so a record is a few array writes, not an attribute hash per call. Data is
 * cumulative and reaches every metric reader through `producer` (sdk.ts passes it to the OTLP
 * reader and the Prometheus exporter as a `metricProducers` entry), under the SDK's resource.
 */
export interface FastMetrics {
  readonly producer: MetricProducer;
  counter(name: string, opts: { unit: string; description: string }): FastCounter;
  histogram(
    name: string,
    opts: { unit: string; description: string; boundaries: readonly number[] },
  ): FastHistogram;
}

export interface FastCounter {
  /** Bind an attribute set once; binding the same set again returns the same slot. */
  bind(attributes: Attributes): BoundCounter;
}
export interface BoundCounter {
  add(value: number): void;
}
export interface FastHistogram {
  bind(attributes: Attributes): BoundHistogram;
}
export interface BoundHistogram {
  /**
   * `span`: the span the measurement belongs to (an `@opentelemetry/api` Span). When it is
   * sampled, the value may become its bucket's exemplar for this collection interval, carrying
   * the span's trace and span id. Omit it (or pass undefined) when there is none: no cost then.
   */
  record(value: number, span?: ExemplarSpan): void;
}
/** What an exemplar needs from a span: its context (`Span` from @opentelemetry/api has it). */
export interface ExemplarSpan {
  spanContext(): SpanContext;
}
