import { createRequire } from 'node:module';
import { context, trace, type Attributes, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OpenAIInstrumentation as UpstreamOpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import { createGenAiMetric } from '../../../../instrumentation/signals/genai-metrics.js';
import {
  OPENAI_SCOPE,
  OpenAIInstrumentation,
} from '../../../../instrumentation/signals/genai-openai.js';
import { startOpenAIServer, tokens, type OpenAIServer } from '../../../helpers/openai-server.js';

import type * as OpenAIModule from 'openai';

// Ours against upstream's instrumentation-openai on the same calls, through the real `openai`
// client (5, and 4 and 6 from their npm aliases) against the local OpenAI-compatible server (real HTTP):
// the same span names, kinds, attributes and statuses, and the same metric points.

const require = createRequire(import.meta.url);
const CLIENTS: Record<string, unknown> = {
  openai5: require('openai'),
  openai4: require('openai-4'),
  openai6: require('openai-6'),
};

const PROMPT = 'say hello to the tests';
const REPLY = 'Hello from the local model.';
let server: OpenAIServer;
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  server = await startOpenAIServer({ reply: REPLY });
});

afterAll(async () => {
  await server?.close();
  context.disable();
});

interface Patchable {
  getModuleDefinitions(): Array<{
    patch?: (exports: unknown, version?: string) => unknown;
    unpatch?: (exports: unknown, version?: string) => void;
  }>;
  setTracerProvider(tp: BasicTracerProvider): void;
  setMeterProvider(mp: MeterProvider): void;
  setLoggerProvider(lp: LoggerProvider): void;
}

interface Run {
  spans: ReadableSpan[];
  logs: number;
  points: Record<string, Array<{ attributes: Attributes; count: number; sum: number }>>;
}

/** The calls: plain (with request parameters), streamed with usage, failed, embeddings. */
async function calls(exports: unknown): Promise<void> {
  const { OpenAI } = exports as typeof OpenAIModule;
  const client = new OpenAI({ apiKey: server.apiKey, baseURL: server.baseURL, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: PROMPT }];
  await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    temperature: 0.2,
    top_p: 0.9,
    max_tokens: 64,
    stop: 'END',
    presence_penalty: 0.1,
    frequency_penalty: 0.3,
  });
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of stream) void _;
  await expect(client.chat.completions.create({ model: 'error-429', messages })).rejects.toThrow(
    /429/,
  );
  await client.embeddings.create({ model: 'text-embedding-3-small', input: PROMPT });
}

async function run(
  make: (tp: BasicTracerProvider, mp: MeterProvider, lp: LoggerProvider) => Patchable,
  exports: unknown,
): Promise<Run> {
  const spans = new InMemorySpanExporter();
  const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metrics,
    exportIntervalMillis: 3_600_000,
  });
  const mp = new MeterProvider({ readers: [reader] });
  const logs = new InMemoryLogRecordExporter();
  const lp = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs })] });
  const i = make(tp, mp, lp);
  const def = i.getModuleDefinitions()[0]!;
  def.patch!(exports);
  try {
    const outer = tp.getTracer('test').startSpan('outer');
    await context.with(trace.setSpan(context.active(), outer), () => calls(exports));
    outer.end();
    // Spans end in the instrumentation's own promise handlers: wait for the five.
    const deadline = Date.now() + 5000;
    while (spans.getFinishedSpans().length < 5 && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
  } finally {
    def.unpatch!(exports);
  }
  await reader.forceFlush();
  const points: Run['points'] = {};
  for (const m of metrics
    .getMetrics()
    .flatMap((r) => r.scopeMetrics)
    .flatMap((s) => s.metrics)) {
    points[m.descriptor.name] = (m.dataPoints as Array<DataPoint<Histogram>>).map((p) => ({
      attributes: p.attributes,
      count: p.value.count,
      sum: p.value.sum ?? 0,
    }));
  }
  await mp.shutdown();
  return { spans: spans.getFinishedSpans(), logs: logs.getFinishedLogRecords().length, points };
}

/** A span as compared: what varies per call (ids, times) left out or reduced to its shape. */
function shape(s: ReadableSpan) {
  const attributes = { ...s.attributes };
  if (typeof attributes['gen_ai.response.id'] === 'string')
    attributes['gen_ai.response.id'] = attributes['gen_ai.response.id'].replace(/-\w+$/, '-*');
  return {
    name: s.name,
    kind: s.kind,
    attributes,
    status: s.status,
    parent: s.parentSpanContext?.spanId !== undefined,
  };
}

const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

const sortPoints = (ps: Run['points'][string] = []) =>
  [...ps]
    // Durations differ run to run: the attribute sets and counts are compared.
    .map((p) => ({ attributes: p.attributes, count: p.count }))
    .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes)));

describe('OpenAIInstrumentation', () => {
  for (const [version, exports] of Object.entries(CLIENTS)) {
    it(`makes the spans and metric points upstream's instrumentation-openai makes, on ${version} (plain, streamed, failed, embeddings)`, async () => {
      const upstream = await run((tp, mp, lp) => {
        const u = new UpstreamOpenAIInstrumentation();
        u.setTracerProvider(tp);
        u.setMeterProvider(mp);
        u.setLoggerProvider(lp);
        return u as unknown as Patchable;
      }, exports);
      const ours = await run((tp, mp) => {
        const o = new OpenAIInstrumentation(createGenAiMetric({ meterProvider: mp }));
        o.setTracerProvider(tp);
        return o as unknown as Patchable;
      }, exports);

      const gen = (r: Run) =>
        r.spans
          .filter((s) => s.name !== 'outer')
          .map(shape)
          .sort(byName);
      expect(gen(upstream)).toHaveLength(4);
      expect(gen(ours)).toEqual(gen(upstream));
      // Every one under the caller's span.
      for (const s of ours.spans.filter((x) => x.name !== 'outer'))
        expect(s.parentSpanContext?.spanId).toBe(
          ours.spans.find((x) => x.name === 'outer')!.spanContext().spanId,
        );
      const plain = ours.spans.find(
        (s) => s.attributes['gen_ai.request.temperature'] !== undefined,
      )!;
      expect(plain.attributes).toMatchObject({
        'gen_ai.usage.input_tokens': tokens(PROMPT),
        'gen_ai.usage.output_tokens': tokens(REPLY),
        'gen_ai.request.stop_sequences': ['END'],
      });
      // Upstream emits events with empty bodies when content capture is off; ours none.
      expect(upstream.logs).toBeGreaterThan(0);
      expect(ours.logs).toBe(0);

      for (const name of ['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']) {
        expect(sortPoints(ours.points[name]), name).toEqual(sortPoints(upstream.points[name]));
      }
      const tokenSums = (r: Run) =>
        Object.fromEntries(
          (r.points['gen_ai.client.token.usage'] ?? []).map((p) => [
            `${String(p.attributes['gen_ai.request.model'])}/${String(p.attributes['gen_ai.token.type'])}`,
            p.sum,
          ]),
        );
      expect(tokenSums(ours)).toEqual(tokenSums(upstream));
      // Nothing of the API key anywhere.
      expect(JSON.stringify(ours.spans.map((s) => s.attributes))).not.toContain(server.apiKey);
    });
  }

  for (const version of ['openai5', 'openai6']) {
    it(`makes upstream's spans and metric points for the Responses API on ${version} (plain and streamed), with no instructions on the span unless capturing content`, async () => {
      const exports = CLIENTS[version] as typeof OpenAIModule;
      const response = {
        id: 'resp_1',
        object: 'response',
        created_at: 1,
        status: 'completed',
        model: 'gpt-4o-mini-2024-07-18',
        output: [
          {
            type: 'message',
            id: 'msg_1',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: REPLY, annotations: [] }],
          },
        ],
        usage: { input_tokens: 5, output_tokens: 5, total_tokens: 10 },
      };
      const responsesFetch = async (_url: string | URL | Request, init?: RequestInit) => {
        const body = JSON.parse(String(init?.body)) as { stream?: boolean };
        if (!body.stream)
          return new Response(JSON.stringify(response), {
            headers: { 'content-type': 'application/json' },
          });
        const event = (type: string, extra: object) =>
          `event: ${type}\ndata: ${JSON.stringify({ type, ...extra })}\n\n`;
        const sse =
          event('response.created', {
            response: { ...response, status: 'in_progress', output: [], usage: null },
          }) +
          event('response.output_item.done', { output_index: 0, item: response.output[0] }) +
          event('response.completed', { response });
        return new Response(sse, { headers: { 'content-type': 'text/event-stream' } });
      };
      const responsesCalls = async (instructions?: string): Promise<void> => {
        const client = new exports.OpenAI({
          apiKey: 'sk-test-responses',
          baseURL: 'http://127.0.0.1:9/v1',
          maxRetries: 0,
          fetch: responsesFetch,
        });
        await client.responses.create({
          model: 'gpt-4o-mini',
          input: PROMPT,
          temperature: 0.5,
          ...(instructions ? { instructions } : {}),
        });
        const stream = await client.responses.create({
          model: 'gpt-4o-mini',
          input: PROMPT,
          stream: true,
        });
        for await (const _ of stream) void _;
      };
      const runResponses = async (
        make: (tp: BasicTracerProvider, mp: MeterProvider, lp: LoggerProvider) => Patchable,
        instructions?: string,
      ) => {
        const spans = new InMemorySpanExporter();
        const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
        const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
        const reader = new PeriodicExportingMetricReader({
          exporter: metrics,
          exportIntervalMillis: 3_600_000,
        });
        const mp = new MeterProvider({ readers: [reader] });
        const lp = new LoggerProvider();
        const i = make(tp, mp, lp);
        const def = i.getModuleDefinitions()[0]!;
        def.patch!(exports);
        try {
          await responsesCalls(instructions);
          const deadline = Date.now() + 5000;
          while (spans.getFinishedSpans().length < 2 && Date.now() < deadline)
            await new Promise((r) => setImmediate(r));
        } finally {
          def.unpatch!(exports);
        }
        await reader.forceFlush();
        const points = metrics
          .getMetrics()
          .flatMap((r) => r.scopeMetrics)
          .flatMap((x) => x.metrics)
          .flatMap((m) =>
            (m.dataPoints as Array<DataPoint<Histogram>>).map((p) => ({
              name: m.descriptor.name,
              attributes: p.attributes,
              count: p.value.count,
              sum: m.descriptor.name === 'gen_ai.client.token.usage' ? p.value.sum : undefined,
            })),
          )
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
        await mp.shutdown();
        return { spans: spans.getFinishedSpans().map(shape), points };
      };
      const upstream = await runResponses((tp, mp, lp) => {
        const u = new UpstreamOpenAIInstrumentation();
        u.setTracerProvider(tp);
        u.setMeterProvider(mp);
        u.setLoggerProvider(lp);
        return u as unknown as Patchable;
      });
      const ours = await runResponses((tp, mp) => {
        const o = new OpenAIInstrumentation(createGenAiMetric({ meterProvider: mp }));
        o.setTracerProvider(tp);
        return o as unknown as Patchable;
      });
      expect(upstream.spans).toHaveLength(2);
      expect(upstream.spans[0]!.attributes).toMatchObject({
        'gen_ai.provider.name': 'openai',
        'gen_ai.usage.output_tokens': 5,
        'gen_ai.response.finish_reasons': ['stop'],
      });
      expect(ours.spans).toEqual(upstream.spans);
      expect(ours.points).toEqual(upstream.points);

      const instructed = await runResponses((tp, mp) => {
        const o = new OpenAIInstrumentation(createGenAiMetric({ meterProvider: mp }));
        o.setTracerProvider(tp);
        return o as unknown as Patchable;
      }, 'you are a secret agent');
      expect(JSON.stringify(instructed.spans)).not.toContain('secret agent');
    });
  }

  it('is the parent of the HTTP request of the call and a child of the active span', async () => {
    const spans = new InMemorySpanExporter();
    const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const o = new OpenAIInstrumentation(createGenAiMetric({}));
    o.setTracerProvider(tp);
    const exports = CLIENTS.openai5 as typeof OpenAIModule;
    const def = (o as unknown as Patchable).getModuleDefinitions()[0]!;
    def.patch!(exports);
    try {
      let inFetch: Span | undefined;
      const client = new exports.OpenAI({
        apiKey: server.apiKey,
        baseURL: server.baseURL,
        maxRetries: 0,
        fetch: (url: string | URL | Request, init?: RequestInit) => {
          inFetch = trace.getActiveSpan();
          return fetch(url, init);
        },
      });
      const outer = tp.getTracer('test').startSpan('outer');
      await context.with(trace.setSpan(context.active(), outer), () =>
        client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: PROMPT }],
        }),
      );
      outer.end();
      const deadline = Date.now() + 5000;
      while (spans.getFinishedSpans().length < 2 && Date.now() < deadline)
        await new Promise((r) => setImmediate(r));
      const chat = spans.getFinishedSpans().find((s) => s.name === 'chat gpt-4o-mini')!;
      expect(chat.instrumentationScope.name).toBe(OPENAI_SCOPE);
      expect(chat.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
      expect(inFetch?.spanContext().spanId).toBe(chat.spanContext().spanId);
    } finally {
      def.unpatch!(exports);
    }
  });

  it('ends a stream the app stops reading early, with what it read, and a failed stream with its error', async () => {
    const spans = new InMemorySpanExporter();
    const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const fast = createFastMetrics({ cardinalityLimit: 100 });
    const o = new OpenAIInstrumentation(createGenAiMetric({ fastMetrics: fast }));
    o.setTracerProvider(tp);
    const exports = CLIENTS.openai5 as typeof OpenAIModule;
    const def = (o as unknown as Patchable).getModuleDefinitions()[0]!;
    def.patch!(exports);
    try {
      const client = new exports.OpenAI({
        apiKey: server.apiKey,
        baseURL: server.baseURL,
        maxRetries: 0,
      });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: PROMPT }],
        stream: true,
      });
      for await (const _ of stream) break;
      expect(spans.getFinishedSpans()).toHaveLength(1);
      expect(spans.getFinishedSpans()[0]!.attributes['gen_ai.response.model']).toBe(
        'gpt-4o-mini-2024-07-18',
      );

      // A stream whose body breaks mid-way (the server cuts the connection after a chunk).
      const broken = new exports.OpenAI({
        apiKey: 'sk-test-broken',
        baseURL: 'http://127.0.0.1:9/v1',
        maxRetries: 0,
        fetch: async () => {
          const body = new ReadableStream<Uint8Array>({
            start(c) {
              c.enqueue(
                new TextEncoder().encode(
                  `data: ${JSON.stringify({ id: 'c1', model: 'm1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] })}\n\n`,
                ),
              );
              c.error(new TypeError('terminated'));
            },
          });
          return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
        },
      });
      const s2 = await broken.chat.completions.create({
        model: 'm1',
        messages: [{ role: 'user', content: PROMPT }],
        stream: true,
      });
      await expect(
        (async () => {
          for await (const _ of s2) void _;
        })(),
      ).rejects.toThrow(/terminated/);
      const failed = spans.getFinishedSpans().find((s) => s.name === 'chat m1')!;
      expect(failed.status.code).toBe(2);
      expect(failed.attributes['error.type']).toBe('TypeError');
      const { resourceMetrics } = await fast.producer.collect();
      const duration = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === 'gen_ai.client.operation.duration')!;
      expect(duration.dataPoints.map((p) => p.attributes['error.type'])).toContain('TypeError');
    } finally {
      def.unpatch!(exports);
    }
  });

  it('emits upstream’s content events only when content capture is on', async () => {
    const logs = new InMemoryLogRecordExporter();
    const lp = new LoggerProvider({
      processors: [new SimpleLogRecordProcessor({ exporter: logs })],
    });
    const tp = new BasicTracerProvider();
    const o = new OpenAIInstrumentation(createGenAiMetric({}), { captureMessageContent: true });
    o.setTracerProvider(tp);
    o.setLoggerProvider(lp);
    const exports = CLIENTS.openai5 as typeof OpenAIModule;
    const def = (o as unknown as Patchable).getModuleDefinitions()[0]!;
    def.patch!(exports);
    try {
      const client = new exports.OpenAI({
        apiKey: server.apiKey,
        baseURL: server.baseURL,
        maxRetries: 0,
      });
      const messages = [
        { role: 'system' as const, content: 'be brief' },
        { role: 'user' as const, content: PROMPT },
      ];
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
      });
      for await (const _ of stream) void _;
      const deadline = Date.now() + 5000;
      while (logs.getFinishedLogRecords().length < 6 && Date.now() < deadline)
        await new Promise((r) => setImmediate(r));
      const events = logs.getFinishedLogRecords().map((r) => ({
        name: r.attributes['event.name'],
        body: r.body,
      }));
      expect(events).toEqual([
        { name: 'gen_ai.system.message', body: { content: 'be brief' } },
        { name: 'gen_ai.user.message', body: { content: PROMPT } },
        {
          name: 'gen_ai.choice',
          body: { finish_reason: 'stop', index: 0, message: { content: REPLY } },
        },
        { name: 'gen_ai.system.message', body: { content: 'be brief' } },
        { name: 'gen_ai.user.message', body: { content: PROMPT } },
        {
          name: 'gen_ai.choice',
          body: { finish_reason: 'stop', index: 0, message: { content: REPLY } },
        },
      ]);
    } finally {
      def.unpatch!(exports);
    }
  });
});
