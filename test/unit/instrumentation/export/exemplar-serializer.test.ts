import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  exemplarSerializer,
  sendExemplars,
} from '../../../../instrumentation/export/exemplar-serializer.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- decoded OTLP is dynamic */
const require = createRequire(import.meta.url);
const root = require('otlp-proto-defs/build/src/generated/root.js');
const Request = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const sampled = { spanContext: () => ({ traceId: TRACE, spanId: SPAN, traceFlags: 1 }) };

/** SDK instruments and fast-metrics histograms in one collection, as the OTLP reader gets them. */
async function collect(withSpan: boolean): Promise<ResourceMetrics> {
  const fm = createFastMetrics({ cardinalityLimit: 100 });
  const reader = new TestReader({ metricProducers: [fm.producer] });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'ex-test' }),
    readers: [reader],
  });
  provider.getMeter('sdk-scope').createCounter('c.total').add(3, { k: 'v' });
  const h = fm.histogram('http.server.request.duration', {
    unit: 's',
    description: 'd',
    boundaries: [0.1, 1],
  });
  h.bind({ 'http.route': '/a', 'http.response.status_code': 200 }).record(
    0.05,
    withSpan ? sampled : undefined,
  );
  h.bind({ 'http.route': '/b' }).record(0.5); // no exemplar on this point
  fm.counter('ops', { unit: '1', description: '' }).bind({}).add(1);
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return resourceMetrics;
}

function histogramPoints(decoded: any): any[] {
  const out: any[] = [];
  for (const rm of decoded.resourceMetrics)
    for (const sm of rm.scopeMetrics)
      for (const m of sm.metrics) if (m.histogram) out.push(...m.histogram.dataPoints);
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('exemplarSerializer', () => {
  it('adds the exemplars to their histogram point in the protobuf request and changes nothing else', async () => {
    const rm = await collect(true);
    const plain = ProtobufMetricsSerializer.serializeRequest(rm)!;
    const bytes = exemplarSerializer(ProtobufMetricsSerializer, false).serializeRequest(rm)!;
    const got = Request.toObject(Request.decode(bytes), { longs: String });
    const want = Request.toObject(Request.decode(plain), { longs: String });
    const points = histogramPoints(got);
    expect(points).toHaveLength(2);
    const a = points.find((p) => p.attributes.some((kv: any) => kv.value.stringValue === '/a'));
    expect(a.exemplars).toHaveLength(1);
    expect(hex(a.exemplars[0].traceId)).toBe(TRACE);
    expect(hex(a.exemplars[0].spanId)).toBe(SPAN);
    expect(a.exemplars[0].asDouble).toBe(0.05);
    expect(Math.abs(Number(a.exemplars[0].timeUnixNano) / 1e6 - Date.now())).toBeLessThan(60_000);
    // Without the exemplars, the request is exactly what upstream wrote.
    delete a.exemplars;
    expect(got).toEqual(want);
  });

  it('adds them as hex ids in the JSON request', async () => {
    const rm = await collect(true);
    const bytes = exemplarSerializer(JsonMetricsSerializer, true).serializeRequest(rm)!;
    const points = histogramPoints(JSON.parse(new TextDecoder().decode(bytes)));
    const withEx = points.filter((p) => p.exemplars !== undefined);
    expect(withEx).toHaveLength(1);
    expect(withEx[0].exemplars[0]).toMatchObject({ traceId: TRACE, spanId: SPAN, asDouble: 0.05 });
  });

  it('leaves a request without exemplars byte for byte as upstream serialized it', async () => {
    const rm = await collect(false);
    expect(exemplarSerializer(ProtobufMetricsSerializer, false).serializeRequest(rm)).toEqual(
      ProtobufMetricsSerializer.serializeRequest(rm),
    );
  });

  it('is installed into a real OTLP metric exporter once', () => {
    const exporter = new OTLPMetricExporter({ url: 'http://127.0.0.1:9/v1/metrics' });
    expect(sendExemplars(exporter, false)).toBe(true);
    const first = (exporter as any)._delegate._serializer;
    expect(sendExemplars(exporter, false)).toBe(true);
    expect((exporter as any)._delegate._serializer).toBe(first);
    expect(sendExemplars({}, false)).toBe(false);
  });
});
