import { diag } from '@opentelemetry/api';
import { exporterSerializer } from './sdk-internals.js';
import { DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

/**
 * OTLP exemplars for the hot-path histograms (fast-metrics.ts puts them on its data points as
 * `exemplars`). Upstream's metric serializers (otlp-transformer 0.223, protobuf and JSON) write
 * no exemplar field at all, so the OTLP exporter's serializer is wrapped: it serializes as before
 * and, only when a data point carries exemplars, adds them to that point in the request:
 *
 * - protobuf: the request is re-framed along the path that leads to such a point
 *   (ResourceMetrics 1 > ScopeMetrics 2 > Metric 2 > Histogram 9 > HistogramDataPoint 1), whose
 *   payload gets `exemplars` (field 8) appended; protobuf merges fields in any order, and every
 *   enclosing length is rewritten. Everything else is copied byte for byte.
 * - JSON: the same point of the parsed request gets `exemplars` (ids as hex, as OTLP/JSON wants).
 *
 * A request without exemplars is the serializer's own output, untouched; any failure here sends
 * the request without them (never loses the export).
 */

export interface ExemplarData {
  readonly value: number;
  readonly timeMs: number;
  /** Hex, as in a SpanContext. */
  readonly traceId: string;
  readonly spanId: string;
}

interface Serializer {
  serializeRequest(request: ResourceMetrics): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

function exemplarsOf(point: unknown): readonly ExemplarData[] | undefined {
  const ex = (point as { exemplars?: ExemplarData[] }).exemplars;
  return ex !== undefined && ex.length > 0 ? ex : undefined;
}

function hasExemplars(rm: ResourceMetrics): boolean {
  for (const sm of rm.scopeMetrics)
    for (const m of sm.metrics)
      if (m.dataPointType === DataPointType.HISTOGRAM)
        for (const p of m.dataPoints) if (exemplarsOf(p) !== undefined) return true;
  return false;
}

// ---------------------------------------------------------------------------------- protobuf

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
  }
}

function pushVarint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function hexBytes(hex: string): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

/** One Exemplar message, framed as HistogramDataPoint field 8. */
function encodeExemplar(e: ExemplarData): number[] {
  const body: number[] = [];
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(Math.round(e.timeMs)) * 1_000_000n, true);
  body.push(0x11, ...new Uint8Array(view.buffer)); // 2: time_unix_nano, fixed64
  view.setFloat64(0, e.value, true);
  body.push(0x19, ...new Uint8Array(view.buffer)); // 3: as_double
  const span = hexBytes(e.spanId);
  body.push(0x22, span.length, ...span); // 4: span_id
  const trace = hexBytes(e.traceId);
  body.push(0x2a, trace.length, ...trace); // 5: trace_id
  const out: number[] = [0x42]; // 8: exemplars, length-delimited
  pushVarint(out, body.length);
  out.push(...body);
  return out;
}

/**
 * Copies the message in buf[start, end), handing each length-delimited field to `edit` with its
 * field number and index among fields of that number; a returned payload replaces the field's.
 */
function reframe(
  buf: Uint8Array,
  start: number,
  end: number,
  edit: (field: number, index: number, payload: Uint8Array) => Uint8Array | undefined,
): Uint8Array {
  const parts: Uint8Array[] = [];
  const seen = new Map<number, number>();
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    pos = afterTag;
    if (wire === 0) pos = readVarint(buf, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, afterLen] = readVarint(buf, pos);
      const index = seen.get(field) ?? 0;
      seen.set(field, index + 1);
      const replaced = edit(field, index, buf.subarray(afterLen, afterLen + len));
      pos = afterLen + len;
      if (replaced !== undefined) {
        const head: number[] = [];
        pushVarint(head, tag);
        pushVarint(head, replaced.length);
        parts.push(Uint8Array.from(head), replaced);
        continue;
      }
    } else throw new Error(`unexpected wire type ${wire}`);
    if (pos > end) throw new Error('field runs past its message');
    parts.push(buf.subarray(fieldStart, pos));
  }
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function addProtobufExemplars(bytes: Uint8Array, rm: ResourceMetrics): Uint8Array {
  const edited = (
    payload: Uint8Array,
    field: number,
    pick: (index: number) => ((p: Uint8Array) => Uint8Array) | undefined,
  ): Uint8Array =>
    reframe(payload, 0, payload.length, (f, i, p) => (f === field ? pick(i)?.(p) : undefined));
  // ExportMetricsServiceRequest.resource_metrics (1): the serializer wrote this one request.
  return reframe(bytes, 0, bytes.length, (f, i, resource) => {
    if (f !== 1 || i !== 0) return undefined;
    return edited(resource, 2, (si) => {
      const sm = rm.scopeMetrics[si];
      if (sm === undefined) return undefined;
      return (scope) =>
        edited(scope, 2, (mi) => {
          const m = sm.metrics[mi];
          if (m?.dataPointType !== DataPointType.HISTOGRAM) return undefined;
          if (!m.dataPoints.some((p) => exemplarsOf(p) !== undefined)) return undefined;
          return (metric) =>
            edited(
              metric,
              9,
              () => (histogram) =>
                edited(histogram, 1, (pi) => {
                  const ex = exemplarsOf(m.dataPoints[pi]);
                  if (ex === undefined) return undefined;
                  return (point) => {
                    const extra = ex.flatMap(encodeExemplar);
                    const out = new Uint8Array(point.length + extra.length);
                    out.set(point, 0);
                    out.set(extra, point.length);
                    return out;
                  };
                }),
            );
        });
    });
  });
}

// ---------------------------------------------------------------------------------- JSON

interface JsonRequest {
  resourceMetrics?: Array<{
    scopeMetrics?: Array<{
      metrics?: Array<{ histogram?: { dataPoints?: Array<Record<string, unknown>> } }>;
    }>;
  }>;
}

function addJsonExemplars(bytes: Uint8Array, rm: ResourceMetrics): Uint8Array {
  const req = JSON.parse(new TextDecoder().decode(bytes)) as JsonRequest;
  const scopes = req.resourceMetrics?.[0]?.scopeMetrics ?? [];
  rm.scopeMetrics.forEach((sm, si) => {
    sm.metrics.forEach((m, mi) => {
      if (m.dataPointType !== DataPointType.HISTOGRAM) return;
      const points = scopes[si]?.metrics?.[mi]?.histogram?.dataPoints ?? [];
      m.dataPoints.forEach((p, pi) => {
        const ex = exemplarsOf(p);
        const target = points[pi];
        if (ex === undefined || target === undefined) return;
        target.exemplars = ex.map((e) => ({
          timeUnixNano: String(BigInt(Math.round(e.timeMs)) * 1_000_000n),
          asDouble: e.value,
          spanId: e.spanId,
          traceId: e.traceId,
        }));
      });
    });
  });
  return new TextEncoder().encode(JSON.stringify(req));
}

// ---------------------------------------------------------------------------------- wiring

const WRAPPED = Symbol('echoes.exemplars');

export function exemplarSerializer(inner: Serializer, json: boolean): Serializer {
  let warned = false;
  return {
    serializeRequest(request) {
      const bytes = inner.serializeRequest(request);
      if (bytes === undefined || !hasExemplars(request)) return bytes;
      try {
        return json ? addJsonExemplars(bytes, request) : addProtobufExemplars(bytes, request);
      } catch (err) {
        if (!warned) {
          warned = true;
          diag.warn(`echoes-otel: metrics sent without exemplars (${String(err)})`);
        }
        return bytes;
      }
    },
    deserializeResponse: (data) => inner.deserializeResponse(data),
  };
}

/**
 * Makes an upstream OTLP metric exporter send exemplars (its serializer: sdk-internals.ts).
 * Returns false, and the exporter stays as it was, where its internals are not the known ones.
 */
export function sendExemplars(exporter: object, json: boolean): boolean {
  const found = exporterSerializer(exporter);
  if (found === undefined) return false;
  const inner = found.current as Serializer;
  if ((inner as { [WRAPPED]?: true })[WRAPPED]) return true;
  found.replace(Object.assign(exemplarSerializer(inner, json), { [WRAPPED]: true }));
  return true;
}
