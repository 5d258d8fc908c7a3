import {
  ValueType,
  type Attributes,
  type Histogram,
  type MeterProvider,
  type Span,
} from '@opentelemetry/api';
import type { FastMetrics } from '../feature.js';

/**
 * What our own database client instrumentations (db-pg.ts, db-ioredis.ts) share: the
 * `db.client.operation.duration` histogram, recorded through fast-metrics when the SDK hands it
 * (one bound slot per attribute set, kept by the caller: a record is a few number writes), else
 * through the SDK meter; and `error.type` from a client error.
 */

/** The semconv histogram buckets for db.client.operation.duration (seconds). */
export const DB_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

const NAME = 'db.client.operation.duration';
const DESCRIPTION = 'Duration of database client operations.';

/** One attribute set's duration series: bind once, record per operation. */
export interface DurationSlot {
  record(seconds: number, span?: Span): void;
}

export interface DbDurationMetric {
  bind(attributes: Attributes): DurationSlot;
}

const NOOP_SLOT: DurationSlot = { record() {} };
const NOOP: DbDurationMetric = { bind: () => NOOP_SLOT };

/** The duration histogram on fast-metrics (preferred) or the meter provider (or nothing). */
export function createDbDurationMetric(p: {
  fastMetrics?: FastMetrics;
  meterProvider?: MeterProvider;
}): DbDurationMetric {
  if (p.fastMetrics !== undefined) {
    const h = p.fastMetrics.histogram(NAME, {
      unit: 's',
      description: DESCRIPTION,
      boundaries: DB_DURATION_BUCKETS,
    });
    return { bind: (attributes) => h.bind(attributes) };
  }
  if (p.meterProvider === undefined) return NOOP;
  const h: Histogram = p.meterProvider.getMeter('echoes-otel/db').createHistogram(NAME, {
    description: DESCRIPTION,
    unit: 's',
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: DB_DURATION_BUCKETS },
  });
  return {
    bind(attributes) {
      const frozen = Object.freeze({ ...attributes });
      return { record: (seconds) => h.record(seconds, frozen) };
    },
  };
}

/**
 * `error.type` of a failed operation: the server's error code when the client reports one
 * (Postgres SQLSTATE `23505`, a Redis reply's first word `WRONGTYPE`), else the error's class
 * name, else `_OTHER`. Never the message (it can quote the values).
 */
export function dbErrorType(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
  }
  return '_OTHER';
}

/** Attributes of `base` plus `error.type` (a new object; `base` is shared). */
export function withErrorType(base: Attributes, errorType: string): Attributes {
  return { ...base, 'error.type': errorType };
}
