#!/usr/bin/env node
// Micro-benchmark of deriving a context with a span (issue #11, docs/performance.md "Per-request
// costs"): the API's `trace.setSpan` (BaseContext: a copy of the parent's Map and three closures
// per derive) against ours (`setSpan` of export/sdk-internals.ts: a one-key layer), three derives
// deep as a real-services request nests them (server span, startActiveSpan, fetch inject), each
// chain read back through `trace.getSpan` and one other key. Alternating rounds in one process;
// prints ns per derive (reads included), medians. Needs `npm run build` (tsc output in dist/).
//
// Env: BENCH_ROUNDS (5), BENCH_CALLS (1000000 chains per round and variant).
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { setSpan } from '../dist/instrumentation/export/sdk-internals.js';
import { envInt, median } from './common.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 5);
const CALLS = envInt('BENCH_CALLS', 1_000_000);
const span = trace.wrapSpanContext({
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: 1,
});
const KEY = Symbol.for('bench.context.key');
const base = ROOT_CONTEXT.setValue(KEY, 1);
const variants = {
  'api trace.setSpan': (c, s) => trace.setSpan(c, s),
  'ours (layer)': (c, s) => setSpan(c, s),
};
let found = 0;
function run(derive, n) {
  for (let i = 0; i < n; i++) {
    const c3 = derive(derive(derive(base, span), span), span);
    if (trace.getSpan(c3) === span && c3.getValue(KEY) === 1) found++;
  }
}
for (const derive of Object.values(variants)) run(derive, 200_000);
const results = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 1; r <= ROUNDS; r++) {
  for (const [name, derive] of Object.entries(variants)) {
    const t0 = process.hrtime.bigint();
    run(derive, CALLS);
    results[name].push(Number(process.hrtime.bigint() - t0) / CALLS / 3);
  }
}
if (found !== (ROUNDS * CALLS + 200_000) * 2) throw new Error('a derived context lost its values');
console.log(
  `${process.version}: ns per derive (3 deep, reads included), median of ${ROUNDS}: ` +
    Object.entries(results)
      .map(([k, v]) => `${k} ${median(v).toFixed(1)}`)
      .join(', '),
);
