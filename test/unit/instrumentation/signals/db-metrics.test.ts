import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { createDbDurationMetric } from '../../../../instrumentation/signals/db-client.js';
import { withDbClientMetrics } from '../../../../instrumentation/signals/db-metrics.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';

function setup(kind: 'sql' | 'redis' | 'none') {
  const spans = new InMemorySpanExporter();
  const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const mp = new MeterProvider({ readers: [reader] });
  const tracer = withDbClientMetrics(
    tp,
    createDbDurationMetric({ meterProvider: mp }),
    kind,
  ).getTracer('test-db');
  const points = async () => {
    await reader.forceFlush();
    return exporter
      .getMetrics()
      .flatMap((r) => r.scopeMetrics)
      .flatMap((s) => s.metrics)
      .filter((m) => m.descriptor.name === 'db.client.operation.duration')
      .flatMap((m) => m.dataPoints as { attributes: Attributes; value: unknown }[]);
  };
  return { tracer, spans, points };
}

/** A client span's start attributes as mysql2's instrumentation gives them (text masked). */
const MYSQL_SELECT: Attributes = {
  'db.system.name': 'mysql',
  'db.query.text': 'SELECT a FROM items WHERE id = ?',
  'server.address': '127.0.0.1',
  'server.port': 3306,
};

/** The metric attributes recorded for it: operation and collection read from the text. */
const MYSQL_SELECT_METRIC: Attributes = {
  'db.system.name': 'mysql',
  'db.operation.name': 'SELECT',
  'db.collection.name': 'items',
  'server.address': '127.0.0.1',
  'server.port': 3306,
};

describe('withDbClientMetrics', () => {
  it('records db.client.operation.duration per client span with its stable attributes, and names the span from its SQL', async () => {
    const { tracer, spans, points } = setup('sql');
    const span = tracer.startSpan('select', {
      kind: SpanKind.CLIENT,
      attributes: MYSQL_SELECT,
    });
    span.end();
    const [exported] = spans.getFinishedSpans();
    expect(exported!.name).toBe('SELECT items');
    expect(exported!.attributes).toMatchObject({
      'db.operation.name': 'SELECT',
      'db.collection.name': 'items',
    });
    const [p] = await points();
    expect(p!.attributes).toEqual(MYSQL_SELECT_METRIC);
    expect((p!.value as { count: number }).count).toBe(1);
  });

  it('marks a failed operation with error.type, and records once however often end() is called', async () => {
    const { tracer, points } = setup('redis');
    const span = tracer.startSpan('get', {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': 'redis', 'db.query.text': 'get k' },
    });
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    span.end();
    const [p] = await points();
    expect(p!.attributes).toEqual({
      'db.system.name': 'redis',
      'db.operation.name': 'GET',
      'error.type': '_OTHER',
    });
    expect((p!.value as { count: number }).count).toBe(1);
  });

  it('leaves spans that are not client spans alone', async () => {
    const { tracer, points } = setup('none');
    tracer.startSpan('internal', { attributes: { 'db.system.name': 'mongodb' } }).end();
    expect(await points()).toEqual([]);
  });

  it('records through fast-metrics when given, with the sampled client span as the exemplar', async () => {
    const spans = new InMemorySpanExporter();
    const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const fm = createFastMetrics({ cardinalityLimit: 2000 });
    const tracer = withDbClientMetrics(
      tp,
      createDbDurationMetric({ fastMetrics: fm }),
      'sql',
    ).getTracer('test-db');
    const span = tracer.startSpan('select', {
      kind: SpanKind.CLIENT,
      attributes: MYSQL_SELECT,
    });
    span.end();
    const { resourceMetrics } = await fm.producer.collect();
    const metric = resourceMetrics.scopeMetrics
      .flatMap((m) => m.metrics)
      .find((m) => m.descriptor.name === 'db.client.operation.duration');
    expect(metric?.descriptor).toMatchObject({ unit: 's' });
    const [p] = metric!.dataPoints as {
      attributes: Attributes;
      value: { count: number; buckets: { boundaries: number[] } };
      exemplars?: { traceId: string; spanId: string }[];
    }[];
    expect(p!.attributes).toEqual(MYSQL_SELECT_METRIC);
    expect(p!.value.count).toBe(1);
    expect(p!.value.buckets.boundaries).toEqual([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]);
    const exported = spans.getFinishedSpans()[0]!.spanContext();
    expect(p!.exemplars).toEqual([
      expect.objectContaining({ traceId: exported.traceId, spanId: exported.spanId }),
    ]);
  });
});
