#!/usr/bin/env node
// Per-request cost of the fetch/undici instrumentation alone, in-process: undici's diagnostics
// channels (request:create, request:headers, request:trailers) are published for synthetic
// requests shaped like Node's bundled undici's, inside an active server span as in a handler,
// with the stock SDK tracer (batch processor, exporter dropping) and a metric reader.
//   ours      instrumentation/signals/http-undici.ts (dist build): span, traceparent, fast-metrics slot
//   upstream  @opentelemetry/instrumentation-undici on the same providers: span, traceparent,
//             its own SDK histogram (a second http.client.request.duration stream)
// Each variant runs in its own process (both would subscribe to the same channels); rounds are
// interleaved and the median ns/request is reported. `node bench/http-undici.mjs`
// Env: BENCH_ROUNDS (5), BENCH_OPS (20000 per round).
import { spawnSync } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { median, envInt } from './common.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 5);
const OPS = envInt('BENCH_OPS', 20_000);
const self = fileURLToPath(import.meta.url);

async function child(variant) {
  const api = await import('@opentelemetry/api');
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics');
  const { createFastMetrics } = await import('../dist/instrumentation/signals/fast-metrics.js');
  class Reader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  let exported = 0;
  const exporter = {
    export: (spans, cb) => {
      exported += spans.length;
      cb({ code: 0 });
    },
    shutdown: async () => {},
  };
  const tracerProvider = new NodeTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 1 << 16 })],
  });
  tracerProvider.register();
  const fastMetrics = createFastMetrics({ cardinalityLimit: 2000 });
  const meterProvider = new MeterProvider({
    readers: [new Reader({ metricProducers: [fastMetrics.producer] })],
  });
  if (variant === 'ours') {
    const { setupUndici } = await import('../dist/instrumentation/signals/http-undici.js');
    setupUndici({
      config: {},
      meterProvider,
      meter: meterProvider.getMeter('bench'),
      tracerProvider,
      tracer: tracerProvider.getTracer('echoes-otel'),
      fastMetrics,
    });
  } else if (variant === 'upstream') {
    const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
    // Enabled at construction (it checks its config's `enabled` per request), then pointed at
    // our providers.
    const inst = new UndiciInstrumentation();
    inst.setTracerProvider(tracerProvider);
    inst.setMeterProvider(meterProvider);
  }
  const create = dc.channel('undici:request:create');
  const headers = dc.channel('undici:request:headers');
  const trailers = dc.channel('undici:request:trailers');
  const response = { statusCode: 200, headers: [], statusText: 'OK' };
  const one = () => {
    const request = {
      origin: 'http://127.0.0.1:8080',
      method: 'GET',
      path: '/down?x=1',
      headers: ['user-agent', 'node', 'accept', '*/*'],
      addHeader(k, v) {
        this.headers.push(k, v);
        return this;
      },
    };
    create.publish({ request });
    headers.publish({ request, response });
    trailers.publish({ request, trailers: [] });
  };
  const parent = tracerProvider.getTracer('bench').startSpan('server');
  // In chunks, yielding between them so the batch processor exports as it would in a server.
  const run = async (n) => {
    for (let done = 0; done < n; done += 256) {
      api.context.with(api.trace.setSpan(api.context.active(), parent), () => {
        for (let i = 0; i < 256; i++) one();
      });
      await new Promise((r) => setImmediate(r));
    }
  };
  await run(2048); // warm-up
  const c0 = process.cpuUsage();
  await run(OPS);
  const c = process.cpuUsage(c0);
  const ended = await new Promise((r) => setImmediate(() => r(exported)));
  if (variant !== 'none' && ended < OPS)
    throw new Error(`${variant}: only ${ended} spans exported`);
  process.stdout.write(String(((c.user + c.system) * 1000) / OPS));
}

if (process.argv[2]) {
  await child(process.argv[2]);
} else {
  const variants = ['none', 'ours', 'upstream'];
  const res = Object.fromEntries(variants.map((v) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants.map((_, i) => variants[(i + r) % variants.length])) {
      const out = spawnSync(process.execPath, [self, v], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(out.stderr);
      res[v].push(Number(out.stdout));
    }
  }
  const base = median(res.none);
  console.log(
    `node ${process.versions.node}, ${ROUNDS} rounds × ${OPS} requests (median CPU ns/request)`,
  );
  for (const v of variants) {
    console.log(
      `${v.padEnd(9)} ${median(res[v]).toFixed(0).padStart(6)} ns  (+${(median(res[v]) - base).toFixed(0)} over none)`,
    );
  }
}
