import { EventEmitter } from 'node:events';
import { context, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbDurationMetric } from '../../../../instrumentation/signals/db-client.js';
import { wrapQuery } from '../../../../instrumentation/signals/db-pg.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';

type Cb = (err: unknown, res?: unknown) => void;

/**
 * A stand-in for pg's Client with the same calling conventions as `Client.prototype.query`:
 * (text | config | submittable, values?, callback?), a promise without a callback, the callback
 * (or the config's) otherwise, submittables get `submit` and emit. Replies on the next turn; a
 * text containing `fail` fails with a DatabaseError-like error (SQLSTATE code).
 */
class FakeClient {
  database = 'shop';
  connectionParameters = { host: '127.0.0.1', port: 5433, database: 'shop' };
  query(config: unknown, values?: unknown, callback?: unknown): unknown {
    const c = config as { text?: string; callback?: Cb; submit?: () => void } & EventEmitter;
    const text = typeof config === 'string' ? config : c.text;
    const cb = (
      typeof values === 'function' ? values : typeof callback === 'function' ? callback : c.callback
    ) as Cb | undefined;
    const outcome = (): [unknown, unknown] =>
      text?.includes('fail')
        ? [Object.assign(new Error("invalid input: 'secret'"), { code: '22P02' }), undefined]
        : [null, { rows: [{ x: 1 }] }];
    if (typeof c.submit === 'function') {
      c.submit();
      setImmediate(() => {
        const [err] = outcome();
        if (c.callback) c.callback(err, undefined);
        else if (err) c.emit('error', err);
        else c.emit('end');
      });
      return c;
    }
    if (cb !== undefined) {
      setImmediate(() => cb(...outcome()));
      return undefined;
    }
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        const [err, res] = outcome();
        if (err) reject(err);
        else resolve(res);
      }),
    );
  }
}

const spans = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const tracer = provider.getTracer('test');
const fm = createFastMetrics({ cardinalityLimit: 2000 });
const metric = createDbDurationMetric({ fastMetrics: fm });
const manager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
  const original = FakeClient.prototype.query as (...a: unknown[]) => unknown;
  FakeClient.prototype.query = wrapQuery(original, () => tracer, metric) as never;
});
afterAll(() => {
  context.disable();
});

async function points(): Promise<{ attributes: Attributes; count: number }[]> {
  const { resourceMetrics } = await fm.producer.collect();
  return resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .filter((m) => m.descriptor.name === 'db.client.operation.duration')
    .flatMap((m) =>
      (m.dataPoints as { attributes: Attributes; value: { count: number } }[]).map((p) => ({
        attributes: p.attributes,
        count: p.value.count,
      })),
    );
}

function inParent<T>(fn: () => T): { result: T; parentId: string } {
  const parent = tracer.startSpan('request');
  const result = context.with(trace.setSpan(context.active(), parent), fn);
  parent.end();
  return { result, parentId: parent.spanContext().spanId };
}

describe('wrapQuery (pg Client.prototype.query)', () => {
  it('makes one client span per promise query, child of the active span, with the stable attributes and no literal', async () => {
    spans.reset();
    const client = new FakeClient();
    const { result, parentId } = inParent(() =>
      client.query("SELECT id FROM items WHERE name = 'alice' AND id > $1", [41]),
    );
    await expect(result).resolves.toEqual({ rows: [{ x: 1 }] });
    const span = spans.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
    expect(span.name).toBe('SELECT items');
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'db.operation.name': 'SELECT',
      'db.collection.name': 'items',
      'db.query.text': 'SELECT id FROM items WHERE name = ? AND id > $1',
      'server.address': '127.0.0.1',
      'server.port': 5433,
    });
    expect(JSON.stringify(span.attributes)).not.toMatch(/alice|41/);
  });

  it('ends the span before the callback runs, and runs the callback in the caller context', async () => {
    spans.reset();
    const client = new FakeClient();
    let seen: string | undefined;
    let endedFirst = false;
    const done = new Promise<void>((resolve) => {
      inParent(() =>
        client.query('INSERT INTO items (id) VALUES ($1)', [7], (err: unknown) => {
          expect(err).toBeNull();
          seen = trace.getActiveSpan()?.spanContext().spanId;
          endedFirst = spans.getFinishedSpans().some((s) => s.name === 'INSERT items');
          resolve();
        }),
      );
    });
    await done;
    const parent = spans.getFinishedSpans().find((s) => s.name === 'request')!;
    expect(endedFirst).toBe(true);
    expect(seen).toBe(parent.spanContext().spanId);
  });

  it('handles the (text, callback) and config-object-with-callback forms, leaving the config as it was', async () => {
    spans.reset();
    const client = new FakeClient();
    await new Promise((r) => client.query('SELECT 1', r));
    const config = { text: 'DELETE FROM items WHERE id = 3', callback: undefined as unknown };
    await new Promise((r) => {
      config.callback = r;
      client.query(config);
    });
    expect(config.callback).toBeTypeOf('function');
    expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(['SELECT shop', 'DELETE items']);
    expect(spans.getFinishedSpans()[1]!.attributes['db.query.text']).toBe(
      'DELETE FROM items WHERE id = ?',
    );
  });

  it('ends a submittable on its end or error event', async () => {
    spans.reset();
    const client = new FakeClient();
    const ok = Object.assign(new EventEmitter(), { text: 'SELECT * FROM big', submit() {} });
    const bad = Object.assign(new EventEmitter(), { text: 'SELECT fail FROM big', submit() {} });
    bad.on('error', () => {});
    expect(client.query(ok)).toBe(ok);
    client.query(bad);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const ended = spans.getFinishedSpans();
    expect(ended).toHaveLength(2);
    expect(
      ended.find((s) => s.status.code === SpanStatusCode.ERROR)?.attributes['error.type'],
    ).toBe('22P02');
  });

  it('marks a failed query with the SQLSTATE as error.type, never the message, and rejects as before', async () => {
    spans.reset();
    const client = new FakeClient();
    await expect(client.query('SELECT fail FROM items')).rejects.toThrow('invalid input');
    const span = spans.getFinishedSpans()[0]!;
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(span.attributes).toMatchObject({
      'error.type': '22P02',
      'db.response.status_code': '22P02',
    });
    expect(JSON.stringify([span.name, span.attributes, span.status, span.events])).not.toContain(
      'secret',
    );
  });

  it('records db.client.operation.duration per operation and collection, errors apart', async () => {
    const client = new FakeClient();
    const before = await points();
    const countOf = (ps: typeof before, op: string, err?: string) =>
      ps
        .filter(
          (p) =>
            p.attributes['db.operation.name'] === op &&
            p.attributes['db.collection.name'] === 'orders' &&
            p.attributes['error.type'] === err,
        )
        .reduce((n, p) => n + p.count, 0);
    await client.query('SELECT * FROM orders WHERE id = $1', [1]);
    await client.query('SELECT * FROM orders WHERE id = $1', [2]);
    await (client.query('SELECT fail FROM orders') as Promise<unknown>).catch(() => {});
    const after = await points();
    expect(countOf(after, 'SELECT') - countOf(before, 'SELECT')).toBe(2);
    expect(countOf(after, 'SELECT', '22P02') - countOf(before, 'SELECT', '22P02')).toBe(1);
    const p = after.find((x) => x.attributes['db.collection.name'] === 'orders')!;
    expect(p.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'server.address': '127.0.0.1',
      'server.port': 5433,
    });
    expect(p.attributes['db.query.text']).toBeUndefined();
  });

  it('passes a null query through to the client (which throws as it always did)', () => {
    const client = new FakeClient();
    expect(() => client.query(null)).toThrow();
  });
});
