import { createRequire } from 'node:module';
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
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import {
  createGenAiInstrumentation,
  redactingLoggerProvider,
} from '../../../../instrumentation/signals/genai.js';
import { createRedactor } from '../../../../instrumentation/redact.js';

import type * as OpenAIModule from 'openai';

const require = createRequire(import.meta.url);

describe('redactingLoggerProvider', () => {
  it('redacts the body and attributes of captured GenAI content before any processor sees them', () => {
    const exporter = new InMemoryLogRecordExporter();
    const lp = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
    const logger = redactingLoggerProvider(lp, createRedactor(['api_key'])).getLogger('genai');
    const body = { content: 'my key is sk-abcdefghijklmnopqrstuvwx, api_key: x', role: 'user' };
    logger.emit({
      body: { ...body, api_key: 'sk-zzzzzzzzzzzzzzzzzzzzzzzz' },
      attributes: { 'event.name': 'gen_ai.user.message', authorization: 'Bearer abc.def.ghi' },
    });
    const [rec] = exporter.getFinishedLogRecords();
    expect(JSON.stringify(rec!.body)).not.toMatch(/sk-[a-z]{16}/);
    expect(rec!.body).toMatchObject({ role: 'user', api_key: '[REDACTED]' });
    expect(rec!.attributes['event.name']).toBe('gen_ai.user.message');
    expect(String(rec!.attributes.authorization)).not.toContain('abc.def.ghi');
  });
});

/** OpenAI's answers, served in process through the client's `fetch` option (no socket). */
function modelFetch(): typeof fetch {
  const usage = { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 };
  const base = { id: 'chatcmpl-1', created: 1, model: 'gpt-4o-mini-2024-07-18' };
  return async (_url, init) => {
    const body = JSON.parse(String(init?.body)) as { model: string; stream?: boolean };
    if (body.model === 'limited') {
      const error = { message: 'slow down', type: 'requests', param: null, code: null };
      return new Response(JSON.stringify({ error }), {
        status: 429,
        headers: { 'content-type': 'application/json' },
      });
    }
    if (body.stream === true) {
      const chunk = (choices: unknown[], extra = {}) =>
        `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
      const sse =
        chunk([
          { index: 0, delta: { role: 'assistant', content: 'hi there' }, finish_reason: null },
        ]) +
        chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) +
        chunk([], { usage }) +
        'data: [DONE]\n\n';
      return new Response(sse, { headers: { 'content-type': 'text/event-stream' } });
    }
    const message = { role: 'assistant', content: 'hi there', refusal: null };
    const result = {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message, finish_reason: 'stop', logprobs: null }],
      usage,
    };
    return new Response(JSON.stringify(result), {
      headers: { 'content-type': 'application/json' },
    });
  };
}

describe('createGenAiInstrumentation', () => {
  it('records the GenAI metrics of real openai calls (plain, streamed, failed) once each, through fast metrics with exemplars, and none through the SDK meter', async () => {
    const spans = new InMemorySpanExporter();
    const tp = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const sdkMetrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({
      exporter: sdkMetrics,
      exportIntervalMillis: 3_600_000,
    });
    const mp = new MeterProvider({ readers: [reader] });
    const fast = createFastMetrics({ cardinalityLimit: 2000 });
    const { config } = loadConfig({}, { env: {}, cwd: process.cwd() });
    const i = createGenAiInstrumentation(config, {
      tracerProvider: tp,
      meterProvider: mp,
      fastMetrics: fast,
    });
    i.enable();
    try {
      const { OpenAI } = require('openai') as typeof OpenAIModule;
      const client = new OpenAI({
        apiKey: 'sk-test-unit',
        baseURL: 'http://127.0.0.1:9/v1',
        maxRetries: 0,
        fetch: modelFetch(),
      });
      const messages = [{ role: 'user' as const, content: 'say hi' }];
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const _ of stream) void _;
      await expect(client.chat.completions.create({ model: 'limited', messages })).rejects.toThrow(
        /429/,
      );

      // The spans end in the instrumentation's own promise handlers: wait for all three.
      for (let n = 0; spans.getFinishedSpans().length < 3 && n < 100; n++)
        await new Promise((r) => setImmediate(r));
      const chats = spans.getFinishedSpans();
      expect(chats.map((s) => s.name)).toEqual([
        'chat gpt-4o-mini',
        'chat gpt-4o-mini',
        'chat limited',
      ]);

      await reader.forceFlush();
      const sdkNames = sdkMetrics
        .getMetrics()
        .flatMap((r) => r.scopeMetrics)
        .flatMap((s) => s.metrics)
        .map((m) => m.descriptor.name);
      expect(sdkNames.filter((n) => n.startsWith('gen_ai.'))).toEqual([]);

      const { resourceMetrics } = await fast.producer.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const points = (name: string) =>
        metrics.find((m) => m.descriptor.name === name)!.dataPoints as Array<
          DataPoint<Histogram> & { exemplars?: Array<{ traceId: string; spanId: string }> }
        >;
      const duration = points('gen_ai.client.operation.duration');
      const ok = duration.find((p) => p.attributes['error.type'] === undefined)!;
      expect(ok.attributes).toEqual({
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
        'gen_ai.system': 'openai',
        'server.address': '127.0.0.1',
        'server.port': 9,
      });
      expect(ok.value.count).toBe(2);
      const failed = duration.find((p) => p.attributes['error.type'] !== undefined)!;
      expect(failed.attributes).toMatchObject({
        'gen_ai.request.model': 'limited',
        'error.type': 'RateLimitError',
      });
      expect(failed.value.count).toBe(1);
      // Every exemplar names one of the exported chat spans.
      const ids = new Set(chats.map((s) => `${s.spanContext().traceId}/${s.spanContext().spanId}`));
      const exemplars = duration.flatMap((p) => p.exemplars ?? []);
      expect(exemplars.length).toBeGreaterThan(0);
      for (const e of exemplars) expect(ids.has(`${e.traceId}/${e.spanId}`)).toBe(true);

      const tokens = points('gen_ai.client.token.usage');
      const sums = Object.fromEntries(
        tokens.map((p) => [String(p.attributes['gen_ai.token.type']), p.value.sum]),
      );
      // Plain and streamed calls: 4 + 4 in, 2 + 2 out.
      expect(sums).toEqual({ input: 8, output: 4 });
    } finally {
      i.disable();
      await mp.shutdown();
    }
  });
});
