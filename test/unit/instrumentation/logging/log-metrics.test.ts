import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import {
  createLogStats,
  setupLogMetrics,
} from '../../../../instrumentation/logging/log-metrics.js';

describe('setupLogMetrics', () => {
  it('reports what the OTLP path dropped under its two reasons, beside the sink reasons, and the loss reasons from zero', async () => {
    const reader = new PeriodicExportingMetricReader({
      exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 3_600_000,
    });
    const provider = new MeterProvider({ readers: [reader] });
    const stats = createLogStats();
    stats.dropped.set('truncated', 2);
    const otlp = { droppedQueueFull: 0, droppedExportFailed: 0 };
    setupLogMetrics(provider.getMeter('t'), () => stats, otlp, [
      'otlp_queue_full',
      'otlp_export_failed',
    ]);
    const dropped = async () => {
      const { resourceMetrics } = await reader.collect();
      const m = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((x) => x.descriptor.name === 'echoes.log.dropped');
      return Object.fromEntries(
        (m?.dataPoints ?? []).map((p) => [String(p.attributes['reason']), p.value as number]),
      );
    };
    // Nothing dropped over OTLP yet: the loss reasons are there at zero, from the first export.
    expect(await dropped()).toEqual({ truncated: 2, otlp_queue_full: 0, otlp_export_failed: 0 });
    otlp.droppedQueueFull = 3;
    otlp.droppedExportFailed = 7;
    expect(await dropped()).toEqual({ truncated: 2, otlp_queue_full: 3, otlp_export_failed: 7 });
    await provider.shutdown();
  });
});
