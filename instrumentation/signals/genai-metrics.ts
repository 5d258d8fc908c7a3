import {
  SpanKind,
  type MeterProvider,
  SpanStatusCode,
  type AttributeValue,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { FastHistogram, FastMetrics } from '../feature.js';

/**
 * `gen_ai.client.operation.duration` and `gen_ai.client.token.usage` with exemplars (issue 14.3).
 * Our openai instrumentation (genai-openai.ts) records both through `createGenAiMetric`: slots
 * bound once per attribute set on fast-metrics, each record owned by its span (the exemplar's
 * trace and span id when sampled), or the SDK meter when there are no fast metrics.
 *
 * `withGenAiClientMetrics` does the same for an instrumentation that only makes spans (kept for
 * upstream's instrumentation-openai, which the tests compare ours with): its tracer is wrapped,
 * each GenAI client span it starts is timed from start to `end()` and recorded through
 * fast-metrics with the span as the exemplar's owner.
 *
 * The points are the ones upstream records: the same names, units, descriptions and semconv
 * advisory buckets, and the same attributes: the span's start attributes gen_ai.operation.name,
 * gen_ai.request.model, gen_ai.system (chat, embeddings) or gen_ai.provider.name (responses),
 * server.address, server.port; gen_ai.response.model once the response names it; error.type on a
 * failure (upstream sets it on the span; `_OTHER` when only the status says ERROR). Token usage:
 * one point per token type the span reports (gen_ai.usage.input_tokens / output_tokens, so a
 * stream counts only when it asked for usage), with gen_ai.token.type and without error.type.
 *
 * The values are read from the span's own setAttribute/setAttributes/setStatus calls, not from the
 * ended span, so a span the sampler dropped (a non-recording span keeps nothing) is counted alike.
 */

/** Semconv advisory buckets (upstream's `explicitBucketBoundaries`), seconds. */
export const GENAI_DURATION_BUCKETS: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** Semconv advisory buckets for token counts. */
export const GENAI_TOKEN_BUCKETS: readonly number[] = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

const OPERATION = 'gen_ai.operation.name';
const RESPONSE_MODEL = 'gen_ai.response.model';
const INPUT_TOKENS = 'gen_ai.usage.input_tokens';
const OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
const ERROR_TYPE = 'error.type';

/** Start attributes both instruments carry (upstream's `commonAttrs`). */
const COMMON_KEYS = [
  OPERATION,
  'gen_ai.request.model',
  'gen_ai.system',
  'gen_ai.provider.name',
  'server.address',
  'server.port',
] as const;

/** Set after start; captured from the span's setters. */
const LATE_KEYS: ReadonlySet<string> = new Set([
  RESPONSE_MODEL,
  INPUT_TOKENS,
  OUTPUT_TOKENS,
  ERROR_TYPE,
]);

/** The two instruments as upstream declares them; fast-metrics and the SDK meter use the same. */
const DURATION = {
  name: 'gen_ai.client.operation.duration',
  unit: 's',
  description: 'GenAI operation duration',
  boundaries: GENAI_DURATION_BUCKETS,
} as const;
const TOKENS = {
  name: 'gen_ai.client.token.usage',
  unit: '{token}',
  description: 'Measures number of input and output tokens used',
  boundaries: GENAI_TOKEN_BUCKETS,
} as const;

export interface GenAiInstruments {
  readonly duration: FastHistogram;
  readonly tokens: FastHistogram;
}

const instruments = new WeakMap<FastMetrics, GenAiInstruments>();

/** The two histograms, once per fast-metrics instance. */
export function genAiInstruments(fast: FastMetrics): GenAiInstruments {
  let i = instruments.get(fast);
  if (i === undefined) {
    i = {
      duration: fast.histogram(DURATION.name, DURATION),
      tokens: fast.histogram(TOKENS.name, TOKENS),
    };
    instruments.set(fast, i);
  }
  return i;
}

/** One attribute set's series: bind once, record per call. */
export interface GenAiSlot {
  record(value: number, span?: Span): void;
}

/** Both GenAI client histograms, bound per attribute set. */
export interface GenAiMetric {
  duration(attributes: Attributes): GenAiSlot;
  tokens(attributes: Attributes): GenAiSlot;
}

const NOOP_SLOT: GenAiSlot = { record() {} };

/** The two histograms on fast-metrics (preferred, with exemplars), else the SDK meter, else none. */
export function createGenAiMetric(p: {
  fastMetrics?: FastMetrics;
  meterProvider?: MeterProvider;
}): GenAiMetric {
  if (p.fastMetrics !== undefined) {
    const m = genAiInstruments(p.fastMetrics);
    return {
      duration: (attributes) => m.duration.bind(attributes),
      tokens: (attributes) => m.tokens.bind(attributes),
    };
  }
  if (p.meterProvider === undefined) return { duration: () => NOOP_SLOT, tokens: () => NOOP_SLOT };
  const meter = p.meterProvider.getMeter('echoes-otel/openai');
  const sdkHistogram = (i: typeof DURATION | typeof TOKENS) =>
    meter.createHistogram(i.name, {
      unit: i.unit,
      description: i.description,
      advice: { explicitBucketBoundaries: [...i.boundaries] },
    });
  const duration = sdkHistogram(DURATION);
  const tokens = sdkHistogram(TOKENS);
  const slot = (h: typeof duration, attributes: Attributes): GenAiSlot => {
    const frozen = Object.freeze({ ...attributes });
    return { record: (value) => h.record(value, frozen) };
  };
  return {
    duration: (attributes) => slot(duration, attributes),
    tokens: (attributes) => slot(tokens, attributes),
  };
}

/** What the span was told after its start, as far as the metrics need it. */
interface Late {
  [RESPONSE_MODEL]?: AttributeValue;
  [INPUT_TOKENS]?: AttributeValue;
  [OUTPUT_TOKENS]?: AttributeValue;
  [ERROR_TYPE]?: AttributeValue;
  failed: boolean;
}

/** The points one ended GenAI span makes: duration attributes, and tokens per type. */
export function genAiPoints(
  start: Attributes,
  late: Late,
): { duration: Attributes; tokens: Array<[number, Attributes]> } {
  const common: Attributes = {};
  for (const k of COMMON_KEYS) {
    const v = start[k];
    if (v !== undefined && v !== null) common[k] = v;
  }
  const model = late[RESPONSE_MODEL];
  if (model !== undefined && model !== null && model !== '') common[RESPONSE_MODEL] = model;
  const duration: Attributes = { ...common };
  const errorType = late[ERROR_TYPE] ?? start[ERROR_TYPE];
  if (errorType !== undefined && errorType !== null) duration[ERROR_TYPE] = errorType;
  else if (late.failed) duration[ERROR_TYPE] = '_OTHER';
  const tokens: Array<[number, Attributes]> = [];
  const input = late[INPUT_TOKENS];
  const output = late[OUTPUT_TOKENS];
  if (typeof input === 'number' && input >= 0)
    tokens.push([input, { ...common, 'gen_ai.token.type': 'input' }]);
  if (typeof output === 'number' && output >= 0)
    tokens.push([output, { ...common, 'gen_ai.token.type': 'output' }]);
  return { duration, tokens };
}

function track(span: Span, start: Attributes, m: GenAiInstruments): Span {
  const t0 = performance.now();
  const late: Late = { failed: false };
  const { setAttribute, setAttributes, setStatus, end } = span;
  span.setAttribute = function (key: string, value: AttributeValue | undefined): Span {
    if (LATE_KEYS.has(key) && value !== undefined) late[key as keyof Omit<Late, 'failed'>] = value;
    return setAttribute.call(span, key, value as AttributeValue);
  };
  span.setAttributes = function (attributes: Attributes): Span {
    if (attributes !== null && typeof attributes === 'object') {
      for (const key of Object.keys(attributes)) {
        const value = attributes[key];
        if (LATE_KEYS.has(key) && value !== undefined && value !== null)
          late[key as keyof Omit<Late, 'failed'>] = value;
      }
    }
    return setAttributes.call(span, attributes);
  };
  span.setStatus = function (status: SpanStatus): Span {
    if (status?.code === SpanStatusCode.ERROR) late.failed = true;
    return setStatus.call(span, status);
  };
  let done = false;
  span.end = function (endTime?: Parameters<Span['end']>[0]): void {
    end.call(span, endTime);
    if (done) return;
    done = true;
    try {
      const seconds = (performance.now() - t0) / 1000;
      const points = genAiPoints(start, late);
      m.duration.bind(points.duration).record(seconds, span);
      for (const [value, attrs] of points.tokens) m.tokens.bind(attrs).record(value, span);
    } catch {
      // a metric never breaks the model call
    }
  };
  return span;
}

function wrapTracer(t: Tracer, m: GenAiInstruments): Tracer {
  return {
    startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
      const span = t.startSpan(name, options, ctx);
      const attrs = options?.attributes;
      if (options?.kind !== SpanKind.CLIENT || attrs?.[OPERATION] === undefined) return span;
      try {
        return track(span, attrs, m);
      } catch {
        return span;
      }
    },
    // instrumentation-openai uses startSpan; anything else passes through untouched.
    startActiveSpan: t.startActiveSpan.bind(t) as Tracer['startActiveSpan'],
  };
}

/**
 * A tracer provider whose tracers record the GenAI client metrics, with exemplars, for each GenAI
 * client span (one carrying gen_ai.operation.name).
 */
export function withGenAiClientMetrics(tp: TracerProvider, fast: FastMetrics): TracerProvider {
  const m = genAiInstruments(fast);
  return {
    getTracer(name, version, options) {
      return wrapTracer(tp.getTracer(name, version, options), m);
    },
  };
}
