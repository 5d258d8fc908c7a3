import { context, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbDurationMetric } from '../../../../instrumentation/signals/db-client.js';
import {
  redisOperationName,
  wrapSendCommand,
} from '../../../../instrumentation/signals/db-ioredis.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';

/** ioredis' Command, as sendCommand sees it: name, args, and the promise's resolve/reject. */
class Command {
  resolve!: (v: unknown) => void;
  reject!: (e: unknown) => void;
  readonly promise: Promise<unknown>;
  inTransaction = false;
  pipelineIndex: number | undefined = undefined;
  constructor(
    readonly name: string,
    readonly args: unknown[],
  ) {
    this.promise = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
}

/** A stand-in for ioredis' Redis: replies on the next turn; `fail` keys get a ReplyError. */
class FakeRedis {
  options = { host: '127.0.0.1', port: 6390, db: 2 };
  sendCommand(cmd: Command): Promise<unknown> {
    const { promise } = cmd;
    setImmediate(() => {
      if (String(cmd.args[0]).includes('fail')) {
        const err = new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
        err.name = 'ReplyError';
        cmd.reject(err);
      } else cmd.resolve('OK');
    });
    return promise;
  }
}

const spans = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const tracer = provider.getTracer('test');
const fm = createFastMetrics({ cardinalityLimit: 2000 });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const original = FakeRedis.prototype.sendCommand as (...a: unknown[]) => unknown;
  FakeRedis.prototype.sendCommand = wrapSendCommand(
    original,
    () => tracer,
    createDbDurationMetric({ fastMetrics: fm }),
  ) as never;
});
afterAll(() => {
  context.disable();
});

function inParent<T>(fn: () => T): T {
  const parent = tracer.startSpan('request');
  try {
    return context.with(trace.setSpan(context.active(), parent), fn);
  } finally {
    parent.end();
  }
}

async function counts(): Promise<Map<string, number>> {
  const { resourceMetrics } = await fm.producer.collect();
  const out = new Map<string, number>();
  for (const m of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
    if (m.descriptor.name !== 'db.client.operation.duration') continue;
    for (const p of m.dataPoints as { attributes: Attributes; value: { count: number } }[]) {
      const key = `${p.attributes['db.operation.name']}|${p.attributes['error.type'] ?? ''}`;
      out.set(key, (out.get(key) ?? 0) + p.value.count);
    }
  }
  return out;
}

describe('wrapSendCommand (ioredis Redis.prototype.sendCommand)', () => {
  it('makes a client span per command inside a traced operation, with the key and no value', async () => {
    spans.reset();
    const r = new FakeRedis();
    await inParent(() =>
      r.sendCommand(new Command('set', ['session:1', 'value-secret', 'EX', 60])),
    );
    const span = spans.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
    expect(span.name).toBe('set');
    expect(span.attributes).toEqual({
      'db.system.name': 'redis',
      'db.namespace': '2',
      'db.operation.name': 'set',
      'db.query.text': 'SET session:1 ? ? ?',
      'server.address': '127.0.0.1',
      'server.port': 6390,
    });
    expect(
      JSON.stringify(spans.getFinishedSpans().map((s) => [s.name, s.attributes, s.events])),
    ).not.toContain('value-secret');
  });

  it('makes no span without a parent span, but still records the duration', async () => {
    spans.reset();
    const before = (await counts()).get('get|') ?? 0;
    await new FakeRedis().sendCommand(new Command('get', ['k']));
    expect(spans.getFinishedSpans()).toEqual([]);
    expect((await counts()).get('get|')).toBe(before + 1);
  });

  it('marks a failed command with the reply code as error.type and rejects as before', async () => {
    spans.reset();
    const r = new FakeRedis();
    await expect(inParent(() => r.sendCommand(new Command('incr', ['fail:1'])))).rejects.toThrow(
      'WRONGTYPE',
    );
    const span = spans.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(span.attributes['error.type']).toBe('WRONGTYPE');
    expect((await counts()).get('incr|WRONGTYPE')).toBe(1);
  });

  it('names pipeline and transaction commands as upstream does', () => {
    const c = new Command('set', ['a', 'b']);
    expect(redisOperationName(c)).toBe('set');
    c.pipelineIndex = 0;
    expect(redisOperationName(c)).toBe('PIPELINE set');
    c.inTransaction = true;
    expect(redisOperationName(c)).toBe('MULTI set');
    expect(redisOperationName(new Command('exec', []))).toBe('exec');
  });

  it('passes anything that is not a command through untouched', () => {
    const r = new FakeRedis() as unknown as { sendCommand: (x: unknown) => unknown };
    expect(() => r.sendCommand(undefined)).toThrow();
  });
});
