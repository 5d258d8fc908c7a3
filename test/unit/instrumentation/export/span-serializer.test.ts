import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { exporterSerializer } from '../../../../instrumentation/export/sdk-internals.js';
import {
  serializeSpans,
  useSpanSerializer,
} from '../../../../instrumentation/export/span-serializer.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- decoded OTLP is dynamic */
const require = createRequire(import.meta.url);
const root = require('otlp-proto-defs/build/src/generated/root.js');
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const upstream = (spans: ReadableSpan[]) => ProtobufTraceSerializer.serializeRequest(spans)!;
const decode = (bytes: Uint8Array) =>
  Request.toObject(Request.decode(bytes), { longs: String, bytes: String, defaults: false });

const long = 'x'.repeat(300);
const huge = 'é'.repeat(10_000); // 20 000 bytes: a three-byte length prefix

/** Spans from the real SDK: two resources, several scopes, every span feature. */
function sdkSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const make = (service: string, schemaUrl?: string) =>
    new BasicTracerProvider({
      resource: resourceFromAttributes(
        { 'service.name': service, 'service.instance.id': 'ü-1', 'host.cores': 2 },
        schemaUrl !== undefined ? { schemaUrl } : {},
      ),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
  const a = make('svc-a', 'https://opentelemetry.io/schemas/1.30.0');
  const b = make('svc-ß');
  const tracers = [
    a.getTracer('plain'),
    a.getTracer('versioned', '1.2.3', { schemaUrl: 'https://example.test/schema' }),
    b.getTracer('scope-with-attrs', '0.1.0', { attributes: { 'scope.k': 'v', n: 3 } } as never),
    b.getTracer('ünïcödé-scope'),
  ];
  const attrs: Attributes = {
    str: 'value',
    empty: '',
    uni: 'héllo wörld ✓ 𝄞 日本語',
    lone: '\ud800x',
    long,
    huge,
    int: 42,
    zero: 0,
    neg: -7,
    big: 2 ** 40,
    bigNeg: -(2 ** 40),
    maxSafe: Number.MAX_SAFE_INTEGER,
    pow62: 2 ** 62,
    pow63: 2 ** 63,
    dbl: 3.14159,
    nan: NaN,
    inf: Infinity,
    negInf: -Infinity,
    t: true,
    f: false,
    strs: ['a', 'ü', ''],
    nums: [1, 2.5, -3],
    bools: [true, false],
    withNull: ['a', null, 'b'] as never,
    emptyArr: [],
  };
  let n = 0;
  for (const tracer of tracers) {
    for (const kind of [
      SpanKind.INTERNAL,
      SpanKind.SERVER,
      SpanKind.CLIENT,
      SpanKind.PRODUCER,
      SpanKind.CONSUMER,
    ]) {
      const parent = tracer.startSpan(`parent ${n++} ✓`, { kind, attributes: attrs });
      parent.addEvent('plain event');
      parent.addEvent('event ü', { 'e.k': 'v', 'e.n': 1.5, 'e.arr': ['x'] }, [1_700_000_000, 5]);
      parent.addLink({
        context: {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          spanId: 'b7ad6b7169203331',
          traceFlags: TraceFlags.SAMPLED,
          isRemote: true,
          traceState: new TraceState('vendor=a,other=b'),
        },
        attributes: { 'link.k': 'v' },
      });
      parent.addLink({
        context: {
          traceId: 'ABCDEF0123456789abcdef0123456789',
          spanId: '00f067aa0ba902b7',
          traceFlags: TraceFlags.NONE,
        },
      });
      if (n % 3 === 0) parent.setStatus({ code: SpanStatusCode.ERROR, message: 'boom ✗' });
      else if (n % 3 === 1) parent.setStatus({ code: SpanStatusCode.OK });
      parent.recordException(new Error('exception text'));
      parent.end([1_700_000_001, 999_999_999]);
    }
  }
  return memory.getFinishedSpans();
}

/** Hand-made spans for what the SDK never produces: kvlist values, bytes, odd fields. */
function craftedSpans(): ReadableSpan[] {
  const [base] = sdkSpans();
  const remoteParent = {
    traceId: base!.spanContext().traceId,
    spanId: '1234567890abcdef',
    traceFlags: 1,
    isRemote: true,
  };
  const attributes = {
    kv: { a: 1, b: 'two', c: [true, { deep: 'er' }], d: undefined },
    bytes: new Uint8Array([0, 1, 255]),
    undef: undefined,
    fn: (() => 1) as never,
  } as unknown as Attributes;
  const spans: ReadableSpan[] = [];
  for (let i = 0; i < 3; i++) {
    spans.push(
      Object.create(base!, {
        name: { value: `crafted ${i}` },
        kind: { value: i === 0 ? undefined : SpanKind.CLIENT },
        attributes: { value: attributes },
        parentSpanContext: { value: i === 1 ? remoteParent : undefined },
        droppedAttributesCount: { value: 3 },
        droppedEventsCount: { value: 300 },
        droppedLinksCount: { value: 70_000 },
        startTime: { value: [0, 0] },
        endTime: { value: [4_294_967_296, 123] },
        spanContext: {
          value: () => ({
            ...base!.spanContext(),
            traceState: new TraceState('k=v'),
            traceFlags: 0,
          }),
        },
      }) as ReadableSpan,
    );
  }
  return spans;
}

describe('serializeSpans', () => {
  it('writes the same bytes as upstream for a varied corpus of SDK spans', () => {
    const spans = sdkSpans();
    expect(spans.length).toBe(20);
    const ours = serializeSpans(spans);
    expect(Buffer.from(ours).equals(Buffer.from(upstream(spans)))).toBe(true);
    const decoded = decode(ours);
    expect(decoded.resourceSpans).toHaveLength(2);
    expect(decoded.resourceSpans[0].scopeSpans).toHaveLength(2);
    expect(decoded.resourceSpans[0].schemaUrl).toBe('https://opentelemetry.io/schemas/1.30.0');
    const span = decoded.resourceSpans[0].scopeSpans[0].spans[0];
    const attr = (k: string) => span.attributes.find((kv: any) => kv.key === k)?.value;
    expect(attr('huge').stringValue).toBe(huge);
    expect(attr('uni').stringValue).toBe('héllo wörld ✓ 𝄞 日本語');
    expect(attr('bigNeg').intValue).toBe(String(-(2 ** 40)));
    expect(span.links[0].traceState).toBe('vendor=a,other=b');
    expect(span.events).toHaveLength(3);
  });

  it('writes the same bytes as upstream for kvlist, bytes and unset values and odd fields', () => {
    const spans = craftedSpans();
    const ours = serializeSpans(spans);
    expect(Buffer.from(ours).equals(Buffer.from(upstream(spans)))).toBe(true);
    const span = decode(ours).resourceSpans[0].scopeSpans[0].spans[1];
    expect(span.parentSpanId).toBe(Buffer.from('1234567890abcdef', 'hex').toString('base64'));
    // The decoding definitions (otlp-transformer 0.57) predate Span.flags: find it in the bytes
    // (field 16, fixed32: remote parent, not sampled).
    expect(Buffer.from(ours).includes(Buffer.from([0x85, 0x01, 0x00, 0x03, 0x00, 0x00]))).toBe(
      true,
    );
    expect(span.droppedLinksCount).toBe(70_000);
  });

  it('writes the same bytes as upstream for one span, for a batch of 512, and for none', () => {
    const spans = sdkSpans();
    for (const batch of [[spans[1]!], Array.from({ length: 512 }, (_, i) => spans[i % 20]!), []]) {
      expect(Buffer.from(serializeSpans(batch)).equals(Buffer.from(upstream(batch)))).toBe(true);
    }
  });

  it('returns a copy that a later call does not overwrite', () => {
    const spans = sdkSpans();
    const first = serializeSpans(spans.slice(0, 5));
    const copy = Buffer.from(first);
    serializeSpans(spans.slice(5));
    expect(Buffer.from(first).equals(copy)).toBe(true);
  });
});

describe('useSpanSerializer', () => {
  it("puts ours in an http/protobuf trace exporter's serializer slot and keeps upstream's response reader", async () => {
    const exporter = new OTLPTraceExporter({ url: 'http://127.0.0.1:1/v1/traces' });
    expect(useSpanSerializer(exporter)).toBe(true);
    expect(useSpanSerializer(exporter)).toBe(true); // idempotent
    const slot = exporterSerializer(exporter)!;
    const spans = sdkSpans();
    expect(Buffer.from(slot.current.serializeRequest(spans)!)).toEqual(
      Buffer.from(upstream(spans)),
    );
    expect(slot.current.deserializeResponse(new Uint8Array(0))).toEqual({});
    await exporter.shutdown();
  });

  it("puts ours in a gRPC trace exporter's serializer slot too", async () => {
    const exporter = new GrpcTraceExporter({ url: 'http://127.0.0.1:1' });
    expect(useSpanSerializer(exporter)).toBe(true);
    const spans = sdkSpans().slice(0, 3);
    expect(Buffer.from(exporterSerializer(exporter)!.current.serializeRequest(spans)!)).toEqual(
      Buffer.from(upstream(spans)),
    );
    await exporter.shutdown();
  });

  it('leaves an object without the known slot alone', () => {
    expect(useSpanSerializer({})).toBe(false);
  });
});
