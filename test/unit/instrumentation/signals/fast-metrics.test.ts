import { describe, expect, it } from 'vitest';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type CollectionResult,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function setup(cardinalityLimit = 2000) {
  const fm = createFastMetrics({
    cardinalityLimit,
    scope: { name: 'echoes-otel', version: '1.2.3' },
  });
  const reader = new TestReader({ metricProducers: [fm.producer] });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'fm-test' }),
    readers: [reader],
  });
  return { fm, reader, provider };
}

function find(result: CollectionResult, name: string): MetricData | undefined {
  for (const sm of result.resourceMetrics.scopeMetrics) {
    for (const m of sm.metrics) if (m.descriptor.name === name) return m;
  }
  return undefined;
}

describe('createFastMetrics', () => {
  it('exports exact histogram counts, sum, min and max through a reader', async () => {
    const { fm, reader } = setup();
    const h = fm.histogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of inbound HTTP requests.',
      boundaries: BUCKETS,
    });
    const a = h.bind({ 'http.request.method': 'GET', 'http.response.status_code': 200 });
    for (const v of [0.001, 0.005, 0.006, 0.3, 20]) a.record(v);
    a.record(Number.NaN);

    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    expect(resourceMetrics.resource.attributes['service.name']).toBe('fm-test');
    const sm = resourceMetrics.scopeMetrics.find((s) => s.scope.name === 'echoes-otel');
    expect(sm?.scope.version).toBe('1.2.3');
    const m = find({ resourceMetrics, errors }, 'http.server.request.duration')!;
    expect(m.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(m.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(m.descriptor.unit).toBe('s');
    expect(m.dataPoints).toHaveLength(1);
    const p = m.dataPoints[0]!;
    expect(p.attributes).toEqual({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
    });
    expect(p.value).toEqual({
      buckets: { boundaries: BUCKETS, counts: [2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1] },
      count: 5,
      sum: 0.001 + 0.005 + 0.006 + 0.3 + 20,
      min: 0.001,
      max: 20,
    });
  });

  it('produces the same points as an SDK histogram and counter fed the same values', async () => {
    const { fm, reader, provider } = setup();
    const meter = provider.getMeter('sdk-side');
    const sdkH = meter.createHistogram('sdk.h', {
      unit: 's',
      description: 'd',
      advice: { explicitBucketBoundaries: BUCKETS },
    });
    const sdkC = meter.createCounter('sdk.c', { unit: '{op}', description: 'c' });
    const fastH = fm.histogram('fast.h', { unit: 's', description: 'd', boundaries: BUCKETS });
    const fastC = fm.counter('fast.c', { unit: '{op}', description: 'c' });
    const sets = [{ k: 'a' }, { k: 'b', n: 2 }];
    const values = [0, 0.01, 0.0100001, 1, 7.5, 11, 0.2];
    for (const attrs of sets) {
      const bh = fastH.bind(attrs);
      const bc = fastC.bind(attrs);
      for (const v of values) {
        sdkH.record(v, attrs);
        bh.record(v);
        sdkC.add(v, attrs);
        bc.add(v);
      }
    }
    const res = await reader.collect();
    const strip = (m: MetricData | undefined) => ({
      type: m?.dataPointType,
      temporality: m?.aggregationTemporality,
      unit: m?.descriptor.unit,
      description: m?.descriptor.description,
      valueType: m?.descriptor.valueType,
      monotonic: m && 'isMonotonic' in m ? m.isMonotonic : undefined,
      points: m?.dataPoints
        .map((p) => ({ attributes: p.attributes, value: p.value }))
        .sort((x, y) => JSON.stringify(x.attributes).localeCompare(JSON.stringify(y.attributes))),
    });
    expect(strip(find(res, 'fast.h'))).toEqual(strip(find(res, 'sdk.h')));
    expect(strip(find(res, 'fast.c'))).toEqual(strip(find(res, 'sdk.c')));
  });

  it('is cumulative across collections and keeps the start time', async () => {
    const { fm, reader } = setup();
    const c = fm.counter('echoes.fs.operations', { unit: '{operation}', description: 'x' });
    const slot = c.bind({ 'fs.operation': 'read' });
    slot.add(2);
    const first = find(await reader.collect(), 'echoes.fs.operations')!;
    slot.add(3);
    slot.add(-1); // ignored, as the SDK ignores negative counter increments
    const second = find(await reader.collect(), 'echoes.fs.operations')!;
    expect(first.dataPoints[0]!.value).toBe(2);
    expect(second.dataPoints[0]!.value).toBe(5);
    expect(second.dataPoints[0]!.startTime).toEqual(first.dataPoints[0]!.startTime);
    expect(second.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
  });

  it('returns the same slot when the same attribute set is bound again, in any key order', async () => {
    const { fm, reader } = setup();
    const c = fm.counter('c', { unit: '1', description: '' });
    const s1 = c.bind({ a: 1, b: 'x' });
    const s2 = c.bind({ b: 'x', a: 1 });
    expect(s2).toBe(s1);
    s1.add(1);
    s2.add(1);
    const m = find(await reader.collect(), 'c')!;
    expect(m.dataPoints).toHaveLength(1);
    expect(m.dataPoints[0]!.value).toBe(2);
  });

  it('sends attribute sets beyond the cardinality limit to one overflow set', async () => {
    const { fm, reader } = setup(4);
    const h = fm.histogram('h', { unit: 's', description: '', boundaries: [1] });
    for (let i = 0; i < 10; i++) h.bind({ i }).record(0.5);
    const m = find(await reader.collect(), 'h')!;
    expect(m.dataPoints).toHaveLength(4);
    const overflow = m.dataPoints.find((p) => p.attributes['otel.metric.overflow'] === true);
    expect(overflow?.value).toMatchObject({ count: 7 });
    expect(m.dataPoints.filter((p) => 'i' in p.attributes).map((p) => p.attributes.i)).toEqual([
      0, 1, 2,
    ]);
  });

  it('emits nothing for bound but unused sets, and no scope at all when idle', async () => {
    const { fm } = setup();
    fm.histogram('h', { unit: 's', description: '', boundaries: [1] }).bind({ a: 1 });
    fm.counter('c', { unit: '1', description: '' }).bind({ a: 1 });
    const res = await fm.producer.collect();
    expect(res.resourceMetrics.scopeMetrics).toEqual([]);
  });

  it('returns the same instrument for the same name', () => {
    const { fm } = setup();
    const a = fm.histogram('h', { unit: 's', description: '', boundaries: [1] });
    expect(fm.histogram('h', { unit: 's', description: '', boundaries: [1] })).toBe(a);
    const c = fm.counter('c', { unit: '1', description: '' });
    expect(fm.counter('c', { unit: '1', description: '' })).toBe(c);
  });

  it('falls back to one bucket when boundaries are not sorted', async () => {
    const { fm, reader } = setup();
    const h = fm.histogram('bad', { unit: 's', description: '', boundaries: [2, 1] });
    h.bind({}).record(5);
    const m = find(await reader.collect(), 'bad')!;
    expect(m.dataPoints[0]!.value).toMatchObject({
      count: 1,
      buckets: { boundaries: [], counts: [1] },
    });
  });

  it('reaches the Prometheus exporter intact (buckets, sum, count, scope label)', async () => {
    const fm = createFastMetrics({ cardinalityLimit: 2000 });
    const exporter = new PrometheusExporter({
      preventServerStart: true,
      metricProducers: [fm.producer],
    });
    const provider = new MeterProvider({ readers: [exporter] });
    try {
      const h = fm.histogram('http.server.request.duration', {
        unit: 's',
        description: 'Duration of HTTP server requests.',
        boundaries: BUCKETS,
      });
      const slot = h.bind({ 'http.request.method': 'GET', 'http.response.status_code': 200 });
      slot.record(0.003);
      slot.record(0.2);
      const { resourceMetrics } = await exporter.collect();
      const text = new PrometheusSerializer().serialize(resourceMetrics);
      // The upstream exporter appends no unit word (our /metrics endpoint in metrics.ts renames
      // to the catalog's `_seconds` names); what matters here is that the data arrives intact.
      const labels =
        'http_request_method="GET",http_response_status_code="200",otel_scope_name="echoes-otel"';
      const lines = text.split('\n');
      expect(lines).toContain(`http_server_request_duration_count{${labels}} 2`);
      expect(lines).toContain(`http_server_request_duration_sum{${labels}} 0.203`);
      expect(lines).toContain(`http_server_request_duration_bucket{${labels},le="0.005"} 1`);
      expect(lines).toContain(`http_server_request_duration_bucket{${labels},le="0.25"} 2`);
      expect(lines).toContain(`http_server_request_duration_bucket{${labels},le="+Inf"} 2`);
      expect(lines).toContain('# UNIT http_server_request_duration s');
    } finally {
      await provider.shutdown();
    }
  });
});

describe('createFastMetrics exemplars', () => {
  const TRACE = '0af7651916cd43dd8448eb211c80319c';
  const spanOf = (spanId: string, sampled = true) => ({
    spanContext: () => ({ traceId: TRACE, spanId, traceFlags: sampled ? 1 : 0 }),
  });
  type WithExemplars = { exemplars?: Array<{ value: number; traceId: string; spanId: string }> };

  it('keeps the first sampled record of each bucket per collection, with its trace and span id', async () => {
    const { fm, reader } = setup();
    const slot = fm
      .histogram('h.ex', { unit: 's', description: '', boundaries: BUCKETS })
      .bind({ route: '/a' });
    slot.record(0.003); // no span: counted, no exemplar
    slot.record(0.004, spanOf('00000000000000a1', false)); // not sampled
    slot.record(0.0045, spanOf('00000000000000a2'));
    slot.record(0.0046, spanOf('00000000000000a3')); // same bucket: the first stays
    slot.record(0.3, spanOf('00000000000000b1'));
    let point = find(await reader.collect(), 'h.ex')!.dataPoints[0]! as WithExemplars;
    expect((point as unknown as { value: { count: number } }).value.count).toBe(5);
    expect(point.exemplars).toEqual([
      expect.objectContaining({ value: 0.0045, traceId: TRACE, spanId: '00000000000000a2' }),
      expect.objectContaining({ value: 0.3, traceId: TRACE, spanId: '00000000000000b1' }),
    ]);
    // The next interval starts empty, and fills again.
    point = find(await reader.collect(), 'h.ex')!.dataPoints[0]! as WithExemplars;
    expect(point.exemplars).toBeUndefined();
    slot.record(0.0044, spanOf('00000000000000c1'));
    point = find(await reader.collect(), 'h.ex')!.dataPoints[0]! as WithExemplars;
    expect(point.exemplars?.map((e) => e.spanId)).toEqual(['00000000000000c1']);
  });
});
