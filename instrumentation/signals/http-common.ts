import dc from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { diag, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { METRIC, instrumentOptions } from '../catalog.js';
import type { BoundHistogram, FastHistogram, SetupContext } from '../feature.js';
import { createRedactor } from '../redact.js';
import { adoptAttributes, SpanKind, SpanStatusCode } from './otel-api.js';

/**
 * What the node:http instrumentation (http.ts with http-server.ts and http-client.ts), the
 * fetch/undici one (http-undici.ts) and the framework route hooks (http-frameworks.ts) share. No
 * side effects and no node:http load here: the framework and undici modules import it without
 * paying for http.ts.
 */

/** Semconv advice buckets for `http.*.request.duration` (seconds). */
export const HTTP_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'QUERY',
]);

export function normalizeMethod(method: string | undefined): string {
  if (method === undefined) return '_OTHER';
  if (KNOWN_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

export function errorType(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return '_OTHER';
}

/** Bound on cached slot lookups per direction (beyond it, binds are looked up by attribute hash). */
export const MAX_CACHED_SLOTS = 4096;

/**
 * The `http.*.request.duration` histogram as the catalog documents it (unit, description). Asking
 * fast-metrics twice for one name returns the same instrument: node:http and fetch requests land
 * in one `http.client.request.duration` stream.
 */
export function durationHistogram(
  ctx: SetupContext,
  name: typeof METRIC.httpServerDuration | typeof METRIC.httpClientDuration,
): FastHistogram {
  return ctx.fastMetrics.histogram(name, {
    ...instrumentOptions(name),
    boundaries: HTTP_DURATION_BUCKETS,
  });
}

/** A client request in flight, node:http or fetch alike: ended once, by whichever event is first. */
export interface ClientRequestState {
  span: Span | undefined;
  /** `performance.now()` when the request started. */
  start: number;
  method: string;
  address: string;
  port: number;
  done: boolean;
}

/**
 * The client histogram's bound slots, cached per attribute combination, and the ending of a client
 * request into them: node:http (http-client.ts) and fetch (http-undici.ts) requests end the same
 * way into one `http.client.request.duration` stream.
 */
export class ClientSlots {
  // method → address → port → status → error type: Map lookups on interned strings and small
  // integers instead of a string key built per request. `duplicates` pairs the filling of these
  // maps with ServerSlots.get (http-server.ts): the same shape over other keys and depths, each
  // level typed by its own key, which a generic nested map would give up.
  private readonly byMethod = new Map<
    string,
    Map<string, Map<number, Map<number, Map<string | undefined, BoundHistogram>>>>
  >();
  private cached = 0;
  constructor(private readonly histogram: FastHistogram) {}

  /** Ends the span (ERROR status on a failure) and records the duration. */
  end(state: ClientRequestState, status: number, err: string | undefined): void {
    state.done = true;
    const seconds = (performance.now() - state.start) / 1000;
    const span = state.span;
    finishClientSpan(span, status, err);
    this.get(state.method, state.address, state.port, status, err).record(seconds, span);
  }

  /** At response headers: a status of 400 or more is the error type. */
  endAtResponse(state: ClientRequestState, status: number): void {
    this.end(state, status, status >= 400 ? String(status) : undefined);
  }

  /** On the request's error: the exception on the span, the error's code or name as its type. */
  endWithError(state: ClientRequestState, error: unknown): void {
    if (state.span !== undefined && error instanceof Error) state.span.recordException(error);
    this.end(state, 0, errorType(error));
  }

  get(
    method: string,
    address: string,
    port: number,
    status: number,
    err: string | undefined,
  ): BoundHistogram {
    const hit = this.byMethod.get(method)?.get(address)?.get(port)?.get(status)?.get(err);
    if (hit !== undefined) return hit;
    const a: Attributes = {
      'http.request.method': method,
      'server.address': address,
      'server.port': port,
    };
    if (status > 0) a['http.response.status_code'] = status;
    if (err !== undefined) a['error.type'] = err;
    const slot = this.histogram.bind(a);
    // Peers are chosen by the app's callers: bounded like the server cache.
    if (this.cached < MAX_CACHED_SLOTS) {
      this.cached++;
      let byAddress = this.byMethod.get(method);
      if (byAddress === undefined) this.byMethod.set(method, (byAddress = new Map()));
      let byPort = byAddress.get(address);
      if (byPort === undefined) byAddress.set(address, (byPort = new Map()));
      let byStatus = byPort.get(port);
      if (byStatus === undefined) byPort.set(port, (byStatus = new Map()));
      let byError = byStatus.get(status);
      if (byError === undefined) byStatus.set(status, (byError = new Map()));
      byError.set(err, slot);
    }
    return slot;
  }
}

const clientSlotsByHistogram = new WeakMap<FastHistogram, ClientSlots>();
/** One slot cache per client histogram, whichever module (http or undici) asks first. */
export function clientSlotsFor(ctx: SetupContext): ClientSlots {
  const histogram = durationHistogram(ctx, METRIC.httpClientDuration);
  let slots = clientSlotsByHistogram.get(histogram);
  if (slots === undefined)
    clientSlotsByHistogram.set(histogram, (slots = new ClientSlots(histogram)));
  return slots;
}

/**
 * The live route setter sits on a global symbol, not in module state, so that `setHttpRoute`
 * works from any copy of this module (the preload's and the app's may resolve to different files).
 */
export const ROUTE_SETTER = Symbol.for('echoes-otel.http.setRoute');
export type RouteSetter = (route: string) => void;
export const routeSlot = globalThis as { [ROUTE_SETTER]?: RouteSetter };

/**
 * Set `http.route` (a low-cardinality template such as `/users/:id`) on the server request being
 * handled in the current async context: its span name and attributes and its duration metric.
 * Without a call, no `http.route` is recorded (never the raw path). Safe to call anywhere.
 */
export function setHttpRoute(route: string): void {
  try {
    routeSlot[ROUTE_SETTER]?.(route);
  } catch {
    // never throw into the app
  }
}

/**
 * `ECHOES_HTTP_IGNORE_PATHS` compiled once: exact paths in a Set, `*`-terminated ones as prefixes.
 * Returns undefined for an empty list, so the server hot path pays one comparison.
 */
export function createPathMatcher(
  patterns: readonly string[] | undefined,
): ((path: string) => boolean) | undefined {
  if (patterns === undefined || patterns.length === 0) return undefined;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (path) => {
    if (exact.has(path)) return true;
    for (let i = 0; i < prefixes.length; i++) if (path.startsWith(prefixes[i]!)) return true;
    return false;
  };
}

/** Query parameters whose values semconv says `url.full` must not carry, whatever the config. */
const URL_SENSITIVE_PARAMS = ['AWSAccessKeyId', 'Signature', 'sig', 'X-Goog-Signature'];
const MAX_CACHED_PARAMS = 1024;

/**
 * For the `url.full` of client spans: the value of a query parameter named like a secret (a
 * configured redaction key such as `api_key` or `token`, or one of semconv's signature parameters)
 * becomes `REDACTED`, as semconv writes it. A URL without a query costs one `indexOf`.
 */
export function createUrlRedactor(keys: readonly string[] | undefined): (url: string) => string {
  const redactor = createRedactor([...(keys ?? []), ...URL_SENSITIVE_PARAMS]);
  const decided = new Map<string, boolean>();
  const isSecret = (name: string): boolean => {
    let secret = decided.get(name);
    if (secret === undefined) {
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed escape: judge the raw name
      }
      const probe = { [decoded]: 'x' };
      secret = redactor.redactAttributes(probe) !== probe;
      if (decided.size < MAX_CACHED_PARAMS) decided.set(name, secret);
    }
    return secret;
  };
  return (url) => {
    const q = url.indexOf('?');
    if (q === -1) return url;
    const hash = url.indexOf('#', q);
    const query = hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash);
    const parts = query.split('&');
    let changed = false;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const eq = part.indexOf('=');
      if (eq === -1) continue;
      const name = part.slice(0, eq);
      if (isSecret(name)) {
        parts[i] = `${name}=REDACTED`;
        changed = true;
      }
    }
    if (!changed) return url;
    return `${url.slice(0, q + 1)}${parts.join('&')}${hash === -1 ? '' : url.slice(hash)}`;
  };
}

/**
 * Starts a client span (node:http and fetch alike) under `active`, named by the method as semconv
 * asks (`HTTP` for a method it does not know, whose raw form is then an attribute).
 */
export function startClientSpan(
  tracer: Tracer,
  active: Context,
  method: string,
  rawMethod: string | undefined,
  address: string,
  port: number,
  urlFull: string,
): Span {
  const attributes: Attributes = {
    'http.request.method': method,
    'server.address': address,
    'server.port': port,
    'url.full': urlFull,
  };
  if (method === '_OTHER' && rawMethod !== undefined) {
    attributes['http.request.method_original'] = rawMethod;
  }
  return tracer.startSpan(
    method === '_OTHER' ? 'HTTP' : method,
    { kind: SpanKind.CLIENT, attributes: adoptAttributes(attributes) },
    active,
  );
}

/** Ends a client span with the response status and the error type; a failure gets ERROR status. */
function finishClientSpan(span: Span | undefined, status: number, err: string | undefined): void {
  if (span === undefined) return;
  if (status > 0) span.setAttribute('http.response.status_code', status);
  if (err !== undefined) {
    span.setAttribute('error.type', err);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** A diagnostics channel's name and the subscriber a feature keeps on it until shutdown. */
export type ChannelSubscription = readonly [
  name: string,
  subscriber: (message: unknown, name: string | symbol) => void,
];

/**
 * Subscribes each function to its channel (a channel no Node version publishes costs nothing) and
 * returns the undo, which never throws. The subscribers are the feature's own, built once at
 * setup: nothing here runs per message.
 */
export function subscribeChannels(subscriptions: readonly ChannelSubscription[]): () => void {
  for (const [name, fn] of subscriptions) dc.subscribe(name, fn);
  return () => {
    for (const [name, fn] of subscriptions) {
      try {
        dc.unsubscribe(name, fn);
      } catch {
        // already gone
      }
    }
  };
}

/**
 * The one warning a feature gives when its hook throws (`what`: "HTTP", "fetch/undici"): the
 * request goes untraced, the app never sees the error.
 */
export function warnHookFailedOnce(what: string): (err: unknown) => void {
  let warned = false;
  return (err) => {
    if (warned) return;
    warned = true;
    diag.warn(`echoes-otel: ${what} instrumentation hook failed; this request is not traced`, err);
  };
}

/** What the node:http server and client hooks share, so each warning is given once per feature. */
export interface HttpHookGuards {
  readonly hookFailed: (err: unknown) => void;
  /** Warns once that upstream instrumentation-http is active; returns true (the hook backs off). */
  readonly backOffForUpstream: () => boolean;
}
