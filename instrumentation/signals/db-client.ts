import type { MeterProvider } from '@opentelemetry/api';
import type { FastMetrics } from '../feature.js';
import {
  DB_DURATION_BUCKETS,
  DB_DURATION_DESCRIPTION,
  DB_DURATION_NAME,
  dbDurationHistogram,
  type DbDurationMetric,
  type DurationSlot,
} from './db-metrics.js';

export type { DbDurationMetric, DurationSlot };

/**
 * What the database client instrumentations share: the `db.client.operation.duration`
 * histogram (db-metrics.ts defines it), recorded through fast-metrics when the SDK hands it (one
 * bound slot per attribute set, kept by the caller: a record is a few number writes; the span as
 * the exemplar candidate), else through the SDK meter, for our own pg and ioredis and, through
 * db-metrics.ts' tracer wrapper, upstream's mysql2, redis and mongodb alike; `error.type` from a
 * client error; and the small module and client plumbing pg and ioredis need.
 */

const NOOP_SLOT: DurationSlot = { record() {} };
const NOOP: DbDurationMetric = { bind: () => NOOP_SLOT };

/** The duration histogram on fast-metrics (preferred) or the meter provider (or nothing). */
export function createDbDurationMetric(p: {
  fastMetrics?: FastMetrics;
  meterProvider?: MeterProvider;
}): DbDurationMetric {
  if (p.fastMetrics !== undefined) {
    const h = p.fastMetrics.histogram(DB_DURATION_NAME, {
      unit: 's',
      description: DB_DURATION_DESCRIPTION,
      boundaries: DB_DURATION_BUCKETS,
    });
    return { bind: (attributes) => h.bind(attributes) };
  }
  if (p.meterProvider === undefined) return NOOP;
  const h = dbDurationHistogram(p.meterProvider);
  return {
    bind(attributes) {
      const frozen = Object.freeze({ ...attributes });
      return { record: (seconds) => h.record(seconds, frozen) };
    },
  };
}

/** Keeps per-client state on the client under `key`, unlisted; a frozen client keeps none. */
export function attachState<S>(client: object, key: symbol, state: S): S {
  try {
    Object.defineProperty(client, key, { value: state, enumerable: false });
  } catch {
    // a frozen client: described again next time
  }
  return state;
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
