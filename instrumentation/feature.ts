import type { Meter, MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import type { LoggerProvider } from '@opentelemetry/api-logs';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import type { EchoesConfig } from './types.js';

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
}

/** A started feature. `shutdown` must never throw and must finish within the deadline it gets. */
export interface Feature {
  readonly name: string;
  /** Flush buffered work (log files, pending measurements). */
  flush?(): Promise<void>;
  shutdown(): Promise<void> | void;
}

/**
 * Features that export metrics through their own aggregation (the HTTP hot path) expose a
 * MetricProducer, which `sdk.ts` gives to every metric reader (OTLP and Prometheus) at creation.
 */
export interface ProducerFeatureFactory {
  readonly producer: MetricProducer | undefined;
  start(ctx: SetupContext): Feature;
}
