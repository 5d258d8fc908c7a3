import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { startOtlpReceiver, type OtlpReceiver } from '../../helpers/otlp-receiver.js';

// The receiver the preload and collector tests rely on: real OTLP exporters in, decoded data out.
describe('otlp-receiver test helper', () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => {
    await rx.close();
  });

  it('decodes protobuf and JSON trace exports to the same flat spans', async () => {
    const resource = resourceFromAttributes({ 'service.name': 'rx-test' });
    for (const [label, exporter] of [
      ['proto', new ProtoTraceExporter({ url: `${rx.url}/v1/traces` })],
      ['json', new JsonTraceExporter({ url: `${rx.url}/prefix/v1/traces` })],
    ] as const) {
      const provider = new BasicTracerProvider({
        resource,
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      });
      provider
        .getTracer('t')
        .startSpan(`span-${label}`, { attributes: { n: 7, ok: true } })
        .end();
      await provider.forceFlush();
      await provider.shutdown();
    }
    const spans = await rx.waitForSpans((s) => s.name.startsWith('span-'), 2, 5000);
    expect(spans.map((s) => s.name).sort()).toEqual(['span-json', 'span-proto']);
    for (const s of spans) {
      expect(s.resource['service.name']).toBe('rx-test');
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.attributes).toEqual({ n: 7, ok: true });
    }
    expect(rx.requests.map((r) => r.encoding).sort()).toEqual(['json', 'protobuf']);
  });

  it('answers 503 while down and records again after close and reopen on the same port', async () => {
    rx.clear();
    const port = rx.port;
    rx.setDown(true);
    const res = await fetch(`${rx.url}/v1/logs`, {
      method: 'POST',
      body: new Uint8Array(0),
      headers: { 'content-type': 'application/x-protobuf' },
    });
    expect(res.status).toBe(503);
    expect(rx.refusedCount).toBe(1);
    rx.setDown(false);
    await rx.close();
    await rx.reopen();
    expect(rx.port).toBe(port);
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'rx-logs' }),
      processors: [
        new SimpleLogRecordProcessor({
          exporter: new OTLPLogExporter({ url: `${rx.url}/otlp/v1/logs` }),
        }),
      ],
    });
    provider.getLogger('l').emit({ body: 'hello', severityText: 'INFO', attributes: { k: 'v' } });
    await provider.forceFlush();
    const [log] = await rx.waitForLogs((l) => l.body === 'hello', 1, 5000);
    expect(log?.resource['service.name']).toBe('rx-logs');
    expect(log?.attributes).toEqual({ k: 'v' });
    await provider.shutdown();
  });
});
