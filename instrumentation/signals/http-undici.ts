import { performance } from 'node:perf_hooks';
import type { TextMapSetter } from '@opentelemetry/api';
import type { Feature, SetupContext } from '../feature.js';
import {
  clientSlotsFor,
  createUrlRedactor,
  normalizeMethod,
  startClientSpan,
  subscribeChannels,
  type ClientRequestState,
  warnHookFailedOnce,
} from './http-common.js';
import { context, isTracingSuppressed, propagation, setSpan } from './otel-api.js';

/**
 * Client spans, `traceparent` and `http.client.request.duration` for global `fetch` and the
 * `undici` package, from undici's own diagnostics channels (Node 20's bundled undici 6 and Node
 * 24's undici 7 publish the same ones, as does the npm package):
 *
 *   undici:request:create    request (origin, method, path, headers array, addHeader()), before
 *                            the headers are written: span started, propagation headers added
 *   undici:request:headers   request, response (statusCode) at response headers: span ended
 *   undici:request:error     request, error (connection errors, aborts): span ended
 *
 * The span ends at response headers, as our node:http client span does, so both kinds of request
 * measure the same thing in the one `http.client.request.duration` stream (bound slots shared
 * with http-client.ts) and a response body the app never reads cannot leave a span open. Nothing
 * is loaded or patched: subscribing to a channel no one publishes costs nothing until the app's
 * first fetch. Why not @opentelemetry/instrumentation-undici: docs/performance.md.
 */

const kState = Symbol('echoes.undici.state');

interface UndiciRequest {
  origin?: unknown;
  method?: string;
  path?: string;
  headers?: unknown;
  addHeader?: (name: string, value: string) => unknown;
  [kState]?: ClientRequestState;
}

interface Origin {
  address: string;
  port: number;
  /** `scheme://host[:port]` as the app gave it, the start of `url.full`. */
  prefix: string;
}

/**
 * undici 6+ carries request headers as a flat array with `addHeader()`; undici 5 (an app's own
 * older copy) as one `name: value\r\n` string. A header the app set itself (say, a traceparent it
 * injected by hand) is replaced, as `setHeader` does on node:http: two values would reach the
 * peer joined into one invalid header.
 */
const headerSetter: TextMapSetter<UndiciRequest> = {
  set(request, key, value) {
    const headers = request.headers;
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) {
        const name: unknown = headers[i];
        if (typeof name === 'string' && name.length === key.length && name.toLowerCase() === key) {
          headers[i + 1] = value;
          return;
        }
      }
    }
    if (typeof request.addHeader === 'function') request.addHeader(key, value);
    else if (Array.isArray(headers)) headers.push(key, value);
    else if (typeof headers === 'string') request.headers = `${headers}${key}: ${value}\r\n`;
  },
};

const MAX_CACHED_ORIGINS = 1024;
const origins = new Map<string, Origin | null>();

/** Origins repeat (one per peer): parsed once, cached, bounded. */
export function parseOrigin(origin: unknown): Origin | null {
  const key = typeof origin === 'string' ? origin : String(origin);
  let parsed = origins.get(key);
  if (parsed !== undefined) return parsed;
  try {
    const url = new URL(key);
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    // IPv6 hosts come bracketed from URL; semconv's server.address has them bare.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    parsed = { address: host, port, prefix: `${url.protocol}//${url.host}` };
  } catch {
    parsed = null;
  }
  if (origins.size < MAX_CACHED_ORIGINS) origins.set(key, parsed);
  return parsed;
}

export function setupUndici(ctx: SetupContext): Feature {
  const tracer = ctx.tracer;
  const clientSlots = clientSlotsFor(ctx);
  const redactUrl = createUrlRedactor(ctx.config.redaction?.keys);
  const warnOnce = warnHookFailedOnce('fetch/undici');
  let stopped = false;

  function onCreate(message: unknown): void {
    try {
      if (stopped) return;
      const request = (message as { request: UndiciRequest }).request;
      if (request[kState] !== undefined) return;
      const active = context.active();
      // Our exporters send with tracing suppressed; so does an ignored (health-check) request.
      if (isTracingSuppressed(active)) return;
      const method = normalizeMethod(request.method);
      // CONNECT opens a proxy tunnel: the request through it is the one worth a span.
      if (method === 'CONNECT') return;
      const origin = parseOrigin(request.origin);
      if (origin === null) return;
      const span = startClientSpan(
        tracer,
        active,
        method,
        request.method,
        origin.address,
        origin.port,
        redactUrl(origin.prefix + (request.path ?? '/')),
      );
      request[kState] = {
        span,
        start: performance.now(),
        method,
        address: origin.address,
        port: origin.port,
        done: false,
      };
      // Through the global propagator (OTEL_PROPAGATORS): traceparent, baggage, b3, ...
      propagation.inject(setSpan(active, span), request, headerSetter);
    } catch (err) {
      warnOnce(err);
    }
  }

  // `duplicates` pairs these two with http-client.ts's response and error subscribers: the same
  // shape over another request type and state symbol; the ending itself is shared (ClientSlots).
  function onHeaders(message: unknown): void {
    try {
      const { request, response } = message as {
        request: UndiciRequest;
        response: { statusCode?: number };
      };
      const state = request[kState];
      if (state === undefined || state.done) return;
      clientSlots.endAtResponse(state, response.statusCode ?? 0);
    } catch (err) {
      warnOnce(err);
    }
  }

  function onError(message: unknown): void {
    try {
      const { request, error } = message as { request: UndiciRequest; error: unknown };
      const state = request[kState];
      if (state === undefined || state.done) return;
      clientSlots.endWithError(state, error);
    } catch (err) {
      warnOnce(err);
    }
  }

  const unsubscribe = subscribeChannels([
    ['undici:request:create', onCreate],
    ['undici:request:headers', onHeaders],
    ['undici:request:error', onError],
  ]);

  return {
    name: 'undici',
    shutdown() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
    },
  };
}
