import { context, diag, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
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
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { captureDiagWarnings } from '../../../helpers/diag.js';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import type { Feature, SetupContext } from '../../../../instrumentation/feature.js';
import {
  createLogger,
  logger,
  resetLoggingForTests,
  setupLogging,
} from '../../../../instrumentation/logging/logger.js';
import { QueueGatedBatchLogRecordProcessor } from '../../../../instrumentation/export/log-batch-processor.js';
import type { EchoesConfig, EchoesOptions } from '../../../../instrumentation/types.js';

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

const warnings: string[] = [];
beforeEach(() => {
  warnings.length = 0;
  captureDiagWarnings(warnings);
});

interface Harness {
  dir: string;
  config: EchoesConfig;
  feature: Feature;
  logs: InMemoryLogRecordExporter;
  stdout: string[];
  /** Waits until every record handed to the OTLP processor has been exported. */
  flushOtlp(): Promise<void>;
  collect(): Promise<
    Record<
      string,
      Array<{
        attributes: Record<string, unknown>;
        value: number;
      }>
    >
  >;
  lines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
  resetLoggingForTests();
  diag.disable();
});

/** `otlpQueue`: ship through echoes' queue-gated batch processor with this queue (as sdk.ts does). */
function start(options: EchoesOptions = {}, otlpQueue?: number): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'echoes-logger-'));
  const base: EchoesOptions = {
    serviceName: 'echoes-test',
    logs: { console: false, level: 'info', file: { dir, name: 'app' } },
  };
  const merged: EchoesOptions = {
    ...base,
    ...options,
    logs: { ...base.logs, ...options.logs, file: { ...base.logs!.file, ...options.logs?.file } },
  };
  const { config } = loadConfig(merged, { env: {}, cwd: dir });
  const logs = new InMemoryLogRecordExporter();
  const gate =
    otlpQueue === undefined
      ? undefined
      : new QueueGatedBatchLogRecordProcessor({
          exporter: logs,
          maxQueueSize: otlpQueue,
          maxExportBatchSize: otlpQueue,
          scheduledDelayMillis: 10,
        });
  const loggerProvider = new LoggerProvider({
    processors: [gate ?? new SimpleLogRecordProcessor({ exporter: logs })],
  });
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const tracerProvider = new BasicTracerProvider();
  const stdout: string[] = [];
  const ctx: SetupContext = {
    config,
    meterProvider,
    meter: meterProvider.getMeter('echoes-otel'),
    tracerProvider,
    tracer: tracerProvider.getTracer('test'),
    loggerProvider,
    otlpLogDrops: gate && {
      get droppedQueueFull() {
        return gate.droppedQueueFull;
      },
      droppedExportFailed: 0,
    },
    fastMetrics: undefined as never,
  };
  const feature = setupLogging(ctx, { stdout: (l) => stdout.push(l) });
  const h: Harness = {
    dir,
    config,
    feature,
    logs,
    stdout,
    flushOtlp: () => loggerProvider.forceFlush(),
    async collect() {
      const { resourceMetrics } = await reader.collect();
      const out: Record<string, Array<{ attributes: Record<string, unknown>; value: number }>> = {};
      for (const sm of resourceMetrics.scopeMetrics) {
        for (const m of sm.metrics) {
          out[m.descriptor.name] = m.dataPoints.map((p) => ({
            attributes: p.attributes,
            value: p.value as number,
          }));
        }
      }
      return out;
    },
    lines() {
      const out: Array<Record<string, unknown>> = [];
      for (const n of readdirSync(dir).filter((f) => f.startsWith('app-') && f.endsWith('.log'))) {
        for (const l of readFileSync(join(dir, n), 'utf8').split('\n'))
          if (l) out.push(JSON.parse(l) as Record<string, unknown>);
      }
      return out;
    },
    async close() {
      await feature.shutdown();
      await meterProvider.shutdown();
      await loggerProvider.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  harnesses.push(h);
  return h;
}

const value = (
  points: Array<{ attributes: Record<string, unknown>; value: number }> | undefined,
  attrs: Record<string, unknown>,
): number | undefined =>
  points?.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value;

describe('logger', () => {
  it('writes one JSON line with timestamp, level, message, service.name and metadata, in that order', async () => {
    const h = start();
    logger.info('hello', { user: 'ada', n: 1 });
    await h.feature.flush!();
    const [line] = h.lines();
    expect(Object.keys(line!)).toEqual([
      'timestamp',
      'level',
      'message',
      'service.name',
      'user',
      'n',
    ]);
    expect(line).toMatchObject({
      level: 'info',
      message: 'hello',
      'service.name': 'echoes-test',
      user: 'ada',
      n: 1,
    });
    expect(new Date(line!['timestamp'] as string).toISOString()).toBe(line!['timestamp']);
  });

  it('injects trace_id and span_id from the active span, and hands the same context to OTLP', async () => {
    const h = start();
    const tracer = new BasicTracerProvider().getTracer('t');
    const span = tracer.startSpan('req');
    context.with(trace.setSpan(context.active(), span), () => logger.warn('inside'));
    span.end();
    logger.warn('outside');
    await h.feature.flush!();
    const [inside, outside] = h.lines();
    expect(inside).toMatchObject({
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
    });
    expect(outside).not.toHaveProperty('trace_id');
    const records = h.logs.getFinishedLogRecords();
    expect(records).toHaveLength(2);
    expect(records[0]!.spanContext?.traceId).toBe(span.spanContext().traceId);
    expect(records[0]).toMatchObject({ body: 'inside', severityText: 'WARN', severityNumber: 13 });
    expect(records[1]!.spanContext).toBeUndefined();
  });

  it('drops disabled levels without writing or counting them', async () => {
    const h = start({ logs: { level: 'warn' } });
    logger.info('no');
    logger.debug('no');
    logger.error('yes');
    expect(logger.level).toBe('warn');
    await h.feature.flush!();
    expect(h.lines().map((l) => l['message'])).toEqual(['yes']);
    expect(h.logs.getFinishedLogRecords()).toHaveLength(1);
    const m = await h.collect();
    expect(m['echoes.log.records']).toEqual([{ attributes: { 'log.level': 'error' }, value: 1 }]);
  });

  it('serialises errors with name, message and stack, and never throws on circular or BigInt metadata', async () => {
    const h = start();
    const circ: Record<string, unknown> = { a: 1 };
    circ['self'] = circ;
    expect(() => logger.error('failed', new TypeError('bad input'))).not.toThrow();
    expect(() => logger.info('circ', { circ })).not.toThrow();
    expect(() => logger.info('big', { big: 2n ** 70n })).not.toThrow();
    await h.feature.flush!();
    const [err, c, b] = h.lines();
    expect(err!['error']).toMatchObject({ name: 'TypeError', message: 'bad input' });
    expect(String((err!['error'] as { stack: string }).stack)).toContain('TypeError: bad input');
    expect(c!['circ']).toEqual({ a: 1, self: '[Circular]' });
    expect(b!['big']).toBe((2n ** 70n).toString());
    const m = await h.collect();
    expect(value(m['echoes.log.dropped'], { reason: 'unserializable' })).toBe(2);
    expect(warnings.filter((w) => /circular/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /bigint/.test(w))).toHaveLength(1);
  });

  it('truncates a 5 MB message at logs.maxMessageBytes with a marker, counts it and warns once', async () => {
    const h = start({ logs: { maxMessageBytes: 1024 } });
    logger.info('x'.repeat(5 * 1024 * 1024));
    logger.info('é'.repeat(5000));
    await h.feature.flush!();
    const [big, accented] = h.lines();
    expect(big!['message']).toBe(`${'x'.repeat(1024)}…[truncated]`);
    expect(Buffer.byteLength(accented!['message'] as string)).toBeLessThanOrEqual(
      1024 + Buffer.byteLength('…[truncated]'),
    );
    expect(accented!['message']).not.toContain('\uFFFD');
    const m = await h.collect();
    expect(value(m['echoes.log.dropped'], { reason: 'truncated' })).toBe(2);
    expect(warnings.filter((w) => /truncated/.test(w))).toHaveLength(1);
    expect(h.logs.getFinishedLogRecords()[0]!.body).toBe(big!['message']);
  });

  it('bounds metadata strings and error messages too, counting each cut', async () => {
    const h = start({ logs: { maxMessageBytes: 1000 } });
    logger.info('big meta', { body: 'y'.repeat(5 * 1024 * 1024), small: 'ok' });
    logger.error('big error', new Error('z'.repeat(50_000)));
    await h.feature.flush!();
    const [meta, err] = h.lines();
    expect(meta!['body']).toBe(`${'y'.repeat(1000)}…[truncated]`);
    expect(meta!['small']).toBe('ok');
    expect((err!['error'] as { message: string }).message).toBe(`${'z'.repeat(1000)}…[truncated]`);
    // The stack has its own 8 KiB bound.
    expect((err!['error'] as { stack: string }).stack.length).toBeLessThanOrEqual(8193);
    const m = await h.collect();
    expect(value(m['echoes.log.dropped'], { reason: 'truncated' })).toBe(2);
  });

  it('redacts secrets before every sink: file, console and OTLP', async () => {
    const h = start({ logs: { console: true } });
    logger.info('calling with Bearer abc.def.ghi', {
      authorization: 'Basic dXNlcjpwYXNzd29yZA==',
      apiKey: 'k',
      api_key: 'k',
      token: 't',
      password: 'p',
      secret: 's',
      cookie: 'c',
      nested: { key: 'sk-abcdefghijklmnopqrstuvwx' },
    });
    await h.feature.flush!();
    const fileText = readFileSync(
      join(
        h.dir,
        readdirSync(h.dir).find((f) => f.endsWith('.log'))!,
      ),
      'utf8',
    );
    const consoleText = h.stdout.join('');
    const otlpText = JSON.stringify(
      h.logs.getFinishedLogRecords().map((r) => ({ body: r.body, attributes: r.attributes })),
    );
    for (const text of [fileText, consoleText, otlpText]) {
      expect(text).not.toMatch(/abc\.def\.ghi|dXNlcjpw|sk-abcdef|"k"|"t"|"p"|"s"|"c"/);
      expect(text).toContain('[REDACTED]');
    }
    expect(fileText).toBe(consoleText);
  });

  it('counts records by level, file bytes equal to what is on disk, OTLP bytes, and rotations', async () => {
    const h = start({ logs: { file: { maxBytes: 4096, backupCount: 50, gzip: false } } });
    for (let i = 0; i < 300; i++) logger.info('line', { i });
    logger.error('bad');
    await h.feature.flush!();
    const onDisk = readdirSync(h.dir)
      .filter((f) => f.startsWith('app-'))
      .reduce((n, f) => n + readFileSync(join(h.dir, f)).length, 0);
    const m = await h.collect();
    expect(value(m['echoes.log.records'], { 'log.level': 'info' })).toBe(300);
    expect(value(m['echoes.log.records'], { 'log.level': 'error' })).toBe(1);
    expect(value(m['echoes.log.written'], { 'log.sink': 'file' })).toBe(onDisk);
    expect(value(m['echoes.log.written'], { 'log.sink': 'otlp' })).toBeGreaterThan(0);
    expect(m['echoes.log.rotations']![0]!.value).toBeGreaterThan(0);
  });

  it('counts OTLP records refused by a full export queue, warns once, and keeps every line in the files', async () => {
    const h = start({}, 64);
    // One tick: no export can finish, so the queue fills and refuses the rest.
    for (let i = 0; i < 1000; i++) logger.info('burst', { i });
    await h.feature.flush!();
    await h.flushOtlp();
    const shipped = h.logs.getFinishedLogRecords().map((r) => r.attributes['i'] as number);
    expect(shipped.length).toBeGreaterThanOrEqual(64);
    expect(shipped.length).toBeLessThan(1000);
    const m = await h.collect();
    expect(value(m['echoes.log.dropped'], { reason: 'otlp_queue_full' })).toBe(
      1000 - shipped.length,
    );
    expect(warnings.filter((w) => /OTLP log export queue is full/.test(w))).toHaveLength(1);
    // Every line is in the files; OTLP bytes count exactly the lines handed on, not the refused.
    const text = readdirSync(h.dir)
      .filter((f) => f.startsWith('app-') && f.endsWith('.log'))
      .map((f) => readFileSync(join(h.dir, f), 'utf8'))
      .join('');
    const byId = new Map<number, number>();
    for (const l of text.split('\n').filter(Boolean))
      byId.set((JSON.parse(l) as { i: number }).i, l.length + 1);
    expect(byId.size).toBe(1000);
    expect(value(m['echoes.log.written'], { 'log.sink': 'otlp' })).toBe(
      shipped.reduce((n, i) => n + byId.get(i)!, 0),
    );
    // The queue drained: a later record ships again and nothing more is counted.
    logger.info('after');
    await h.flushOtlp();
    expect(h.logs.getFinishedLogRecords().at(-1)!.body).toBe('after');
    const m2 = await h.collect();
    expect(value(m2['echoes.log.dropped'], { reason: 'otlp_queue_full' })).toBe(
      1000 - shipped.length,
    );
  });

  it('child loggers and createLogger carry their bindings, serialised once, redacted', async () => {
    const h = start();
    const named = createLogger({ name: 'chat', meta: { token: 'x' } });
    named.child({ request_id: 'r1' }).info('hi', { extra: true });
    createLogger({ level: 'error' }).info('filtered out');
    const verbose = createLogger({ level: 'debug' });
    verbose.debug('one module at debug');
    expect(verbose.level).toBe('debug');
    await h.feature.flush!();
    const lines = h.lines();
    expect(lines.map((l) => l['message'])).toEqual(['hi', 'one module at debug']);
    expect(lines[0]).toMatchObject({
      'logger.name': 'chat',
      token: '[REDACTED]',
      request_id: 'r1',
      extra: true,
    });
    expect(h.logs.getFinishedLogRecords()[0]!.attributes).toMatchObject({
      'logger.name': 'chat',
      request_id: 'r1',
      extra: true,
    });
  });

  it('keeps console and OTLP working when the log dir is unusable: one warning, dropped(sink_error) counted', async () => {
    const base = mkdtempSync(join(tmpdir(), 'echoes-logger-bad-'));
    writeFileSync(join(base, 'file'), 'x');
    try {
      const h = start({ logs: { console: true, file: { dir: join(base, 'file', 'logs') } } });
      logger.info('one');
      logger.info('two');
      await h.feature.flush!();
      expect(h.stdout).toHaveLength(2);
      expect(h.logs.getFinishedLogRecords()).toHaveLength(2);
      const m = await h.collect();
      expect(value(m['echoes.log.dropped'], { reason: 'sink_error' })).toBe(2);
      expect(warnings.filter((w) => /cannot open log files/.test(w))).toHaveLength(1);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('sends nothing over OTLP when the logs exporter is none', async () => {
    const h = start({ logs: { exporter: 'none' } });
    logger.info('local only');
    await h.feature.flush!();
    expect(h.lines()).toHaveLength(1);
    expect(h.logs.getFinishedLogRecords()).toHaveLength(0);
  });

  it('loses no line of 200 000 logged through logger.info with forced rotations and a one-tick burst', async () => {
    const h = start({ logs: { file: { maxBytes: 512 * 1024, backupCount: 1000 } } });
    let i = 0;
    for (; i < 50_000; i++) logger.info('numbered', { id: i });
    for (; i < 200_000; i++) {
      logger.info('numbered', { id: i });
      if (i % 5000 === 0) await new Promise((r) => setImmediate(r));
    }
    await h.feature.shutdown();
    const seen = new Uint8Array(200_000);
    let files = 0;
    for (const n of readdirSync(h.dir).filter((f) => /^app-.*\.log(\.\d+)?(\.gz)?$/.test(f))) {
      files++;
      const buf = readFileSync(join(h.dir, n));
      const text = n.endsWith('.gz') ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
      for (const l of text.split('\n')) if (l) seen[(JSON.parse(l) as { id: number }).id]!++;
    }
    expect(files).toBeGreaterThan(20);
    expect(seen.every((c) => c === 1)).toBe(true);
    const m = await h.collect();
    expect(value(m['echoes.log.records'], { 'log.level': 'info' })).toBe(200_000);
    // Nothing lost: the loss reasons are reported, at zero (so alerts see the first loss).
    expect(m['echoes.log.dropped']).toEqual([
      { attributes: { reason: 'sink_error' }, value: 0 },
      { attributes: { reason: 'disk_full' }, value: 0 },
    ]);
  }, 60_000);

  it('never throws from a log call, whatever the arguments', () => {
    start();
    const evil = {
      toJSON() {
        throw new Error('nope');
      },
    };
    expect(() => logger.info(undefined as never, evil)).not.toThrow();
    expect(() => logger.info({ not: 'a string' } as never, 42 as never)).not.toThrow();
    expect(() => logger.info('arr', [1, 2] as never)).not.toThrow();
  });

  it('keeps every line one JSON object whatever the metadata serialises to', async () => {
    const h = start();
    logger.info('date', new Date(0));
    logger.info('string toJSON', { toJSON: () => 'just a string' });
    logger.info('undefined toJSON', { toJSON: () => undefined });
    logger.info('array', [1, 2] as never);
    logger.info('number', 7 as never);
    await h.feature.flush!();
    const lines = h.lines();
    expect(lines.map((l) => [l['message'], l['meta']])).toEqual([
      ['date', '1970-01-01T00:00:00.000Z'],
      ['string toJSON', 'just a string'],
      ['undefined toJSON', undefined],
      ['array', [1, 2]],
      ['number', 7],
    ]);
    expect(h.logs.getFinishedLogRecords()).toHaveLength(5);
  });
});
