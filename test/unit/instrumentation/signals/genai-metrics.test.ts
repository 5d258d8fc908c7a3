import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import type { ExemplarData } from '../../../../instrumentation/export/exemplar-serializer.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import {
  GENAI_DURATION_BUCKETS,
  GENAI_TOKEN_BUCKETS,
  withGenAiClientMetrics,
} from '../../../../instrumentation/signals/genai-metrics.js';

type Point = DataPoint<Histogram> & { exemplars?: ExemplarData[] };

function setup(sampled = true) {
  const spans = new InMemorySpanExporter();
  const tp = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spans)],
    ...(sampled ? {} : { sampler: new AlwaysOffSampler() }),
  });
  const fast = createFastMetrics({ cardinalityLimit: 2000 });
  const tracer = withGenAiClientMetrics(tp, fast).getTracer(
    '@opentelemetry/instrumentation-openai',
  );
  const collect = async () => {
    const { resourceMetrics } = await fast.producer.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const of = (name: string) => {
      const m = metrics.find((x) => x.descriptor.name === name);
      return { descriptor: m?.descriptor, points: (m?.dataPoints ?? []) as Point[] };
    };
    return {
      duration: of('gen_ai.client.operation.duration'),
      tokens: of('gen_ai.client.token.usage'),
    };
  };
  return { tracer, spans, collect };
}

/** What instrumentation-openai puts on a chat span at its start (its `commonAttrs` + request). */
const CHAT_START: Attributes = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': 'gpt-4o-mini',
  'gen_ai.system': 'openai',
  'server.address': '127.0.0.1',
  'server.port': 4000,
  'gen_ai.request.temperature': 0.2,
};
const COMMON = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': 'gpt-4o-mini',
  'gen_ai.system': 'openai',
  'server.address': '127.0.0.1',
  'server.port': 4000,
};

describe('withGenAiClientMetrics', () => {
  it('records the duration and token usage of a GenAI client span with upstream’s attributes, buckets and units, and the span as exemplar', async () => {
    const { tracer, spans, collect } = setup();
    const span = tracer.startSpan('chat gpt-4o-mini', {
      kind: SpanKind.CLIENT,
      attributes: CHAT_START,
    });
    span.setAttribute('gen_ai.response.id', 'chatcmpl-1');
    span.setAttribute('gen_ai.response.model', 'gpt-4o-mini-2024-07-18');
    span.setAttribute('gen_ai.usage.input_tokens', 12);
    span.setAttribute('gen_ai.usage.output_tokens', 300);
    span.end();

    const [exported] = spans.getFinishedSpans();
    expect(exported!.attributes['gen_ai.usage.output_tokens']).toBe(300);
    const { traceId, spanId } = span.spanContext();
    const { duration, tokens } = await collect();

    expect(duration.descriptor).toMatchObject({
      unit: 's',
      description: 'GenAI operation duration',
    });
    expect(duration.points).toHaveLength(1);
    const d = duration.points[0]!;
    expect(d.attributes).toEqual({ ...COMMON, 'gen_ai.response.model': 'gpt-4o-mini-2024-07-18' });
    expect(d.value.count).toBe(1);
    expect(d.value.buckets.boundaries).toEqual(GENAI_DURATION_BUCKETS);
    expect(d.exemplars).toEqual([
      { value: d.value.sum, timeMs: expect.any(Number), traceId, spanId },
    ]);

    expect(tokens.descriptor).toMatchObject({
      unit: '{token}',
      description: 'Measures number of input and output tokens used',
    });
    const byType = Object.fromEntries(
      tokens.points.map((p) => [String(p.attributes['gen_ai.token.type']), p]),
    );
    expect(Object.keys(byType).sort()).toEqual(['input', 'output']);
    expect(byType.input!.attributes).toEqual({
      ...COMMON,
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.token.type': 'input',
    });
    expect(byType.input!.value.sum).toBe(12);
    expect(byType.output!.value.sum).toBe(300);
    expect(byType.output!.value.buckets.boundaries).toEqual(GENAI_TOKEN_BUCKETS);
    expect(byType.output!.exemplars?.[0]).toMatchObject({ value: 300, traceId, spanId });
  });

  it('takes token usage set through setAttributes, as a responses stream reports it', async () => {
    const { tracer, collect } = setup();
    const span = tracer.startSpan('chat gpt-5', {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-5',
        'gen_ai.provider.name': 'openai',
      },
    });
    span.setAttributes({
      'gen_ai.response.model': 'gpt-5',
      'gen_ai.usage.input_tokens': 3,
      'gen_ai.usage.output_tokens': undefined,
    });
    span.end();
    const { duration, tokens } = await collect();
    expect(duration.points[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-5',
      'gen_ai.provider.name': 'openai',
      'gen_ai.response.model': 'gpt-5',
    });
    expect(tokens.points.map((p) => [p.attributes['gen_ai.token.type'], p.value.sum])).toEqual([
      ['input', 3],
    ]);
  });

  it('marks a failed call with its error.type (or _OTHER), records no tokens, and records once however often end() is called', async () => {
    const { tracer, collect } = setup();
    const failed = tracer.startSpan('chat gpt-4o-mini', {
      kind: SpanKind.CLIENT,
      attributes: CHAT_START,
    });
    // instrumentation-openai's order: status first, then the error class as error.type.
    failed.setStatus({ code: SpanStatusCode.ERROR, message: '429 Rate limit' });
    failed.setAttribute('error.type', 'RateLimitError');
    failed.end();
    failed.end();
    const bare = tracer.startSpan('embeddings e', {
      kind: SpanKind.CLIENT,
      attributes: { 'gen_ai.operation.name': 'embeddings', 'gen_ai.request.model': 'e' },
    });
    bare.setStatus({ code: SpanStatusCode.ERROR });
    bare.end();

    const { duration, tokens } = await collect();
    expect(tokens.points).toEqual([]);
    const byError = Object.fromEntries(
      duration.points.map((p) => [String(p.attributes['error.type']), p]),
    );
    expect(byError.RateLimitError!.attributes).toEqual({
      ...COMMON,
      'error.type': 'RateLimitError',
    });
    expect(byError.RateLimitError!.value.count).toBe(1);
    expect(byError._OTHER!.attributes).toEqual({
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.request.model': 'e',
      'error.type': '_OTHER',
    });
  });

  it('counts a call whose span the sampler dropped, from what the span was told, without an exemplar', async () => {
    const { tracer, spans, collect } = setup(false);
    const span = tracer.startSpan('chat gpt-4o-mini', {
      kind: SpanKind.CLIENT,
      attributes: CHAT_START,
    });
    expect(span.isRecording()).toBe(false);
    span.setAttribute('gen_ai.response.model', 'gpt-4o-mini');
    span.setAttribute('gen_ai.usage.output_tokens', 5);
    span.end();
    expect(spans.getFinishedSpans()).toEqual([]);
    const { duration, tokens } = await collect();
    expect(duration.points[0]!.attributes['gen_ai.response.model']).toBe('gpt-4o-mini');
    expect(duration.points[0]!.value.count).toBe(1);
    expect(duration.points[0]!.exemplars).toBeUndefined();
    expect(tokens.points[0]!.value.sum).toBe(5);
  });

  it('leaves spans that are not GenAI client spans alone', async () => {
    const { tracer, collect } = setup();
    tracer.startSpan('GET', { kind: SpanKind.CLIENT, attributes: { 'http.method': 'GET' } }).end();
    tracer.startSpan('internal', { attributes: { 'gen_ai.operation.name': 'chat' } }).end();
    const { duration, tokens } = await collect();
    expect(duration.points).toEqual([]);
    expect(tokens.points).toEqual([]);
  });
});
