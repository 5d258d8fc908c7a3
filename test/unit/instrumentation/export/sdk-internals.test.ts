import { context, createContextKey, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  batchLogQueueFull,
  contextEnter,
  createActiveSpanReader,
  deleteContextValue,
  exporterSerializer,
  grpcTransport,
  httpTransportSlots,
  retryingTransport,
  setContextValue,
  setSpan,
} from '../../../../instrumentation/export/sdk-internals.js';
import { createStackContextManager } from '../../../helpers/stack-context.js';

// Each test runs an accessor against the real pinned package: an upgrade that changes a private
// shape fails here, by name, instead of quietly falling back.

describe('sdk-internals against the pinned OpenTelemetry packages', () => {
  afterEach(() => context.disable());

  it('contextEnter finds the AsyncLocalStorage of the registered context manager', async () => {
    expect(contextEnter()).toBeUndefined(); // nothing registered: the no-op manager
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const enter = contextEnter();
    expect(enter).toBeTypeOf('function');
    const key = createContextKey('k');
    await new Promise<void>((done) => {
      setImmediate(() => {
        enter!(ROOT_CONTEXT.setValue(key, 'entered'));
        // Entered for the rest of this async resource and what it starts.
        expect(context.active().getValue(key)).toBe('entered');
        setImmediate(() => {
          expect(context.active().getValue(key)).toBe('entered');
          done();
        });
      });
    });
    expect(context.active().getValue(key)).toBeUndefined();
  });

  it('createActiveSpanReader reads the active span from the AsyncLocalStorage store, and follows a manager registered later', async () => {
    const read = createActiveSpanReader();
    expect(read()).toBeUndefined(); // nothing registered: the no-op manager
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const span = new BasicTracerProvider().getTracer('t').startSpan('s');
    const active = vi.spyOn(context, 'active');
    try {
      expect(read()).toBeUndefined();
      await context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
        expect(read()).toBe(span);
        await new Promise<void>((done) => setImmediate(done));
        expect(read()).toBe(span);
      });
      expect(read()).toBeUndefined();
      // The store itself was read: the API's public path never ran.
      expect(active).not.toHaveBeenCalled();
    } finally {
      active.mockRestore();
    }

    // Another kind of manager, registered after the reader resolved the first: its answer counts.
    context.disable();
    context.setGlobalContextManager(createStackContextManager());
    expect(read()).toBeUndefined();
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => expect(read()).toBe(span));
    expect(read()).toBeUndefined();
  });

  it.each([
    [
      'http/protobuf traces',
      () => {
        const exporter = new ProtoTraceExporter({ url: 'http://127.0.0.1:1/v1/traces' });
        const tracer = new BasicTracerProvider({
          spanProcessors: [new SimpleSpanProcessor(exporter)],
        }).getTracer('t');
        return { exporter, emit: () => tracer.startSpan('s').end() };
      },
    ],
    [
      'http/json logs',
      () => {
        const exporter = new JsonLogExporter({ url: 'http://127.0.0.1:1/v1/logs' });
        const logger = new LoggerProvider({
          processors: [new SimpleLogRecordProcessor({ exporter })],
        }).getLogger('t');
        return { exporter, emit: () => logger.emit({ body: 'b' }) };
      },
    ],
  ])('retryingTransport and httpTransportSlots find the %s exporter transport', async (_, make) => {
    const { exporter, emit } = make();
    const found = retryingTransport(exporter);
    expect(found, 'OTLPExporterBase._delegate._transport._transport').toBeDefined();
    const slots = httpTransportSlots(found!.inner);
    expect(slots, 'HTTP transport _utils / _parameters.url').toBeDefined();
    expect(slots!.url).toMatch(/^http:\/\/127\.0\.0\.1:1\/v1\//);
    // The replacement is what the exporter sends through.
    const sent: Uint8Array[] = [];
    found!.replace({
      send: (data) => {
        sent.push(data);
        return Promise.resolve({ status: 'success' });
      },
      shutdown: () => {},
    });
    emit();
    await exporter.forceFlush();
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.length).toBeGreaterThan(0);
  });

  it('grpcTransport finds the gRPC exporter transport, and only there', async () => {
    const exporter = new GrpcTraceExporter({ url: 'http://127.0.0.1:1' });
    const found = grpcTransport(exporter);
    expect(found, 'OTLPGRPCExporter _delegate._transport._parameters.grpcName').toBeDefined();
    expect(found!.inner.send).toBeTypeOf('function');
    expect(
      grpcTransport(new ProtoTraceExporter({ url: 'http://127.0.0.1:1/v1/traces' })),
    ).toBeUndefined();
    await exporter.shutdown();
  });

  it('exporterSerializer finds and replaces the OTLP metric exporter serializer', () => {
    const exporter = new ProtoMetricExporter({ url: 'http://127.0.0.1:1/v1/metrics' });
    const found = exporterSerializer(exporter);
    expect(found, 'OTLPExporterBase._delegate._serializer').toBeDefined();
    expect(found!.current.serializeRequest).toBeTypeOf('function');
    const mine = { serializeRequest: () => new Uint8Array([1]), deserializeResponse: () => ({}) };
    found!.replace(mine);
    expect(exporterSerializer(exporter)!.current).toBe(mine);
    expect(exporterSerializer({})).toBeUndefined();
  });

  it('batchLogQueueFull reads the batch processor queue against its bound', () => {
    // An export that never finishes: the first record goes out in it, the next two wait.
    const stuck = {
      export: () => {},
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const processor = new BatchLogRecordProcessor({
      exporter: stuck,
      maxQueueSize: 2,
      maxExportBatchSize: 1,
      scheduledDelayMillis: 3_600_000,
    });
    const logger = new LoggerProvider({ processors: [processor] }).getLogger('t');
    expect(batchLogQueueFull(processor)).toBe(false);
    logger.emit({ body: 'a' });
    logger.emit({ body: 'b' });
    expect(batchLogQueueFull(processor)).toBe(false);
    logger.emit({ body: 'c' });
    expect(batchLogQueueFull(processor)).toBe(true);
    expect(batchLogQueueFull({})).toBeUndefined();
  });
});

const layerKeys = Array.from({ length: 5 }, (_, i) => createContextKey(`k${i}`));

describe('layered contexts (setSpan, setContextValue, deleteContextValue)', () => {
  it('answers every key as the API context would after the same sets and deletes, deep chains included', () => {
    // A fixed pseudo-random walk of 200 derives over 5 keys (folds happen every few derives).
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    let ours: Context = ROOT_CONTEXT.setValue(layerKeys[0]!, 'base');
    let api: Context = ours;
    for (let step = 0; step < 200; step++) {
      const key = layerKeys[next() % layerKeys.length]!;
      const op = next() % 3;
      if (op === 0) {
        ours = deleteContextValue(ours, key);
        api = api.deleteValue(key);
      } else {
        const value = op === 1 ? `v${step}` : undefined;
        ours = step % 2 === 0 ? setContextValue(ours, key, value) : ours.setValue(key, value);
        api = api.setValue(key, value);
      }
      for (const k of layerKeys) expect(ours.getValue(k)).toBe(api.getValue(k));
    }
  });

  it('makes the span the active one for the API and leaves the parent context unchanged', () => {
    const span = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    });
    const parent = ROOT_CONTEXT.setValue(layerKeys[1]!, 'kept');
    const ctx = setSpan(parent, span);
    expect(trace.getSpan(ctx)).toBe(span);
    expect(ctx.getValue(layerKeys[1]!)).toBe('kept');
    expect(trace.getSpan(parent)).toBeUndefined();
    expect(trace.getSpan(trace.deleteSpan(ctx))).toBeUndefined();
    expect(trace.getSpan(ctx)).toBe(span);
  });
});
