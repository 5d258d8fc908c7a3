import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { logs } from '@opentelemetry/api-logs';
import { MeterProvider, MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import { setupHttp } from '../../../../instrumentation/signals/http.js';
import { parseOrigin, setupUndici } from '../../../../instrumentation/signals/http-undici.js';
import type { Feature, SetupContext } from '../../../../instrumentation/feature.js';
import type { EchoesConfig } from '../../../../instrumentation/types.js';

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const fastMetrics = createFastMetrics({ cardinalityLimit: 2000 });
const reader = new TestReader({ metricProducers: [fastMetrics.producer] });
const meterProvider = new MeterProvider({ readers: [reader] });
const config = {
  metrics: { prometheus: { enabled: false, host: '127.0.0.1', port: 9464 } },
  http: { ignorePaths: [] },
  redaction: { keys: ['api_key'] },
} as unknown as EchoesConfig;

let undici: Feature;
let httpFeature: Feature;
let server: http.Server;
let port = 0;
/** traceparent the server got, by the request's path. */
const seen = new Map<string, string | undefined>();

beforeAll(async () => {
  tracerProvider.register();
  const ctx: SetupContext = {
    config,
    meterProvider,
    meter: meterProvider.getMeter('test'),
    tracerProvider,
    tracer: tracerProvider.getTracer('echoes-otel'),
    loggerProvider: logs.getLoggerProvider(),
    fastMetrics,
  };
  undici = setupUndici(ctx);
  httpFeature = setupHttp(ctx);
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.set(url.pathname, req.headers.traceparent as string | undefined);
    res.statusCode = Number(url.searchParams.get('status') ?? 200);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => exporter.reset());

afterAll(async () => {
  await undici.shutdown();
  await httpFeature.shutdown();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await tracerProvider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

/** fetch under an active span `outer`; returns it once ended. */
async function fetchUnder(
  path: string,
): Promise<ReadableSpan['spanContext'] extends () => infer C ? C : never> {
  const outer = trace.getTracer('t').startSpan('outer');
  await context.with(trace.setSpan(context.active(), outer), async () => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    await res.text();
  });
  outer.end();
  return outer.spanContext();
}

const clientSpans = () => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);

async function clientDuration(): Promise<HistogramMetricData | undefined> {
  const res = await reader.collect();
  return res.resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .filter((m) => m.descriptor.name === 'http.client.request.duration')
    .at(0) as HistogramMetricData | undefined;
}

describe('setupUndici', () => {
  it('creates a client span for fetch under the active span and sends its traceparent', async () => {
    const outer = await fetchUnder('/a?q=1');
    const fetched = clientSpans().filter((s) => s.attributes['url.full'] !== undefined);
    // Only fetch's span: the server side answers through node:http, not a client request.
    expect(fetched).toHaveLength(1);
    const span = fetched[0]!;
    expect(span.name).toBe('GET');
    expect(span.parentSpanContext?.spanId).toBe(outer.spanId);
    expect(span.spanContext().traceId).toBe(outer.traceId);
    expect(span.attributes).toEqual({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': port,
      'url.full': `http://127.0.0.1:${port}/a?q=1`,
      'http.response.status_code': 200,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(seen.get('/a')).toBe(`00-${outer.traceId}-${span.spanContext().spanId}-01`);
  });

  it('replaces a traceparent the app set itself instead of sending two', async () => {
    const outer = trace.getTracer('t').startSpan('outer');
    await context.with(trace.setSpan(context.active(), outer), async () => {
      const stale = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await (
        await fetch(`http://127.0.0.1:${port}/own`, { headers: { traceparent: stale } })
      ).text();
    });
    outer.end();
    const [span] = clientSpans();
    expect(seen.get('/own')).toBe(
      `00-${outer.spanContext().traceId}-${span!.spanContext().spanId}-01`,
    );
  });

  it('keeps secret query values out of url.full', async () => {
    await fetchUnder('/keyed?api_key=s3cret&page=2');
    const [span] = clientSpans().filter((s) => s.attributes['url.full'] !== undefined);
    expect(span!.attributes['url.full']).toBe(
      `http://127.0.0.1:${port}/keyed?api_key=REDACTED&page=2`,
    );
  });

  it('marks responses >= 400 as errors with the status as error.type', async () => {
    await fetchUnder('/missing?status=404');
    const [span] = clientSpans();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['error.type']).toBe('404');
    expect(span!.attributes['http.response.status_code']).toBe(404);
  });

  it('records connection errors with their code and the duration', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(fetch(`http://127.0.0.1:${deadPort}/`)).rejects.toThrow(/fetch failed/);
    const spans = clientSpans();
    expect(spans.length).toBeGreaterThanOrEqual(1);
    for (const s of spans) {
      expect(s.attributes['error.type']).toBe('ECONNREFUSED');
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
    }
    const m = await clientDuration();
    const p = m!.dataPoints.find((d) => d.attributes['server.port'] === deadPort)!;
    expect(p.attributes).toEqual({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': deadPort,
      'error.type': 'ECONNREFUSED',
    });
    expect(p.value.count).toBe(spans.length);
  });

  it('neither traces nor measures a fetch made with tracing suppressed', async () => {
    const before = (await clientDuration())?.dataPoints.find(
      (d) =>
        d.attributes['server.port'] === port && d.attributes['http.response.status_code'] === 200,
    )?.value.count;
    await context.with(suppressTracing(context.active()), async () => {
      await (await fetch(`http://127.0.0.1:${port}/quiet`)).text();
    });
    expect(clientSpans()).toEqual([]);
    expect(seen.get('/quiet')).toBeUndefined();
    const after = (await clientDuration())?.dataPoints.find(
      (d) =>
        d.attributes['server.port'] === port && d.attributes['http.response.status_code'] === 200,
    )?.value.count;
    expect(after).toBe(before);
  });

  it('shares one http.client.request.duration stream with node:http requests', async () => {
    const path = '/shared';
    const countFor = async () =>
      (await clientDuration())?.dataPoints.find(
        (d) =>
          d.attributes['server.port'] === port && d.attributes['http.response.status_code'] === 200,
      )?.value.count ?? 0;
    const c0 = await countFor();
    await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', reject);
    });
    const res = await reader.collect();
    const streams = res.resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .filter((m) => m.descriptor.name === 'http.client.request.duration');
    expect(streams).toHaveLength(1);
    expect((await countFor()) - c0).toBe(2);
  });
});

describe('parseOrigin', () => {
  it('takes address and port from an origin, with the scheme default port and bare IPv6', () => {
    expect(parseOrigin('http://example.test')).toEqual({
      address: 'example.test',
      port: 80,
      prefix: 'http://example.test',
    });
    expect(parseOrigin('https://[::1]:8443')).toEqual({
      address: '::1',
      port: 8443,
      prefix: 'https://[::1]:8443',
    });
    expect(parseOrigin('not a url')).toBeNull();
  });
});
