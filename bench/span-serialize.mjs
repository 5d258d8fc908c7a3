#!/usr/bin/env node
// Micro-benchmark of the OTLP trace encoding: a batch of server spans (the attributes
// http-server.ts sets, made by the real SDK) serialized by upstream's ProtobufTraceSerializer
// (@opentelemetry/otlp-transformer) and by ours (`dist/instrumentation/export/span-serializer.js`),
// interleaved round by round in one process. Prints µs per span for each and the ratio
// ours / upstream per round and its median. Then the batch processors: the SDK's
// BatchSpanProcessor against ours (`span-batch-processor.js`), ns per span end, the exporter
// answering at once (what a span end costs the request, not the export). Needs `npm run build`.
//
// Env: BENCH_ROUNDS (9), BENCH_BATCH (512 spans per request), BENCH_BATCHES (200 requests per
//      round and serializer), BENCH_EVENTS=1 gives every span an event and a link too.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SpanBatchProcessor } from '../dist/instrumentation/export/span-batch-processor.js';
import { serializeSpans } from '../dist/instrumentation/export/span-serializer.js';
import { envInt, median } from './common.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 9);
const BATCH = envInt('BENCH_BATCH', 512);
const BATCHES = envInt('BENCH_BATCHES', 200);
const EVENTS = process.env.BENCH_EVENTS === '1';

function makeSpans(n) {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'bench-span-serialize',
      'service.version': '1.0.0',
      'service.instance.id': '6c1f7c1e-6b8e-4a8e-9f0e-3f1d2c4b5a69',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '2.12.0',
      'host.name': 'bench-host',
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
    }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('echoes-otel-http', '0.1.0');
  for (let i = 0; i < n; i++) {
    const span = tracer.startSpan('GET /sessions/:id', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'url.scheme': 'http',
        'url.path': `/sessions/${i % 97}`,
        'user_agent.original': 'autocannon/7.15.0',
      },
    });
    span.setAttribute('http.response.status_code', i % 50 === 0 ? 500 : 200);
    span.setAttribute('http.route', '/sessions/:id');
    if (i % 50 === 0) {
      span.setAttribute('error.type', '500');
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (EVENTS) {
      span.addEvent('cache.lookup', { 'cache.name': 'sessions', 'cache.result': 'hit' });
      span.addLink({ context: span.spanContext(), attributes: { 'link.kind': 'follows' } });
    }
    span.end();
  }
  return memory.getFinishedSpans();
}

const spans = makeSpans(BATCH);
const upstream = (b) => ProtobufTraceSerializer.serializeRequest(b);
const ours = (b) => serializeSpans(b);

// Same bytes, or the comparison means nothing.
if (!Buffer.from(ours(spans)).equals(Buffer.from(upstream(spans)))) {
  console.error('span-serialize: our bytes differ from upstream’s; not measuring');
  process.exit(1);
}

let sink = 0;
function run(serialize) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < BATCHES; i++) sink += serialize(spans).length;
  return Number(process.hrtime.bigint() - t0) / 1000 / (BATCHES * BATCH);
}

// Warm-up: both fully optimized before the first measured round.
for (let i = 0; i < 3; i++) {
  run(upstream);
  run(ours);
}

const rows = [];
for (let r = 0; r < ROUNDS; r++) {
  // Order alternates so neither always runs right after a GC of the other's garbage.
  const [u, o] = r % 2 === 0 ? [run(upstream), run(ours)] : [run(ours), run(upstream)].reverse();
  rows.push({ upstream: u, ours: o, ratio: o / u });
}

const bytes = ours(spans).length;
console.log(
  `span-serialize: node ${process.versions.node}, ${BATCH} spans per request (${bytes} bytes, ${(bytes / BATCH).toFixed(0)} per span)${EVENTS ? ', each with an event and a link' : ''}, ${BATCHES} requests per round`,
);
console.log('round  upstream µs/span  ours µs/span  ours/upstream');
rows.forEach((row, i) =>
  console.log(
    `${String(i + 1).padStart(5)}  ${row.upstream.toFixed(3).padStart(16)}  ${row.ours.toFixed(3).padStart(12)}  ${row.ratio.toFixed(2).padStart(13)}`,
  ),
);
console.log(
  `median: upstream ${median(rows.map((r) => r.upstream)).toFixed(3)} µs/span, ours ${median(rows.map((r) => r.ours)).toFixed(3)} µs/span, ours/upstream ${median(rows.map((r) => r.ratio)).toFixed(2)}×`,
);

// ---------------------------------------------------------------- batch processors, per span end
const PROCESSOR_OPTIONS = {
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 10_000,
};
const SPAN_ENDS = 200_000;
const instantExporter = {
  export(batch, done) {
    sink += batch.length;
    done({ code: 0 });
  },
  shutdown: async () => undefined,
};
async function runProcessor(Processor) {
  const p = new Processor(instantExporter, PROCESSOR_OPTIONS);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < SPAN_ENDS; i++) p.onEnd(spans[i % BATCH]);
  const ns = Number(process.hrtime.bigint() - t0) / SPAN_ENDS;
  await p.shutdown();
  return ns;
}
for (let i = 0; i < 3; i++) {
  await runProcessor(BatchSpanProcessor);
  await runProcessor(SpanBatchProcessor);
}
const prows = [];
for (let r = 0; r < ROUNDS; r++) {
  const sdk = await runProcessor(BatchSpanProcessor);
  const lean = await runProcessor(SpanBatchProcessor);
  prows.push({ sdk, lean, ratio: lean / sdk });
}
console.log(
  `processor: ${SPAN_ENDS} span ends per round; median: SDK BatchSpanProcessor ${median(prows.map((r) => r.sdk)).toFixed(0)} ns/span, ours ${median(prows.map((r) => r.lean)).toFixed(0)} ns/span, ours/SDK ${median(prows.map((r) => r.ratio)).toFixed(2)}×`,
);
if (sink === 0) console.log('');
