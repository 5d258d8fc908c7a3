import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { logs } from '@opentelemetry/api-logs';
import { MeterProvider, MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { METRIC, catalogEntry } from '../../../../instrumentation/catalog.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import {
  setHttpRoute,
  setupHttp,
  UNTRACED_SERVER,
} from '../../../../instrumentation/signals/http.js';
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
let feature: Feature;
let setupContext: SetupContext;
let server: http.Server;
let port = 0;
/** What the handler saw, keyed by the request's x-id header. */
const seen = new Map<string, { spanId?: string; traceId?: string; traceparent?: string }>();

const config = {
  metrics: { prometheus: { enabled: false, host: '127.0.0.1', port: 9464 } },
} as unknown as EchoesConfig;

function request(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; port?: number } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: opts.port ?? port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function waitForSpans(
  predicate: (spans: ReadableSpan[]) => boolean,
): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    if (predicate(spans)) return spans;
    if (Date.now() > deadline)
      throw new Error(`spans never matched; have ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((r) => setImmediate(r));
  }
}

const serverSpans = (spans: ReadableSpan[]) => spans.filter((s) => s.kind === SpanKind.SERVER);
const clientSpans = (spans: ReadableSpan[]) => spans.filter((s) => s.kind === SpanKind.CLIENT);

beforeAll(async () => {
  tracerProvider.register();
  setupContext = {
    config,
    meterProvider,
    meter: meterProvider.getMeter('test'),
    tracerProvider,
    tracer: tracerProvider.getTracer('echoes-otel'),
    loggerProvider: logs.getLoggerProvider(),
    fastMetrics,
  };
  feature = setupHttp(setupContext);
  server = http.createServer((req, res) => {
    const id = String(req.headers['x-id'] ?? '');
    const span = trace.getActiveSpan();
    seen.set(id, {
      spanId: span?.spanContext().spanId,
      traceId: span?.spanContext().traceId,
      traceparent: req.headers.traceparent as string | undefined,
    });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/users/')) setHttpRoute('/users/:id');
    if (url.pathname === '/child') {
      // Route named from inside a child span: the server request is still found.
      trace.getTracer('app').startActiveSpan('child', (child) => {
        setHttpRoute('/child');
        child.end();
      });
    }
    if (url.pathname === '/hang') return; // never answers: the client aborts
    // An async hop: the span must still be active after it.
    setImmediate(() => {
      const later = trace.getActiveSpan()?.spanContext().spanId;
      res.setHeader('x-later-span', later ?? '');
      res.statusCode = Number(url.searchParams.get('status') ?? 200);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => exporter.reset());

afterAll(async () => {
  await feature.shutdown();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await tracerProvider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('setupHttp (server side)', () => {
  it('makes the server span active in the handler and across async hops', async () => {
    const res = await request('/plain?x=1', { headers: { 'x-id': 'active', 'user-agent': 'ut' } });
    expect(res.status).toBe(200);
    const [span] = serverSpans(await waitForSpans((s) => serverSpans(s).length === 1));
    expect(seen.get('active')?.spanId).toBe(span!.spanContext().spanId);
    expect(span!.name).toBe('GET');
    expect(span!.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/plain',
      'url.query': 'x=1',
      'url.scheme': 'http',
      'user_agent.original': 'ut',
      'http.response.status_code': 200,
    });
    expect(span!.attributes['http.route']).toBeUndefined();
    // Left off on purpose (cost, see docs/performance.md).
    expect(span!.attributes['server.address']).toBeUndefined();
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('continues the trace from an incoming W3C traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    // Suppressed so our own client side does not replace the header with its span's.
    await context.with(suppressTracing(context.active()), () =>
      request('/in', { headers: { 'x-id': 'tp', traceparent: `00-${traceId}-${parentId}-01` } }),
    );
    const [span] = serverSpans(await waitForSpans((s) => serverSpans(s).length === 1));
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.parentSpanContext?.spanId).toBe(parentId);
    expect(seen.get('tp')?.traceId).toBe(traceId);
  });

  it('sets http.route and the span name when the app names the route', async () => {
    await request('/users/42', { headers: { 'x-id': 'route' } });
    const [span] = serverSpans(await waitForSpans((s) => serverSpans(s).length === 1));
    expect(span!.name).toBe('GET /users/:id');
    expect(span!.attributes['http.route']).toBe('/users/:id');
    expect(span!.attributes['url.path']).toBe('/users/42');
  });

  it('marks 5xx as errors and leaves 4xx unset on server spans', async () => {
    await request('/boom?status=503', { headers: { 'x-id': '503' } });
    await request('/missing?status=404', { headers: { 'x-id': '404' } });
    const spans = serverSpans(await waitForSpans((s) => serverSpans(s).length === 2));
    const s503 = spans.find((s) => s.attributes['http.response.status_code'] === 503)!;
    const s404 = spans.find((s) => s.attributes['http.response.status_code'] === 404)!;
    expect(s503.status.code).toBe(SpanStatusCode.ERROR);
    expect(s503.attributes['error.type']).toBe('503');
    expect(s404.status.code).toBe(SpanStatusCode.UNSET);
    expect(s404.attributes['error.type']).toBeUndefined();
  });

  it('ends the span as aborted when the client goes away before the response', async () => {
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/hang', agent: false });
      req.on('error', () => resolve());
      req.end();
      // Abort once the server has seen the request.
      const poll = (): void => {
        if (seen.has('')) req.destroy();
        else setImmediate(poll);
      };
      seen.delete('');
      poll();
    });
    const spans = serverSpans(
      await waitForSpans((s) => serverSpans(s).some((x) => x.attributes['url.path'] === '/hang')),
    );
    const span = spans.find((x) => x.attributes['url.path'] === '/hang')!;
    expect(span.attributes['error.type']).toBe('aborted');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('never traces a server marked with UNTRACED_SERVER (our own /metrics endpoint)', async () => {
    const own = http.createServer((_req, res) => res.end('metrics'));
    (own as unknown as Record<symbol, boolean>)[UNTRACED_SERVER] = true;
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    try {
      const ownPort = (own.address() as AddressInfo).port;
      await context.with(suppressTracing(context.active()), () =>
        request('/metrics', { port: ownPort }),
      );
      await request('/after-own', { headers: { 'x-id': 'after-own' } });
      const spans = serverSpans(await waitForSpans((s) => serverSpans(s).length >= 1));
      expect(spans.map((s) => s.attributes['url.path'])).toEqual(['/after-own']);
    } finally {
      own.closeAllConnections();
      await new Promise((r) => own.close(r));
    }
  });

  it('records http.server.request.duration with exact counts per method, route and status', async () => {
    const before = await reader.collect();
    const countOf = (res: typeof before, match: Record<string, unknown>): number => {
      const m = res.resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((x) => x.descriptor.name === 'http.server.request.duration') as
        HistogramMetricData | undefined;
      const p = m?.dataPoints.find(
        (d) =>
          Object.entries(match).every(([k, v]) => d.attributes[k] === v) &&
          Object.keys(d.attributes).length === Object.keys(match).length,
      );
      return p?.value.count ?? 0;
    };
    const a = {
      'http.request.method': 'GET',
      'http.route': '/users/:id',
      'http.response.status_code': 200,
    };
    const b = {
      'http.request.method': 'POST',
      'http.response.status_code': 500,
      'error.type': '500',
    };
    const a0 = countOf(before, a);
    const b0 = countOf(before, b);
    for (let i = 0; i < 3; i++) await request(`/users/${i}`);
    for (let i = 0; i < 2; i++) await request('/p?status=500', { method: 'POST' });
    await waitForSpans((s) => serverSpans(s).length === 5);
    const after = await reader.collect();
    expect(countOf(after, a) - a0).toBe(3);
    expect(countOf(after, b) - b0).toBe(2);
    const m = after.resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .find((x) => x.descriptor.name === 'http.server.request.duration') as HistogramMetricData;
    expect(m.descriptor.unit).toBe('s');
    expect(m.descriptor.description).toBe(catalogEntry(METRIC.httpServerDuration)!.description);
    expect(m.dataPoints[0]!.value.buckets.boundaries).toEqual([
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]);
    // No raw path ever becomes an attribute.
    for (const p of m.dataPoints) expect(Object.keys(p.attributes)).not.toContain('url.path');
  });
});

describe('setupHttp (client side)', () => {
  it('creates a client span under the active span and injects its traceparent', async () => {
    const tracer = trace.getTracer('t');
    const outer: Span = tracer.startSpan('outer');
    await context.with(trace.setSpan(context.active(), outer), () =>
      request('/out', { headers: { 'x-id': 'out' } }),
    );
    outer.end();
    const spans = await waitForSpans(
      (s) => clientSpans(s).length === 1 && serverSpans(s).length === 1,
    );
    const client = clientSpans(spans)[0]!;
    const srv = serverSpans(spans)[0]!;
    expect(client.name).toBe('GET');
    expect(client.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': port,
      'url.full': `http://127.0.0.1:${port}/out`,
      'http.response.status_code': 200,
    });
    expect(seen.get('out')?.traceparent).toBe(
      `00-${outer.spanContext().traceId}-${client.spanContext().spanId}-01`,
    );
    expect(srv.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
  });

  it("keeps semconv's signature query values out of url.full", async () => {
    await request('/signed?sig=abc&x=1', { headers: { 'x-id': 'signed' } });
    const [client] = clientSpans(await waitForSpans((s) => clientSpans(s).length === 1));
    expect(client!.attributes['url.full']).toBe(`http://127.0.0.1:${port}/signed?sig=REDACTED&x=1`);
  });

  it('marks client spans with status >= 400 as errors', async () => {
    await request('/x?status=404', { headers: { 'x-id': 'c404' } });
    const [client] = clientSpans(await waitForSpans((s) => clientSpans(s).length === 1));
    expect(client!.status.code).toBe(SpanStatusCode.ERROR);
    expect(client!.attributes['error.type']).toBe('404');
  });

  it('records connection errors with error.type and the client duration metric', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(request('/', { port: deadPort })).rejects.toThrow(/ECONNREFUSED/);
    const [client] = clientSpans(await waitForSpans((s) => clientSpans(s).length === 1));
    expect(client!.attributes['error.type']).toBe('ECONNREFUSED');
    expect(client!.status.code).toBe(SpanStatusCode.ERROR);
    const res = await reader.collect();
    const m = res.resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .find((x) => x.descriptor.name === 'http.client.request.duration') as HistogramMetricData;
    const p = m.dataPoints.find((d) => d.attributes['server.port'] === deadPort)!;
    expect(p.attributes).toEqual({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': deadPort,
      'error.type': 'ECONNREFUSED',
    });
    expect(p.value.count).toBe(1);
  });

  it('does not trace requests made with tracing suppressed (the exporters)', async () => {
    await context.with(suppressTracing(context.active()), () =>
      request('/quiet', { headers: { 'x-id': 'quiet' } }),
    );
    await waitForSpans((s) => serverSpans(s).length === 1);
    expect(clientSpans(exporter.getFinishedSpans())).toHaveLength(0);
    expect(seen.get('quiet')?.traceparent).toBeUndefined();
  });
});

describe('setHttpRoute', () => {
  it('is a no-op outside a server request', () => {
    expect(() => setHttpRoute('/nothing')).not.toThrow();
  });

  it('finds the server request from a child span, which is parented to the server span', async () => {
    await request('/child', { headers: { 'x-id': 'child' } });
    const spans = await waitForSpans(
      (s) => serverSpans(s).length === 1 && s.some((x) => x.name === 'child'),
    );
    const srv = serverSpans(spans)[0]!;
    const child = spans.find((x) => x.name === 'child')!;
    expect(child.parentSpanContext?.spanId).toBe(srv.spanContext().spanId);
    expect(srv.name).toBe('GET /child');
    expect(srv.attributes['http.route']).toBe('/child');
  });
});

describe('setupHttp and upstream instrumentation-http', () => {
  it('leaves requests to upstream when it has wrapped node:http, so nothing is counted twice', async () => {
    const emit = http.Server.prototype.emit as { __wrapped?: boolean };
    emit.__wrapped = true;
    try {
      await context.with(suppressTracing(context.active()), () =>
        request('/upstream', { headers: { 'x-id': 'up' } }),
      );
    } finally {
      delete emit.__wrapped;
    }
    await request('/after', { headers: { 'x-id': 'after' } });
    const spans = serverSpans(await waitForSpans((s) => serverSpans(s).length >= 1));
    expect(spans.map((s) => s.attributes['url.path'])).toEqual(['/after']);
  });
});

describe('setupHttp and upstream instrumentation-http (client side)', () => {
  it('creates no client span when upstream has wrapped http.request', async () => {
    const req = http.request as { __wrapped?: boolean };
    req.__wrapped = true;
    try {
      await request('/client-upstream', { headers: { 'x-id': 'client-up' } });
    } finally {
      delete req.__wrapped;
    }
    await waitForSpans((s) => serverSpans(s).length === 1);
    expect(clientSpans(exporter.getFinishedSpans())).toEqual([]);
    expect(seen.get('client-up')?.traceparent).toBeUndefined();
  });
});

describe('setupHttp shutdown', () => {
  it('unsubscribes: no spans, no route setter and no client hook afterwards', async () => {
    await feature.shutdown();
    await feature.shutdown(); // idempotent
    await request('/gone', { headers: { 'x-id': 'gone' } });
    expect(seen.get('gone')?.spanId).toBeUndefined();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(Object.prototype.hasOwnProperty.call(http.ClientRequest.prototype, '_storeHeader')).toBe(
      false,
    );
    expect(
      (globalThis as Record<symbol, unknown>)[Symbol.for('echoes-otel.http.setRoute')],
    ).toBeUndefined();
  });
});

describe('setupHttp with ECHOES_HTTP_IGNORE_PATHS', () => {
  it('gives ignored paths no span and no traced children, and still records their duration', async () => {
    await feature.shutdown();
    feature = setupHttp({
      ...setupContext,
      config: { ...config, http: { ignorePaths: ['/healthz', '/internal/*'] } } as EchoesConfig,
    });
    const routeless200s = async (): Promise<number> => {
      const res = await reader.collect();
      const m = res.resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((x) => x.descriptor.name === 'http.server.request.duration') as
        HistogramMetricData | undefined;
      // The fixture names no route for these paths.
      return (
        m?.dataPoints.find(
          (d) =>
            d.attributes['http.route'] === undefined &&
            d.attributes['http.response.status_code'] === 200 &&
            d.attributes['http.request.method'] === 'GET',
        )?.value.count ?? 0
      );
    };
    const c0 = await routeless200s();
    // Suppressed: our own client side would otherwise add a client span per request.
    await context.with(suppressTracing(context.active()), async () => {
      await request('/healthz', { headers: { 'x-id': 'hz' } });
      await request('/internal/ready', { headers: { 'x-id': 'ready' } });
      await request('/healthz/not-exact', { headers: { 'x-id': 'traced' } });
    });
    const spans = serverSpans(await waitForSpans((s) => serverSpans(s).length >= 1));
    expect(spans.map((s) => s.attributes['url.path'])).toEqual(['/healthz/not-exact']);
    // The handler saw no span of ours, nor one left over from an earlier request.
    expect(seen.get('hz')?.spanId).toBeUndefined();
    expect(seen.get('ready')?.spanId).toBeUndefined();
    expect(seen.get('traced')?.spanId).toBe(spans[0]!.spanContext().spanId);
    expect((await routeless200s()) - c0).toBe(3);
  });
});
