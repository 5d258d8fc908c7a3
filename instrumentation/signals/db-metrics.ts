import {
  ValueType,
  type Attributes,
  type Context,
  type Histogram,
  type MeterProvider,
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { describeSql } from './db-query.js';
import { SpanKind, SpanStatusCode } from './otel-api.js';

/**
 * `db.client.operation.duration` for the upstream database instrumentations that record no metric
 * of their own (mysql2, redis, mongodb at the versions we pin): their tracer is wrapped, and each
 * client span they start is timed from start to `end()` and recorded with the stable attributes
 * it carries then (sampled-out spans too, from their start attributes), into the same
 * histogram as our own pg and ioredis instrumentations (db-client.ts: fast-metrics, the span as
 * the exemplar candidate). `sql`: the span also gets `db.operation.name` / `db.collection.name`
 * from its sanitized `db.query.text`, and the stable span name `{operation} {collection}`;
 * `redis`: the command is the operation.
 */

/** One attribute set's duration series: bind once, record per operation (a sampled span given
 * with the record can become its bucket's exemplar). */
export interface DurationSlot {
  record(seconds: number, span?: Span): void;
}

/** `db.client.operation.duration` as every database instrumentation records it (db-client.ts). */
export interface DbDurationMetric {
  bind(attributes: Attributes): DurationSlot;
}

export type DbTextKind = 'sql' | 'redis' | 'none';

/** The semconv histogram buckets for db.client.operation.duration (seconds). */
export const DB_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];
export const DB_DURATION_NAME = 'db.client.operation.duration';
export const DB_DURATION_DESCRIPTION = 'Duration of database client operations.';

const METRIC_KEYS = [
  'db.system.name',
  'db.namespace',
  'db.operation.name',
  'db.collection.name',
  'server.address',
  'server.port',
  'error.type',
] as const;

const histograms = new WeakMap<MeterProvider, Histogram>();

/** The SDK-meter histogram, one per meter provider (db-client.ts uses it without fast metrics). */
export function dbDurationHistogram(mp: MeterProvider): Histogram {
  let h = histograms.get(mp);
  if (h === undefined) {
    h = mp.getMeter('echoes-otel/db').createHistogram(DB_DURATION_NAME, {
      description: DB_DURATION_DESCRIPTION,
      unit: 's',
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: DB_DURATION_BUCKETS },
    });
    histograms.set(mp, h);
  }
  return h;
}

/** Operation and collection from the span's start attributes, per the library's text kind. */
export function enrichDbAttributes(attrs: Attributes, kind: DbTextKind): Attributes {
  const text = attrs['db.query.text'];
  const extra: Attributes = {};
  if (typeof text === 'string' && text !== '') {
    if (kind === 'sql') {
      const { operation, collection } = describeSql(text);
      if (attrs['db.operation.name'] === undefined && operation !== undefined)
        extra['db.operation.name'] = operation;
      if (attrs['db.collection.name'] === undefined && collection !== undefined)
        extra['db.collection.name'] = collection;
    } else if (kind === 'redis' && attrs['db.operation.name'] === undefined) {
      extra['db.operation.name'] = text.split(' ', 1)[0]!.toUpperCase();
    }
  }
  return extra;
}

interface ReadableLike {
  attributes?: Attributes;
  status?: { code: SpanStatusCode };
}

const kTracked = Symbol('echoes.db.tracked');

interface Tracked {
  readonly t0: number;
  readonly start: Attributes;
  readonly metric: DbDurationMetric;
  readonly end: Span['end'];
  done: boolean;
}

type TrackedSpan = Span & { [kTracked]?: Tracked };

/**
 * The `end` of every tracked span: one shared function reading the span's own state, not a
 * closure per span (the bundle keeps function names, esbuild `keepNames`, which costs a property
 * definition for every named closure created per call).
 */
function trackedEnd(this: TrackedSpan | undefined, endTime?: Parameters<Span['end']>[0]): void {
  const t = this?.[kTracked];
  if (t === undefined) return;
  const span = this!;
  t.end.call(span, endTime);
  if (t.done) return;
  t.done = true;
  try {
    const seconds = (performance.now() - t.t0) / 1000;
    const start = t.start;
    const r = span as unknown as ReadableLike;
    const source = r.attributes ?? start;
    const attrs: Attributes = {};
    for (const k of METRIC_KEYS) {
      const v = source[k] ?? start[k];
      if (v !== undefined) attrs[k] = v;
    }
    if (r.status?.code === SpanStatusCode.ERROR && attrs['error.type'] === undefined) {
      attrs['error.type'] = '_OTHER';
    }
    // Bound per record: the attributes are only known at end(); fast-metrics' bind is the
    // hashing the SDK meter did per record anyway, and the span offers itself as the exemplar.
    t.metric.bind(attrs).record(seconds, span);
  } catch {
    // a metric never breaks the client call
  }
}

function track(span: Span, start: Attributes, metric: DbDurationMetric): Span {
  const s = span as TrackedSpan;
  s[kTracked] = { t0: performance.now(), start, metric, end: span.end, done: false };
  s.end = trackedEnd;
  return span;
}

function wrapTracer(t: Tracer, metric: DbDurationMetric, kind: DbTextKind): Tracer {
  return {
    startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
      let opts = options;
      let spanName = name;
      try {
        if (options?.kind === SpanKind.CLIENT && options.attributes !== undefined) {
          const extra = enrichDbAttributes(options.attributes, kind);
          if (Object.keys(extra).length > 0) {
            opts = { ...options, attributes: { ...options.attributes, ...extra } };
            const op = opts.attributes!['db.operation.name'];
            const coll = opts.attributes!['db.collection.name'];
            if (kind === 'sql' && typeof op === 'string') {
              spanName = typeof coll === 'string' ? `${op} ${coll}` : op;
            }
          }
        }
      } catch {
        opts = options;
      }
      const span = t.startSpan(spanName, opts, ctx);
      if (opts?.kind !== SpanKind.CLIENT) return span;
      return track(span, opts.attributes ?? {}, metric);
    },
    // The database instrumentations use startSpan; anything else passes through untouched.
    startActiveSpan: t.startActiveSpan.bind(t) as Tracer['startActiveSpan'],
  };
}

/**
 * A tracer provider whose tracers record db.client.operation.duration for each client span into
 * `metric` (db-client.ts' `createDbDurationMetric`).
 */
export function withDbClientMetrics(
  tp: TracerProvider,
  metric: DbDurationMetric,
  kind: DbTextKind,
): TracerProvider {
  return {
    getTracer(name, version, options) {
      return wrapTracer(tp.getTracer(name, version, options), metric, kind);
    },
  };
}
