#!/usr/bin/env node
// Micro-benchmark of span creation (issue #11): one request's worth of spans (a server span with
// 5 attributes and 7 client children with 5 each, as the real-services fixture makes) started,
// given attributes and ended through the SDK's Tracer and SpanImpl (BasicTracerProvider), the SDK's
// with our pooled id generator (`span-ids.js`), and ours (`tracer-lean.js`: LeanTracer, LeanSpan),
// interleaved round by round in one process, each with one no-op span processor (what the span
// itself costs, not the export). Prints µs per request (8 spans) per round and the medians.
// Needs `npm run build`.
//
// Env: BENCH_ROUNDS (7), BENCH_REQUESTS (30000 per round and variant).
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createIdGenerator } from '../dist/instrumentation/export/span-ids.js';
import { LeanTracerProvider } from '../dist/instrumentation/export/tracer-lean.js';
import { envInt, median } from './common.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 7);
const REQUESTS = envInt('BENCH_REQUESTS', 30000);

const noop = {
  onStart() {},
  onEnd() {},
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const variants = [
  ['sdk', new BasicTracerProvider({ spanProcessors: [noop] }).getTracer('bench')],
  [
    'sdk + pooled ids',
    new BasicTracerProvider({ spanProcessors: [noop], idGenerator: createIdGenerator() }).getTracer(
      'bench',
    ),
  ],
  [
    'ours (lean)',
    new LeanTracerProvider({ spanProcessors: [noop], idGenerator: createIdGenerator() }).getTracer(
      'bench',
    ),
  ],
];

function request(tracer) {
  const server = tracer.startSpan('GET /users/:id', {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'url.path': '/users/1', 'server.port': 3000 },
  });
  const ctx = trace.setSpan(ROOT_CONTEXT, server);
  for (let i = 0; i < 7; i++) {
    const s = tracer.startSpan(
      'SELECT users',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system.name': 'postgresql', 'db.operation.name': 'SELECT' },
      },
      ctx,
    );
    s.setAttribute('server.address', '127.0.0.1');
    s.setAttribute('server.port', 5432);
    s.setAttribute('db.collection.name', 'users');
    s.end();
  }
  server.setAttribute('http.response.status_code', 200);
  server.setAttribute('http.route', '/users/:id');
  server.end();
}

const results = new Map(variants.map(([name]) => [name, []]));
for (const [, tracer] of variants) for (let i = 0; i < 2000; i++) request(tracer);
for (let r = 1; r <= ROUNDS; r++) {
  for (const [name, tracer] of variants) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) request(tracer);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / REQUESTS;
    results.get(name).push(us);
    console.log(
      `round ${r}/${ROUNDS} ${name.padEnd(18)} ${us.toFixed(2)} µs per request (8 spans)`,
    );
  }
}
console.log(
  `\nnode ${process.versions.node}, median of ${ROUNDS} rounds, µs per request (8 spans):`,
);
const base = median(results.get('sdk'));
for (const [name, xs] of results) {
  const m = median(xs);
  console.log(`  ${name.padEnd(18)} ${m.toFixed(2)}  (${(m / base).toFixed(2)}× the SDK's)`);
}
