import dc from 'node:diagnostics_channel';
import type * as Http from 'node:http';
import type { ClientRequest, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import {
  context,
  diag,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { isTracingSuppressed, suppressTracing } from '@opentelemetry/core';
import { METRIC } from '../catalog.js';
import type { BoundHistogram, Feature, FastHistogram, SetupContext } from '../feature.js';
import { contextEnter } from '../export/sdk-internals.js';
import {
  clientSlotsFor,
  createPathMatcher,
  createUrlRedactor,
  durationHistogram,
  errorType,
  MAX_CACHED_SLOTS,
  normalizeMethod,
  ROUTE_SETTER,
  routeSlot,
  type RouteSetter,
  finishClientSpan,
} from './http-common.js';

export { HTTP_DURATION_BUCKETS, setHttpRoute } from './http-common.js';

// `require`, not `import`: on Node 24 an ESM import of node:http evaluates every lazy export of the
// module (its undici WebSocket classes, http2), +13 MiB RSS at startup (bench/results/startup.md).
const requireBuiltin = createRequire(import.meta.url);
const http = requireBuiltin('node:http') as typeof Http;

/**
 * HTTP server and client spans plus the stable `http.*.request.duration` histograms, fed by
 * Node's built-in `diagnostics_channel` HTTP channels instead of monkey-patching `http`:
 *
 *   http.server.request.start   (Node >= 20.6, 24)  request, response, socket, server
 *   http.server.response.finish (Node >= 20.6, 24)  same
 *   http.client.request.start   (Node >= 20.6, 24)  request
 *   http.client.response.finish (Node >= 20.6, 24)  request, response (at response headers)
 *   http.client.request.error   (Node >= 20.17 / 22.6, 24; nodejs/node#54054)  request, error
 *   http.client.request.created (Node 24; not in Node 20)  request, before headers are rendered
 *
 * On Node 20 every client channel fires after the request headers went to the socket, too late
 * for `traceparent`; there (and only there) one prototype method of ClientRequest is shadowed to
 * start the client span just before the headers are rendered (see `hookClientHeaderRender`).
 *
 * Subscribing to a channel a Node version never publishes is harmless; client requests also end
 * on the request's `close` event, so a Node without the error channel never leaks a span.
 *
 * The server span is made active for the request handler by entering it into the context
 * manager's AsyncLocalStorage from the `request.start` subscriber, which Node calls synchronously
 * right before `server.emit('request')`. Everything per request is bound or cached up front: the
 * histogram slot per method/route/status/error, the subscriber functions, the parsed host.
 */

const kServer = Symbol('echoes.http.server');
const kClient = Symbol('echoes.http.client');
/** The request in flight on a server socket: ended as `aborted` if the socket closes first. */
const kInflight = Symbol('echoes.http.inflight');
/**
 * A server carrying this symbol (set to true) is never traced nor measured: for our own endpoints
 * such as the embedded Prometheus `/metrics` server, whichever port it ends up on.
 */
export const UNTRACED_SERVER = Symbol.for('echoes-otel.http.untraced');
/** Our per-request state lives in the context too, so `setHttpRoute` finds it from any child span. */
const SERVER_STATE_KEY = Symbol.for('echoes-otel.http.server.state');

/** The API's span key: `createContextKey` uses `Symbol.for`, so every API copy shares it. */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');

/**
 * One object per server request that is both our bookkeeping and the active OTel `Context` for
 * the handler: reading the span or the state is a field access, and nothing is copied unless the
 * app derives a context from it (then it is materialised into an ordinary one, once per derive).
 */
class ServerState implements Context {
  span: Span | undefined = undefined;
  route: string | undefined = undefined;
  done = false;
  constructor(
    readonly parent: Context,
    readonly method: string,
    readonly start: number,
  ) {}
  getValue(key: symbol): unknown {
    if (key === SPAN_KEY) return this.span;
    if (key === SERVER_STATE_KEY) return this;
    return this.parent.getValue(key);
  }
  setValue(key: symbol, value: unknown): Context {
    return this.materialize().setValue(key, value);
  }
  deleteValue(key: symbol): Context {
    return this.materialize().deleteValue(key);
  }
  private materialize(): Context {
    return this.parent.setValue(SPAN_KEY, this.span).setValue(SERVER_STATE_KEY, this);
  }
}

interface ClientState {
  span: Span | undefined;
  start: number;
  method: string;
  serverAddress: string;
  serverPort: number;
  done: boolean;
}

type WithServerState = ServerResponse & { [kServer]?: ServerState };
type WithClientState = ClientRequest & { [kClient]?: ClientState };
type WithInflight = Socket & { [kInflight]?: ServerState | null };

const headerGetter: TextMapGetter<IncomingMessage['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const headerSetter: TextMapSetter<ClientRequest> = {
  set(carrier, key, value) {
    carrier.setHeader(key, value);
  },
};

/** Split `host[:port]` (IPv6 in brackets); the port is undefined when absent. */
function splitHost(host: string): [string, number | undefined] {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    const port = host.charCodeAt(end + 1) === 58 ? Number(host.slice(end + 2)) : undefined;
    return [host.slice(1, end), Number.isFinite(port) ? port : undefined];
  }
  const colon = host.lastIndexOf(':');
  if (colon === -1) return [host, undefined];
  const port = Number(host.slice(colon + 1));
  return [host.slice(0, colon), Number.isFinite(port) ? port : undefined];
}

/**
 * Where the active context lives: entering our context in the context manager's store is what
 * makes `trace.getActiveSpan()` and log correlation see the server span inside the handler
 * (sdk-internals.ts names the private shape).
 */
type Enter = (ctx: Context) => void;
const findContextEnter: () => Enter | undefined = contextEnter;

/** True when upstream @opentelemetry/instrumentation-http has wrapped node:http (shimmer marks it). */
function upstreamServerPatched(server: Server): boolean {
  // Through the instance, so https servers (upstream wraps https.Server.prototype.emit) count too.
  return (server.emit as { __wrapped?: boolean }).__wrapped === true;
}
let httpsModule: { request: unknown } | undefined;
function upstreamClientPatched(protocol: string): boolean {
  if (protocol === 'https:') {
    // Loaded only once an https request is seen: plain-http apps never pay for tls at startup.
    httpsModule ??= requireBuiltin('node:https') as { request: unknown };
    return (httpsModule.request as { __wrapped?: boolean }).__wrapped === true;
  }
  return (http.request as { __wrapped?: boolean }).__wrapped === true;
}

/**
 * Bound histogram slots cached per attribute combination: after warm-up a record is a few Map
 * lookups on interned strings and small integers, with no attribute object and no string building.
 */
class ServerSlots {
  private readonly byMethod = new Map<
    string,
    Map<string | undefined, Map<number, BoundHistogram>>
  >();
  private cached = 0;
  constructor(private readonly histogram: FastHistogram) {}
  get(method: string, route: string | undefined, status: number): BoundHistogram {
    const hit = this.byMethod.get(method)?.get(route)?.get(status);
    if (hit !== undefined) return hit;
    // status 0: the client went away before the response was finished.
    const a: Attributes = { 'http.request.method': method };
    if (status > 0) a['http.response.status_code'] = status;
    if (route !== undefined) a['http.route'] = route;
    if (status === 0) a['error.type'] = 'aborted';
    else if (status >= 500) a['error.type'] = String(status);
    const slot = this.histogram.bind(a);
    // Routes come from the app: if one passes raw paths, stop caching (fast-metrics' cardinality
    // fence still folds them into the overflow set) instead of growing these maps forever.
    if (this.cached < MAX_CACHED_SLOTS) {
      this.cached++;
      let byRoute = this.byMethod.get(method);
      if (byRoute === undefined) this.byMethod.set(method, (byRoute = new Map()));
      let byStatus = byRoute.get(route);
      if (byStatus === undefined) byRoute.set(route, (byStatus = new Map()));
      byStatus.set(status, slot);
    }
    return slot;
  }
}

/** Put the propagation headers on an outgoing request, unless its headers are already rendered. */
function injectTraceparent(request: ClientRequest, ctx: Context): void {
  if ((request as { _header?: unknown })._header != null || request.headersSent) return;
  propagation.inject(ctx, request, headerSetter);
}

/**
 * Node 20 publishes no client channel before the request's headers are rendered (`start` fires
 * once they are already on the socket; `http.client.request.created` only exists from Node 22),
 * so there the one way to add `traceparent` is to run just before rendering. We shadow
 * `_storeHeader` on `ClientRequest.prototype` only (the server side is untouched), with one
 * shared function: no per-request closure. Returns the undo function.
 */
function hookClientHeaderRender(onRender: (request: ClientRequest) => void): () => void {
  const proto = http.ClientRequest.prototype as unknown as Record<string, unknown>;
  const original = proto._storeHeader;
  if (typeof original !== 'function') return () => undefined;
  const hadOwn = Object.prototype.hasOwnProperty.call(proto, '_storeHeader');
  const hooked = function (this: ClientRequest, ...args: unknown[]): unknown {
    onRender(this);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
  proto._storeHeader = hooked;
  return () => {
    if (proto._storeHeader !== hooked) return; // someone wrapped us: leave their chain intact
    if (hadOwn) proto._storeHeader = original;
    else delete proto._storeHeader;
  };
}

export function setupHttp(ctx: SetupContext): Feature {
  const tracer: Tracer = ctx.tracer;
  // Unit and description as the catalog documents them (docs/signals.md is generated from it).
  const serverSlots = new ServerSlots(durationHistogram(ctx, METRIC.httpServerDuration));
  // Shared with http-undici.ts: fetch and node:http requests are one metric stream.
  const clientSlots = clientSlotsFor(ctx);
  // ECHOES_HTTP_IGNORE_PATHS: no span for health checks and the like, duration still recorded.
  const ignorePath = createPathMatcher(ctx.config.http?.ignorePaths);
  const SUPPRESSED = suppressTracing(ROOT_CONTEXT);
  const redactUrl = createUrlRedactor(ctx.config.redaction?.keys);

  let enter = findContextEnter();
  let warnedNoContext = false;
  let warnedUpstream = false;
  let warnedError = false;
  /** Servers we never instrument (our own Prometheus endpoint), decided once per server object. */
  const ignoredServers = new WeakMap<Server, boolean>();
  const promPort = ctx.config.metrics.prometheus.enabled ? ctx.config.metrics.prometheus.port : -1;

  function warnOnce(kind: 'error', err: unknown): void {
    if (kind === 'error' && !warnedError) {
      warnedError = true;
      diag.warn('echoes-otel: HTTP instrumentation hook failed; this request is not traced', err);
    }
  }

  function backOffForUpstream(): boolean {
    if (!warnedUpstream) {
      warnedUpstream = true;
      diag.warn(
        'echoes-otel: @opentelemetry/instrumentation-http is also active; echoes-otel leaves HTTP spans and metrics to it to avoid double counting',
      );
    }
    return true;
  }

  function isIgnored(server: Server | undefined): boolean {
    if (server === undefined) return false;
    let ignored = ignoredServers.get(server);
    if (ignored === undefined) {
      const addr = server.address();
      ignored =
        (server as { [UNTRACED_SERVER]?: boolean })[UNTRACED_SERVER] === true ||
        (promPort > 0 && addr !== null && typeof addr === 'object' && addr.port === promPort);
      ignoredServers.set(server, ignored);
    }
    return ignored;
  }

  // ---- server ---------------------------------------------------------------------------------

  function onServerRequestStart(message: unknown): void {
    try {
      const { request, response, socket, server } = message as {
        request: IncomingMessage;
        response: WithServerState;
        socket: Socket;
        server: Server;
      };
      if (upstreamServerPatched(server) && backOffForUpstream()) return;
      if (isIgnored(server)) return;
      const method = normalizeMethod(request.method);
      const url = request.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      // An ignored path (health check) still gets its state, so its duration is recorded and a
      // route can be named, but runs with tracing suppressed: no span, no child spans, no
      // traceparent on its outbound calls, and no context left over from the connection's
      // previous request.
      const ignored = ignorePath !== undefined && ignorePath(path);
      const parent = ignored
        ? SUPPRESSED
        : propagation.extract(ROOT_CONTEXT, request.headers, headerGetter);
      const state = new ServerState(parent, method, performance.now());
      response[kServer] = state;
      // One 'close' listener per connection, not per request: keep-alive sockets carry many.
      const sock = socket as WithInflight;
      if (sock[kInflight] === undefined) sock.on('close', onSocketClose);
      sock[kInflight] = state;

      if (!ignored) {
        state.span = startServerSpan(request, socket, method, url, q, path, parent);
      }
      if (enter === undefined) {
        enter = findContextEnter();
        if (enter === undefined) {
          if (!warnedNoContext) {
            warnedNoContext = true;
            diag.warn(
              'echoes-otel: no AsyncLocalStorage context manager is registered; HTTP server spans are recorded but not active in request handlers',
            );
          }
          return;
        }
      }
      enter(state);
    } catch (err) {
      warnOnce('error', err);
    }
  }

  function startServerSpan(
    request: IncomingMessage,
    socket: Socket,
    method: string,
    url: string,
    q: number,
    path: string,
    parent: Context,
  ): Span {
    const attributes: Attributes = {
      'http.request.method': method,
      'url.scheme': (socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http',
      'url.path': path,
    };
    if (q !== -1) attributes['url.query'] = url.slice(q + 1);
    if (method === '_OTHER' && request.method !== undefined) {
      attributes['http.request.method_original'] = request.method;
    }
    // server.address / server.port (semconv: recommended) are left off server spans: nearly
    // constant per service, and every attribute is paid again in OTLP serialisation.
    const ua = request.headers['user-agent'];
    if (ua !== undefined) attributes['user_agent.original'] = ua;

    return tracer.startSpan(
      method === '_OTHER' ? 'HTTP' : method,
      { kind: SpanKind.SERVER, attributes },
      parent,
    );
  }

  function endServer(state: ServerState, status: number, aborted: boolean): void {
    state.done = true;
    const seconds = (performance.now() - state.start) / 1000;
    const err = aborted ? 'aborted' : status >= 500 ? String(status) : undefined;
    const route = state.route;
    const span = state.span;
    if (span !== undefined) {
      if (!aborted) span.setAttribute('http.response.status_code', status);
      if (route !== undefined) span.setAttribute('http.route', route);
      if (err !== undefined) {
        span.setAttribute('error.type', err);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
    serverSlots.get(state.method, route, aborted ? 0 : status).record(seconds, span);
  }

  function onSocketClose(this: WithInflight): void {
    try {
      const state = this[kInflight];
      this[kInflight] = null;
      if (state === undefined || state === null || state.done) return;
      endServer(state, 0, true);
    } catch (err) {
      warnOnce('error', err);
    }
  }

  function onServerResponseFinish(message: unknown): void {
    try {
      const response = (message as { response: WithServerState }).response;
      const state = response[kServer];
      if (state === undefined || state.done) return;
      endServer(state, response.statusCode, false);
    } catch (err) {
      warnOnce('error', err);
    }
  }

  const routeSetter: RouteSetter = (route: string) => {
    const state = context.active().getValue(SERVER_STATE_KEY) as ServerState | undefined;
    if (state === undefined || state.done || typeof route !== 'string') return;
    state.route = route;
    state.span?.updateName(`${state.method === '_OTHER' ? 'HTTP' : state.method} ${route}`);
  };
  routeSlot[ROUTE_SETTER] = routeSetter;

  // ---- client ---------------------------------------------------------------------------------

  function onClientClose(this: WithClientState): void {
    try {
      const state = this[kClient];
      if (state === undefined || state.done) return;
      // Closed without a response: aborted, or an error on a Node without the error channel.
      endClient(state, 0, 'aborted');
    } catch (err) {
      warnOnce('error', err);
    }
  }

  function endClient(state: ClientState, status: number, err: string | undefined): void {
    state.done = true;
    const seconds = (performance.now() - state.start) / 1000;
    const span = state.span;
    finishClientSpan(span, status, err);
    clientSlots
      .get(state.method, state.serverAddress, state.serverPort, status, err)
      .record(seconds, span);
  }

  function onClientRequestStart(message: unknown): void {
    const request = (message as { request: WithClientState }).request;
    if (request[kClient] === undefined) startClient(request);
  }

  /** Creates the client span once per request, from whichever hook sees the request first. */
  function startClient(request: WithClientState): void {
    try {
      const active = context.active();
      // The SDK's exporters send with tracing suppressed: never trace our own export traffic.
      if (isTracingSuppressed(active)) return;
      const protocol = request.protocol ?? 'http:';
      if (upstreamClientPatched(protocol) && backOffForUpstream()) return;
      const method = normalizeMethod(request.method);
      const hostHeader = request.getHeader('host');
      const defaultPort = protocol === 'https:' ? 443 : 80;
      let serverAddress = request.host ?? 'localhost';
      let serverPort = defaultPort;
      if (typeof hostHeader === 'string') {
        const [address, port] = splitHost(hostHeader);
        serverAddress = address;
        serverPort = port ?? defaultPort;
      }
      const state: ClientState = {
        span: undefined,
        start: performance.now(),
        method,
        serverAddress,
        serverPort,
        done: false,
      };
      request[kClient] = state;
      const path = request.path ?? '/';
      const attributes: Attributes = {
        'http.request.method': method,
        'server.address': serverAddress,
        'server.port': serverPort,
        'url.full': redactUrl(
          `${protocol}//${typeof hostHeader === 'string' ? hostHeader : serverAddress}${path}`,
        ),
      };
      if (method === '_OTHER' && request.method !== undefined) {
        attributes['http.request.method_original'] = request.method;
      }
      const span = tracer.startSpan(
        method === '_OTHER' ? 'HTTP' : method,
        { kind: SpanKind.CLIENT, attributes },
        active,
      );
      state.span = span;
      injectTraceparent(request, trace.setSpan(active, span));
      request.on('close', onClientClose);
    } catch (err) {
      warnOnce('error', err);
    }
  }

  function onClientResponseFinish(message: unknown): void {
    try {
      const { request, response } = message as {
        request: WithClientState;
        response: IncomingMessage;
      };
      const state = request[kClient];
      if (state === undefined || state.done) return;
      const status = response.statusCode ?? 0;
      endClient(state, status, status >= 400 ? String(status) : undefined);
    } catch (err) {
      warnOnce('error', err);
    }
  }

  function onClientRequestError(message: unknown): void {
    try {
      const { request, error } = message as { request: WithClientState; error: unknown };
      const state = request[kClient];
      if (state === undefined || state.done) return;
      if (state.span !== undefined && error instanceof Error) state.span.recordException(error);
      endClient(state, 0, errorType(error));
    } catch (err) {
      warnOnce('error', err);
    }
  }

  function onClientRequestCreated(message: unknown): void {
    onClientRequestStart(message);
  }

  const major = Number(process.versions.node.split('.')[0]);
  const unhookHeaders =
    major < 23
      ? hookClientHeaderRender((request) => {
          if (!stopped && (request as WithClientState)[kClient] === undefined) startClient(request);
        })
      : () => undefined;

  const subscriptions: [string, (message: unknown, name: string | symbol) => void][] = [
    // Node >= 22.12 / 24 publish `created` from the ClientRequest constructor, before the headers
    // are rendered; Node 20 only has `start`, published once the headers sit in the output buffer.
    ['http.client.request.created', onClientRequestCreated],
    ['http.server.request.start', onServerRequestStart],
    ['http.server.response.finish', onServerResponseFinish],
    ['http.client.request.start', onClientRequestStart],
    ['http.client.response.finish', onClientResponseFinish],
    ['http.client.request.error', onClientRequestError],
  ];
  for (const [name, fn] of subscriptions) dc.subscribe(name, fn);

  let stopped = false;
  return {
    name: 'http',
    shutdown() {
      if (stopped) return;
      stopped = true;
      for (const [name, fn] of subscriptions) {
        try {
          dc.unsubscribe(name, fn);
        } catch {
          // already gone
        }
      }
      if (routeSlot[ROUTE_SETTER] === routeSetter) delete routeSlot[ROUTE_SETTER];
      try {
        unhookHeaders();
      } catch {
        // leave it: the hook is inert once unsubscribed state is gone
      }
    },
  };
}
