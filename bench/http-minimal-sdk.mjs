// Bench preload used before the real register existed, and kept for the step decomposition: the
// stock SDK pipelines (batch span processor, periodic metric reader, batch log processor, all
// OTLP http/protobuf) with our diagnostics-channel HTTP module and fast metrics. BENCH_STEP:
//   metrics  histogram + context activation only (sampler always_off: spans are non-recording)
//   spans    + server spans sampled 100 %, ended into a processor that drops them (no export)
//   full     traces sampled 100 %, metrics and logs exported (default)
import { context, propagation, trace, metrics } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { LoggerProvider, BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  BasicTracerProvider,
} from '@opentelemetry/sdk-trace-base';
import { createFastMetrics } from '../dist/instrumentation/signals/fast-metrics.js';
import { setupHttp } from '../dist/instrumentation/signals/http.js';

const step = process.env.BENCH_STEP ?? 'full';
const base = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://127.0.0.1:4318';
const resource = resourceFromAttributes({ 'service.name': 'bench-http' });

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const tracerProvider = new BasicTracerProvider({
  resource,
  sampler: step === 'metrics' ? new AlwaysOffSampler() : new AlwaysOnSampler(),
  spanProcessors: [
    step === 'spans'
      ? { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} }
      : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })),
  ],
});
trace.setGlobalTracerProvider(tracerProvider);
const fastMetrics = createFastMetrics({ cardinalityLimit: 2000 });
const meterProvider = new MeterProvider({
  resource,
  readers: [
    new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
      exportIntervalMillis: Number(process.env.OTEL_METRIC_EXPORT_INTERVAL ?? 5000),
      metricProducers: [fastMetrics.producer],
    }),
  ],
});
metrics.setGlobalMeterProvider(meterProvider);
const loggerProvider = new LoggerProvider({
  resource,
  processors: [new BatchLogRecordProcessor(new OTLPLogExporter({ url: `${base}/v1/logs` }))],
});
logs.setGlobalLoggerProvider(loggerProvider);

setupHttp({
  config: { metrics: { prometheus: { enabled: false, host: '127.0.0.1', port: 0 } } },
  meterProvider,
  meter: meterProvider.getMeter('echoes-otel'),
  tracerProvider,
  tracer: tracerProvider.getTracer('echoes-otel'),
  loggerProvider,
  fastMetrics,
});
loggerProvider.getLogger('bench').emit({ body: 'bench server instrumented', severityText: 'INFO' });
