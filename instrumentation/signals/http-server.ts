import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  diag,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { METRIC } from '../catalog.js';
import type { BoundHistogram, FastHistogram, SetupContext } from '../feature.js';
import { contextEnter } from '../export/sdk-internals.js';
import {
  createPathMatcher,
  durationHistogram,
  MAX_CACHED_SLOTS,
  normalizeMethod,
  type HttpHookGuards,
  type RouteSetter,
} from './http-common.js';
import {
  adoptAttributes,
  context,
  deleteContextValue,
  propagation,
  ROOT_CONTEXT,
  setContextValue,
  SpanKind,
  SpanStatusCode,
  suppressTracing,
} from './otel-api.js';

/**
 * The node:http server side of http.ts: a span and an `http.server.request.duration` record per
 * request, from `http.server.request.start` and `http.server.response.finish`.
 *
 * The server span is made active for the request handler by entering it into the context
 * manager's AsyncLocalStorage from the `request.start` subscriber, which Node calls synchronously
 * right before `server.emit('request')`. Everything per request is bound or cached up front: the
 * histogram slot per method/route/status/error, the subscriber functions.
 */

const kServer = Symbol('echoes.http.server');
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
  // A derived context is a layer over this one (otel-api.ts), which keeps answering the span and
  // the state: nothing is copied.
  setValue(key: symbol, value: unknown): Context {
    return setContextValue(this, key, value);
  }
  deleteValue(key: symbol): Context {
    return deleteContextValue(this, key);
  }
}

type WithServerState = ServerResponse & { [kServer]?: ServerState };
type WithInflight = Socket & { [kInflight]?: ServerState | null };

const headerGetter: TextMapGetter<IncomingMessage['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

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

/**
 * Bound histogram slots cached per attribute combination, and the ending of a server request into
 * them: after warm-up a record is a few Map lookups on interned strings and small integers, with
 * no attribute object and no string building.
 */
class ServerSlots {
  private readonly byMethod = new Map<
    string,
    Map<string | undefined, Map<number, BoundHistogram>>
  >();
  private cached = 0;
  constructor(private readonly histogram: FastHistogram) {}

  /** Ends the span (route, status, error type) and records the duration: status 0 is aborted. */
  end(state: ServerState, status: number, aborted: boolean): void {
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
    this.get(state.method, route, aborted ? 0 : status).record(seconds, span);
  }

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

/** The server span, with the request's attributes as semconv lists them. */
function startServerSpan(
  tracer: Tracer,
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
    { kind: SpanKind.SERVER, attributes: adoptAttributes(attributes) },
    parent,
  );
}

/** The server side's channel subscribers, and the route setter `setHttpRoute` reaches. */
export interface ServerHooks {
  readonly onRequestStart: (message: unknown) => void;
  readonly onResponseFinish: (message: unknown) => void;
  readonly routeSetter: RouteSetter;
}

/** Builds the server subscribers once; `setupHttp` subscribes them and installs the route setter. */
export function createServerHooks(ctx: SetupContext, guards: HttpHookGuards): ServerHooks {
  const tracer = ctx.tracer;
  const { hookFailed, backOffForUpstream } = guards;
  // Unit and description as the catalog documents them (docs/signals.md is generated from it).
  const serverSlots = new ServerSlots(durationHistogram(ctx, METRIC.httpServerDuration));
  // ECHOES_HTTP_IGNORE_PATHS: no span for health checks and the like, duration still recorded.
  const ignorePath = createPathMatcher(ctx.config.http?.ignorePaths);
  const SUPPRESSED = suppressTracing(ROOT_CONTEXT);

  let enter = findContextEnter();
  let warnedNoContext = false;
  /** Servers we never instrument (our own Prometheus endpoint), decided once per server object. */
  const ignoredServers = new WeakMap<Server, boolean>();
  const promPort = ctx.config.metrics.prometheus.enabled ? ctx.config.metrics.prometheus.port : -1;

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

  function onRequestStart(message: unknown): void {
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
        state.span = startServerSpan(tracer, request, socket, method, url, q, path, parent);
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
      hookFailed(err);
    }
  }

  function onSocketClose(this: WithInflight): void {
    try {
      const state = this[kInflight];
      this[kInflight] = null;
      if (state === undefined || state === null || state.done) return;
      serverSlots.end(state, 0, true);
    } catch (err) {
      hookFailed(err);
    }
  }

  function onResponseFinish(message: unknown): void {
    try {
      const response = (message as { response: WithServerState }).response;
      const state = response[kServer];
      if (state === undefined || state.done) return;
      serverSlots.end(state, response.statusCode, false);
    } catch (err) {
      hookFailed(err);
    }
  }

  const routeSetter: RouteSetter = (route: string) => {
    const state = context.active().getValue(SERVER_STATE_KEY) as ServerState | undefined;
    if (state === undefined || state.done || typeof route !== 'string') return;
    state.route = route;
    state.span?.updateName(`${state.method === '_OTHER' ? 'HTTP' : state.method} ${route}`);
  };

  return { onRequestStart, onResponseFinish, routeSetter };
}
