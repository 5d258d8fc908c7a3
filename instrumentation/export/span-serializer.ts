import type { Attributes, AttributeValue, Link, SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { exporterSerializer, type OtlpSerializer } from './sdk-internals.js';
import { SpanWriter } from './span-writer.js';

/**
 * ReadableSpan[] straight to ExportTraceServiceRequest protobuf bytes, in one pass.
 *
 * Upstream's ProtobufTraceSerializer (otlp-transformer 0.223) runs every span twice: once through
 * a size estimator, once through the writer; each pass turns every hex id into a fresh
 * Uint8Array and every non-ASCII string into a TextEncoder result, and the writer buffer is new
 * for every request. Here one writer (span-writer.ts), kept between requests, grows when it must;
 * ids are written from their hex digits into the buffer; strings are written where they go (an
 * ASCII loop, else Buffer's native UTF-8 write after its byte length). The bytes are upstream's,
 * field for field and in the same order (test/unit/instrumentation/export/span-serializer.test.ts
 * compares them over a corpus), so the collector sees no difference. Measured:
 * bench/span-serialize.mjs.
 */

/** Past this the kept buffer is dropped after use, so one huge batch does not pin its memory. */
const KEEP_MAX = 4 * 1024 * 1024;

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

// --------------------------------------------------------------------- messages (OTLP field numbers)

function writeAnyValue(w: SpanWriter, value: unknown): void {
  const t = typeof value;
  if (t === 'string') {
    w.byte(0x0a); // 1: string_value
    w.string(value as string);
  } else if (t === 'boolean') {
    w.byte(0x10); // 2: bool_value
    w.byte(value ? 1 : 0);
  } else if (t === 'number') {
    const n = value as number;
    if (Number.isInteger(n) && n >= MIN_INT64 && n < MAX_INT64) {
      w.byte(0x18); // 3: int_value
      w.int64(n);
    } else {
      w.byte(0x21); // 4: double_value
      w.double(n);
    }
  } else if (value instanceof Uint8Array) {
    w.byte(0x3a); // 7: bytes_value
    w.bytes(value);
  } else if (Array.isArray(value)) {
    w.byte(0x2a); // 5: array_value
    const arr = w.begin();
    for (const item of value) {
      w.byte(0x0a); // ArrayValue 1: values
      const at = w.begin();
      writeAnyValue(w, item);
      w.end(at);
    }
    w.end(arr);
  } else if (t === 'object' && value !== null) {
    w.byte(0x32); // 6: kvlist_value
    const list = w.begin();
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
      w.byte(0x0a); // KeyValueList 1: values
      writeKeyValue(w, k, obj[k]);
    }
    w.end(list);
  }
  // Anything else (undefined, null, functions) is an empty AnyValue, as upstream writes it.
}

/** The KeyValue message (its tag already written). */
function writeKeyValue(w: SpanWriter, key: string, value: unknown): void {
  const kv = w.begin();
  w.byte(0x0a); // 1: key
  w.string(key);
  w.byte(0x12); // 2: value
  const v = w.begin();
  writeAnyValue(w, value);
  w.end(v);
  w.end(kv);
}

/** Each attribute as a KeyValue under `tag` (the field's tag byte), in property order. */
function writeAttributes(w: SpanWriter, attributes: Attributes, tag: number): void {
  for (const key in attributes) {
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
    w.byte(tag);
    writeKeyValue(w, key, attributes[key] as AttributeValue | undefined);
  }
}

function writeResource(w: SpanWriter, resource: Resource): void {
  w.byte(0x0a); // ResourceSpans 1: resource
  const at = w.begin();
  const attributes = resource.attributes;
  if (attributes) writeAttributes(w, attributes, 0x0a); // 1: attributes
  w.byte(0x10); // 2: dropped_attributes_count, always 0 as upstream writes it
  w.byte(0);
  w.end(at);
}

interface Scope {
  readonly name: string;
  readonly version?: string;
  readonly schemaUrl?: string;
  readonly attributes?: Attributes;
  readonly droppedAttributesCount?: number;
}

function writeScope(w: SpanWriter, scope: Scope): void {
  w.byte(0x0a); // ScopeSpans 1: scope
  const at = w.begin();
  w.byte(0x0a); // 1: name
  w.string(scope.name);
  if (scope.version) {
    w.byte(0x12); // 2: version
    w.string(scope.version);
  }
  if (scope.attributes) writeAttributes(w, scope.attributes, 0x1a); // 3: attributes
  if (scope.droppedAttributesCount) {
    w.byte(0x20); // 4: dropped_attributes_count
    w.uint(scope.droppedAttributesCount);
  }
  w.end(at);
}

function writeEvent(w: SpanWriter, event: TimedEvent): void {
  w.byte(0x5a); // Span 11: events
  const at = w.begin();
  w.byte(0x09); // 1: time_unix_nano, fixed64
  w.hrTime(event.time);
  w.byte(0x12); // 2: name
  w.string(event.name);
  if (event.attributes) writeAttributes(w, event.attributes, 0x1a); // 3: attributes
  w.byte(0x20); // 4: dropped_attributes_count
  w.uint(event.droppedAttributesCount || 0);
  w.end(at);
}

/** Fields 1-3 of both Span and Link: trace_id, span_id, trace_state (when not empty). */
function writeIds(w: SpanWriter, ctx: SpanContext): void {
  w.byte(0x0a); // 1: trace_id
  w.hexBytes(ctx.traceId);
  w.byte(0x12); // 2: span_id
  w.hexBytes(ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) {
    w.byte(0x1a); // 3: trace_state
    w.string(traceState);
  }
}

function writeLink(w: SpanWriter, link: Link): void {
  w.byte(0x6a); // Span 13: links
  const at = w.begin();
  const ctx = link.context;
  writeIds(w, ctx);
  if (link.attributes) writeAttributes(w, link.attributes, 0x22); // 4: attributes
  w.byte(0x28); // 5: dropped_attributes_count
  w.uint(link.droppedAttributesCount || 0);
  w.byte(0x35); // 6: flags, fixed32
  w.fixed32(spanFlags(ctx.traceFlags, ctx.isRemote));
  w.end(at);
}

function writeSpan(w: SpanWriter, span: ReadableSpan): void {
  w.byte(0x12); // ScopeSpans 2: spans
  const at = w.begin();
  const ctx: SpanContext = span.spanContext();
  writeIds(w, ctx);
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    w.byte(0x22); // 4: parent_span_id
    w.hexBytes(parent.spanId);
  }
  w.byte(0x2a); // 5: name
  w.string(span.name);
  // The API's kinds start at INTERNAL = 0; OTLP keeps 0 for "unspecified".
  const kind = span.kind == null ? 0 : span.kind + 1;
  if (kind !== 0) {
    w.byte(0x30); // 6: kind
    w.uint(kind);
  }
  w.byte(0x39); // 7: start_time_unix_nano, fixed64
  w.hrTime(span.startTime);
  w.byte(0x41); // 8: end_time_unix_nano, fixed64
  w.hrTime(span.endTime);
  if (span.attributes) writeAttributes(w, span.attributes, 0x4a); // 9: attributes
  w.byte(0x50); // 10: dropped_attributes_count
  w.uint(span.droppedAttributesCount);
  for (const event of span.events) writeEvent(w, event);
  w.byte(0x60); // 12: dropped_events_count
  w.uint(span.droppedEventsCount);
  for (const link of span.links) writeLink(w, link);
  w.byte(0x70); // 14: dropped_links_count
  w.uint(span.droppedLinksCount);
  w.byte(0x7a); // 15: status
  const status = w.begin();
  if (span.status.message) {
    w.byte(0x12); // Status 2: message
    w.string(span.status.message);
  }
  w.byte(0x18); // Status 3: code
  w.uint(span.status.code);
  w.end(status);
  w.byte(0x85); // 16: flags, fixed32 (tag 133 as a two-byte varint)
  w.byte(0x01);
  w.fixed32(spanFlags(ctx.traceFlags, parent?.isRemote));
  w.end(at);
}

/**
 * Spans grouped by resource, then by instrumentation scope (both by object identity, in order
 * of first appearance, as upstream groups them).
 */
function group(spans: readonly ReadableSpan[]): Map<Resource, Map<Scope, ReadableSpan[]>> {
  const byResource = new Map<Resource, Map<Scope, ReadableSpan[]>>();
  let lastResource: Resource | undefined;
  let lastScope: Scope | undefined;
  let last: ReadableSpan[] | undefined;
  for (const span of spans) {
    const resource = span.resource;
    const scope = span.instrumentationScope;
    // Most batches are one resource and a few scopes, in runs: skip the lookups for a run.
    if (resource === lastResource && scope === lastScope && last !== undefined) {
      last.push(span);
      continue;
    }
    let scopes = byResource.get(resource);
    if (scopes === undefined) {
      scopes = new Map();
      byResource.set(resource, scopes);
    }
    let list = scopes.get(scope);
    if (list === undefined) {
      list = [];
      scopes.set(scope, list);
    }
    list.push(span);
    lastResource = resource;
    lastScope = scope;
    last = list;
  }
  return byResource;
}

let shared: SpanWriter | undefined;

/** The ExportTraceServiceRequest for `spans`, as upstream's ProtobufTraceSerializer writes it. */
export function serializeSpans(spans: readonly ReadableSpan[]): Uint8Array {
  // One writer kept for the next request; a reentrant call (not expected) gets its own.
  const w = shared ?? new SpanWriter();
  shared = undefined;
  w.pos = 0;
  try {
    for (const [resource, scopes] of group(spans)) {
      w.byte(0x0a); // ExportTraceServiceRequest 1: resource_spans
      const rs = w.begin();
      writeResource(w, resource);
      for (const [scope, list] of scopes) {
        w.byte(0x12); // ResourceSpans 2: scope_spans
        const ss = w.begin();
        writeScope(w, scope);
        for (const span of list) writeSpan(w, span);
        if (scope.schemaUrl) {
          w.byte(0x1a); // ScopeSpans 3: schema_url
          w.string(scope.schemaUrl);
        }
        w.end(ss);
      }
      if (resource.schemaUrl) {
        w.byte(0x1a); // ResourceSpans 3: schema_url
        w.string(resource.schemaUrl);
      }
      w.end(rs);
    }
    // A copy: the transport sends (and may gzip) it later, while the writer is reused.
    return Uint8Array.prototype.slice.call(w.buf, 0, w.pos);
  } finally {
    if (w.buf.length <= KEEP_MAX) shared = w;
  }
}

const WRAPPED = Symbol.for('echoes-otel.span-serializer');

/**
 * Makes an upstream OTLP protobuf trace exporter (http/protobuf or gRPC: both keep the same
 * serializer slot, sdk-internals.ts) serialize with `serializeSpans`; responses are still read by
 * upstream's deserializer. Returns false, and the exporter stays as it was, where the slot is not
 * the known one.
 */
export function useSpanSerializer(exporter: object): boolean {
  const found = exporterSerializer(exporter);
  if (found === undefined) return false;
  const inner = found.current;
  if ((inner as { [WRAPPED]?: true })[WRAPPED]) return true;
  const ours: OtlpSerializer & { [WRAPPED]: true } = {
    serializeRequest: (request) => serializeSpans(request as ReadableSpan[]),
    deserializeResponse: (data) => inner.deserializeResponse(data),
    [WRAPPED]: true,
  };
  found.replace(ours);
  return true;
}
