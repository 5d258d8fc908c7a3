#!/usr/bin/env node
// Per-call CPU of the openai instrumentation alone (docs/performance.md, "openai: our own
// instrumentation"): the real `openai` client (5) answered in process by its `fetch` option (no
// socket, so the HTTP stack's cost and its noise stay out), N sequential chat completions, each
// inside a parent span, with the SDK's BatchSpanProcessor and a discarding exporter, in one child
// process per variant, interleaved round by round, medians:
//   none      the client and the parent span only
//   upstream  @opentelemetry/instrumentation-openai as echoes-otel ran it before (no-op meter and
//             logger, GenAI metrics recorded from its spans by genai-metrics.ts' tracer wrapper)
//   ours      genai-openai.ts through genai.ts, metrics on fast-metrics
// Needs `npm run build` (it loads dist/instrumentation). Prints a table.
//
//   BENCH_ROUNDS=5 BENCH_CALLS=5000 BENCH_STREAM=1 node bench/genai-openai.mjs
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, median } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const CALLS = envInt('BENCH_CALLS', 5000);
const STREAM = process.env.BENCH_STREAM === '1';

const CHILD = String.raw`
const variant = process.argv[1];
const n = Number(process.argv[2]);
const stream = process.argv[3] === '1';
const root = process.argv[4];
const { createRequire } = require('node:module');
const req = createRequire(root + '/package.json');
const { context, createNoopMeter } = req('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = req('@opentelemetry/context-async-hooks');
const { BasicTracerProvider, BatchSpanProcessor } = req('@opentelemetry/sdk-trace-base');
const { createNoopLogger } = req('@opentelemetry/api-logs');
(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  let exported = 0;
  const exporter = { export: (spans, done) => { exported += spans.length; done({ code: 0 }); }, shutdown: async () => {} };
  const tp = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const { createFastMetrics } = await import(root + '/dist/instrumentation/signals/fast-metrics.js');
  const fast = createFastMetrics({ cardinalityLimit: 2000 });
  const openai = req('openai');
  let inst;
  if (variant === 'ours') {
    const { loadConfig } = await import(root + '/dist/instrumentation/config/config.js');
    const { createGenAiInstrumentation } = await import(root + '/dist/instrumentation/signals/genai.js');
    const { config } = loadConfig({}, { env: {}, cwd: root });
    inst = createGenAiInstrumentation(config, { tracerProvider: tp, fastMetrics: fast });
  } else if (variant === 'upstream') {
    const { OpenAIInstrumentation } = req('@opentelemetry/instrumentation-openai');
    const { withGenAiClientMetrics } = await import(root + '/dist/instrumentation/signals/genai-metrics.js');
    const NOOP = createNoopMeter();
    class Metered extends OpenAIInstrumentation {
      get meter() { return NOOP; }
    }
    inst = new Metered();
    inst.setConfig({ captureMessageContent: false });
    inst.setTracerProvider(withGenAiClientMetrics(tp, fast));
    inst.setLoggerProvider({ getLogger: () => createNoopLogger() });
    // Creates its (no-op) instruments, as the SDK's setMeterProvider call did.
    inst.setMeterProvider({ getMeter: () => NOOP });
  }
  if (inst) inst.getModuleDefinitions()[0].patch(openai);
  const usage = { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 };
  const base = { id: 'chatcmpl-1', created: 1, model: 'gpt-4o-mini-2024-07-18' };
  const plain = JSON.stringify({ ...base, object: 'chat.completion', usage,
    choices: [{ index: 0, message: { role: 'assistant', content: 'hi there', refusal: null }, finish_reason: 'stop', logprobs: null }] });
  const chunk = (choices, extra = {}) => 'data: ' + JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra }) + '\n\n';
  const sse = chunk([{ index: 0, delta: { role: 'assistant', content: 'hi there' }, finish_reason: null }]) +
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) + chunk([], { usage }) + 'data: [DONE]\n\n';
  const client = new openai.OpenAI({
    apiKey: 'sk-bench', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0,
    fetch: async () => stream
      ? new Response(sse, { headers: { 'content-type': 'text/event-stream' } })
      : new Response(plain, { headers: { 'content-type': 'application/json' } }),
  });
  const tracer = tp.getTracer('bench');
  const messages = [{ role: 'user', content: 'hi there' }];
  const call = async () => {
    if (!stream) return client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
    for await (const _ of s) void _;
  };
  const one = () => tracer.startActiveSpan('request', async (span) => { await call(); span.end(); });
  for (let i = 0; i < 500; i++) await one();
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await one();
  const d = process.cpuUsage(t0);
  await tp.shutdown();
  // A control: every call made its span (and only the parent span without an instrumentation).
  const want = (n + 500) * (variant === 'none' ? 1 : 2);
  if (exported !== want) throw new Error(variant + ': ' + exported + ' spans exported, ' + want + ' expected');
  console.log(((d.user + d.system) / n).toFixed(2));
})();
`;

function run(variant) {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['-e', CHILD, variant, String(CALLS), STREAM ? '1' : '0', root],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`${variant} exited ${code}`)),
    );
  });
}

const variants = ['none', 'upstream', 'ours'];
const results = Object.fromEntries(variants.map((v) => [v, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < variants.length; i++) {
    const v = variants[(i + r) % variants.length];
    results[v].push(await run(v));
  }
}
const none = median(results.none);
console.log(
  `Node ${process.versions.node}, ${STREAM ? 'streamed' : 'plain'} chat completions, ${CALLS} calls per run, ${ROUNDS} interleaved rounds, medians; CPU µs per call\n`,
);
console.log('| variant | µs/call | added by the instrumentation |');
console.log('|---|---:|---:|');
for (const v of variants) {
  const m = median(results[v]);
  console.log(`| ${v} | ${m.toFixed(1)} | ${v === 'none' ? '' : `+${(m - none).toFixed(1)}`} |`);
}
