/* eslint-disable @typescript-eslint/no-explicit-any -- decoded OTLP payloads are dynamic JSON-like data */
import { EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A test OTLP/HTTP receiver on 127.0.0.1:<random port>. It accepts `POST .../v1/{traces,metrics,logs}`
 * under any path prefix (e.g. `/otlp/v1/logs`, as Loki serves it) in protobuf or JSON, optionally
 * gzip-compressed, and decodes protobuf with the official opentelemetry-proto definitions (the
 * protobufjs static module that `@opentelemetry/otlp-transformer` 0.57 generated from them,
 * installed as the `otlp-proto-defs` devDependency alias): no hand-written decoder.
 *
 * Decoded bodies are normalised to plain objects: camelCase field names as in OTLP/JSON, 64-bit
 * integers as strings, ids (traceId, spanId, parentSpanId) as lowercase hex.
 */

export type Signal = 'traces' | 'metrics' | 'logs';

export interface ReceivedRequest {
  readonly signal: Signal;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly encoding: 'protobuf' | 'json';
  /** The decoded Export{Trace,Metrics,Logs}ServiceRequest. */
  readonly body: any;
  readonly receivedAt: number;
}

export type AttrValue = string | number | boolean | null | AttrValue[] | { [k: string]: AttrValue };
export type Attrs = Record<string, AttrValue>;

export interface FlatSpan {
  readonly resource: Attrs;
  readonly scope: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly kind: number;
  readonly attributes: Attrs;
  readonly events: readonly { name: string; attributes: Attrs }[];
  readonly status: { code?: number; message?: string };
}

export interface FlatLogRecord {
  readonly resource: Attrs;
  readonly scope: string;
  readonly body: AttrValue;
  readonly severityText: string;
  readonly severityNumber: number;
  readonly attributes: Attrs;
  readonly traceId: string;
  readonly spanId: string;
}

export interface FlatMetric {
  readonly resource: Attrs;
  readonly scope: string;
  readonly name: string;
  readonly unit: string;
  /** `sum`, `gauge`, `histogram`, `exponentialHistogram` or `summary`. */
  readonly type: string;
  readonly dataPoints: readonly { attributes: Attrs; value: any }[];
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: set as OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly ReceivedRequest[];
  /** While down, every export is answered 503 (retryable) and nothing is recorded. */
  setDown(down: boolean): void;
  /** Requests answered 503 while down (to see that an exporter kept trying). */
  readonly refusedCount: number;
  spans(): FlatSpan[];
  logRecords(): FlatLogRecord[];
  metrics(): FlatMetric[];
  metricNames(): Set<string>;
  /** Resolves with the predicate's truthy result once it holds; rejects after `timeoutMs`. */
  waitFor<T>(
    predicate: (r: OtlpReceiver) => T | undefined | null | false,
    timeoutMs?: number,
    what?: string,
  ): Promise<T>;
  waitForSpans(
    predicate: (s: FlatSpan) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<FlatSpan[]>;
  waitForLogs(
    predicate: (l: FlatLogRecord) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<FlatLogRecord[]>;
  waitForMetric(name: string, timeoutMs?: number): Promise<FlatMetric>;
  clear(): void;
  /** Stop listening (the port stays reserved for `reopen` only by convention). */
  close(): Promise<void>;
  /** Listen again on the same port after `close()`. */
  reopen(): Promise<void>;
}

const require = createRequire(import.meta.url);
const root = require('otlp-proto-defs/build/src/generated/root.js');
const v1 = root.opentelemetry.proto.collector;
const REQUEST_TYPES: Record<Signal, any> = {
  traces: v1.trace.v1.ExportTraceServiceRequest,
  metrics: v1.metrics.v1.ExportMetricsServiceRequest,
  logs: v1.logs.v1.ExportLogsServiceRequest,
};
const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);
/** Where each signal nests its items: resource list, scope list, item list. */
const NESTING: Record<Signal, readonly [string, string, string]> = {
  traces: ['resourceSpans', 'scopeSpans', 'spans'],
  metrics: ['resourceMetrics', 'scopeMetrics', 'metrics'],
  logs: ['resourceLogs', 'scopeLogs', 'logRecords'],
};

/** Turns protobufjs output into JSON-like data: bytes to hex, Long to string. */
function normalise(value: any, key?: string): any {
  if (value instanceof Uint8Array) {
    return ID_FIELDS.has(key ?? '')
      ? Buffer.from(value).toString('hex')
      : Buffer.from(value).toString('base64');
  }
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v, k);
    return out;
  }
  return value;
}

/** OTLP/JSON may carry ids in hex already, or (some senders) base64: always hex here. */
function normaliseJsonIds(value: any): any {
  if (Array.isArray(value)) return value.map(normaliseJsonIds);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) {
      if (ID_FIELDS.has(k) && typeof v === 'string' && !/^[0-9a-f]*$/i.test(v)) {
        out[k] = Buffer.from(v, 'base64').toString('hex');
      } else {
        out[k] = normaliseJsonIds(v);
      }
    }
    return out;
  }
  return value;
}

export function anyValue(v: any): AttrValue {
  if (v === undefined || v === null) return null;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return (v.arrayValue?.values ?? []).map(anyValue);
  if ('kvlistValue' in v) return attrs(v.kvlistValue?.values);
  if ('bytesValue' in v) return v.bytesValue;
  return null;
}

export function attrs(list: any[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let down = false;
  let refused = 0;
  let port = 0;
  let server: Server | undefined;
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const m = /\/v1\/(traces|metrics|logs)$/.exec(path);
    if (req.method !== 'POST' || m === null) {
      res.writeHead(404).end();
      return;
    }
    const signal = m[1] as Signal;
    let raw = await readBody(req);
    if (down) {
      refused++;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
      events.emit('refused');
      return;
    }
    try {
      if (String(req.headers['content-encoding'] ?? '').includes('gzip')) raw = gunzipSync(raw);
      const json = String(req.headers['content-type'] ?? '').includes('json');
      let body: any;
      if (json) {
        body = normaliseJsonIds(JSON.parse(raw.toString('utf8')));
      } else {
        const type = REQUEST_TYPES[signal];
        body = normalise(
          type.toObject(type.decode(raw), { longs: String, enums: Number, arrays: true }),
        );
      }
      requests.push({
        signal,
        path,
        headers: req.headers,
        encoding: json ? 'json' : 'protobuf',
        body,
        receivedAt: Date.now(),
      });
      if (json) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      events.emit('request');
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
    }
  }

  function listen(onPort: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createServer((req, res) => {
        handle(req, res).catch((err) => {
          if (!res.headersSent) res.writeHead(500).end(String(err));
        });
      });
      s.on('connection', (sock) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
      });
      s.once('error', reject);
      s.listen(onPort, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  }

  /** Every span, metric or log record received, with its resource's attributes and scope name. */
  function items(signal: Signal): Array<{ resource: Attrs; scope: string; item: any }> {
    const [resources, scopes, list] = NESTING[signal];
    const out: Array<{ resource: Attrs; scope: string; item: any }> = [];
    for (const r of requests) {
      if (r.signal !== signal) continue;
      for (const rx of r.body[resources] ?? []) {
        const resource = attrs(rx.resource?.attributes);
        for (const sx of rx[scopes] ?? []) {
          for (const item of sx[list] ?? [])
            out.push({ resource, scope: sx.scope?.name ?? '', item });
        }
      }
    }
    return out;
  }

  const receiver: OtlpReceiver = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    requests,
    get refusedCount() {
      return refused;
    },
    setDown(d: boolean) {
      down = d;
    },
    spans() {
      return items('traces').map(({ resource, scope, item: s }): FlatSpan => ({
        resource,
        scope,
        name: s.name,
        traceId: s.traceId ?? '',
        spanId: s.spanId ?? '',
        parentSpanId: s.parentSpanId ?? '',
        kind: Number(s.kind ?? 0),
        attributes: attrs(s.attributes),
        events: (s.events ?? []).map((e: any) => ({
          name: e.name,
          attributes: attrs(e.attributes),
        })),
        status: s.status ?? {},
      }));
    },
    logRecords() {
      return items('logs').map(({ resource, scope, item: l }): FlatLogRecord => ({
        resource,
        scope,
        body: anyValue(l.body),
        severityText: l.severityText ?? '',
        severityNumber: Number(l.severityNumber ?? 0),
        attributes: attrs(l.attributes),
        traceId: l.traceId ?? '',
        spanId: l.spanId ?? '',
      }));
    },
    metrics() {
      return items('metrics').map(({ resource, scope, item: m }): FlatMetric => {
        const type =
          ['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'].find(
            (t) => m[t] !== undefined,
          ) ?? 'unknown';
        const points = (m[type]?.dataPoints ?? []).map((p: any) => ({
          attributes: attrs(p.attributes),
          value: p.asDouble ?? (p.asInt !== undefined ? Number(p.asInt) : p),
        }));
        return { resource, scope, name: m.name, unit: m.unit ?? '', type, dataPoints: points };
      });
    },
    metricNames() {
      return new Set(receiver.metrics().map((m) => m.name));
    },
    waitFor<T>(
      predicate: (r: OtlpReceiver) => T | undefined | null | false,
      timeoutMs = 15_000,
      what = 'condition',
    ) {
      return new Promise<T>((resolve, reject) => {
        const check = (): boolean => {
          const v = predicate(receiver);
          if (v) {
            cleanup();
            resolve(v);
            return true;
          }
          return false;
        };
        const onEvent = (): void => {
          try {
            check();
          } catch (err) {
            cleanup();
            reject(err);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `OTLP receiver: timed out after ${timeoutMs} ms waiting for ${what} (${requests.length} requests received)`,
            ),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          events.off('request', onEvent);
          events.off('refused', onEvent);
        };
        events.on('request', onEvent);
        events.on('refused', onEvent);
        onEvent();
      });
    },
    waitForSpans(predicate, count = 1, timeoutMs) {
      return receiver.waitFor(
        (r) => {
          const found = r.spans().filter(predicate);
          return found.length >= count ? found : undefined;
        },
        timeoutMs,
        `${count} matching span(s)`,
      );
    },
    waitForLogs(predicate, count = 1, timeoutMs) {
      return receiver.waitFor(
        (r) => {
          const found = r.logRecords().filter(predicate);
          return found.length >= count ? found : undefined;
        },
        timeoutMs,
        `${count} matching log record(s)`,
      );
    },
    waitForMetric(name, timeoutMs) {
      return receiver.waitFor(
        (r) => r.metrics().find((m) => m.name === name),
        timeoutMs,
        `metric ${name}`,
      );
    },
    clear() {
      requests.length = 0;
      refused = 0;
    },
    close() {
      return new Promise<void>((resolve) => {
        const s = server;
        server = undefined;
        if (s === undefined) return resolve();
        for (const sock of sockets) sock.destroy();
        s.close(() => resolve());
      });
    },
    async reopen() {
      if (server !== undefined) return;
      await listen(port);
    },
  };

  await listen(0);
  return receiver;
}
