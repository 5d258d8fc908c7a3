#!/usr/bin/env node
// Micro-benchmark behind the HTTP duration histogram: one stock SDK `histogram.record(value,
// attributes)` per request (the attribute object built per request, as an instrumentation does)
// against our cached bound slot (`dist/instrumentation/signals/fast-metrics.js`: nested-map lookup by
// method/route/status, then `record`). Interleaved rounds in one process; prints ns per record and
// the ratio. `node bench/http.mjs` runs it too and adds the figures to bench/results/http.md.
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { createFastMetrics } from '../dist/instrumentation/signals/fast-metrics.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const METHODS = ['GET', 'POST'];
const ROUTES = ['/chat', '/sessions/:id', '/models', '/healthz'];
const STATUSES = [200, 200, 200, 404, 500];

class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

export async function measureRecord({ rounds = 7, perRound = 200_000 } = {}) {
  const fm = createFastMetrics({ cardinalityLimit: 2000 });
  const reader = new Reader({ metricProducers: [fm.producer] });
  const provider = new MeterProvider({ readers: [reader] });
  const sdk = provider.getMeter('bench').createHistogram('sdk.h', {
    unit: 's',
    advice: { explicitBucketBoundaries: BUCKETS },
  });
  const fast = fm.histogram('fast.h', { unit: 's', description: '', boundaries: BUCKETS });
  // The same cache shape http-server.ts uses: method -> route -> status -> bound slot.
  const cache = new Map();
  const slot = (method, route, status) => {
    let byRoute = cache.get(method);
    if (byRoute === undefined) cache.set(method, (byRoute = new Map()));
    let byStatus = byRoute.get(route);
    if (byStatus === undefined) byRoute.set(route, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (s === undefined) {
      s = fast.bind({
        'http.request.method': method,
        'http.route': route,
        'http.response.status_code': status,
      });
      byStatus.set(status, s);
    }
    return s;
  };
  const runSdk = (n) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const method = METHODS[i & 1];
      const route = ROUTES[i & 3];
      const status = STATUSES[i % 5];
      sdk.record((i % 1000) / 1000, {
        'http.request.method': method,
        'http.route': route,
        'http.response.status_code': status,
      });
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  const runFast = (n) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      slot(METHODS[i & 1], ROUTES[i & 3], STATUSES[i % 5]).record((i % 1000) / 1000);
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  // The same lookup and record inside a sampled span (exemplar candidate): a traced request.
  const span = {
    spanContext: () => ({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    }),
  };
  const runFastSpan = (n) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      slot(METHODS[i & 1], ROUTES[i & 3], STATUSES[i % 5]).record((i % 1000) / 1000, span);
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  runSdk(perRound);
  runFast(perRound);
  runFastSpan(perRound);
  const sdkNs = [];
  const fastNs = [];
  const spanNs = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      sdkNs.push(runSdk(perRound));
      fastNs.push(runFast(perRound));
      spanNs.push(runFastSpan(perRound));
    } else {
      spanNs.push(runFastSpan(perRound));
      fastNs.push(runFast(perRound));
      sdkNs.push(runSdk(perRound));
    }
  }
  // Both must have counted every record: a benchmark that measures nothing proves nothing.
  const { resourceMetrics } = await reader.collect();
  const count = (name) =>
    resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .filter((m) => m.descriptor.name === name)
      .flatMap((m) => m.dataPoints)
      .reduce((a, p) => a + p.value.count, 0);
  const expected = perRound * (rounds + 1);
  // fast.h gets both the plain and the in-span records.
  if (count('sdk.h') !== expected || count('fast.h') !== 2 * expected) {
    throw new Error(
      `record counts differ: sdk ${count('sdk.h')}, fast ${count('fast.h')}, want ${expected}`,
    );
  }
  await provider.shutdown();
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return {
    sdkNs: median(sdkNs),
    fastNs: median(fastNs),
    spanNs: median(spanNs),
    ratio: median(sdkNs) / median(fastNs),
    rounds,
    perRound,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measureRecord();
  console.log(
    `node ${process.versions.node}: SDK record ${r.sdkNs.toFixed(0)} ns, fast bound slot ${r.fastNs.toFixed(0)} ns ` +
      `(${r.ratio.toFixed(1)}× cheaper), ${r.spanNs.toFixed(0)} ns inside a sampled span (exemplar path), ` +
      `median of ${r.rounds} interleaved rounds of ${r.perRound}`,
  );
}
