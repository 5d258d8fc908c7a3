import type * as Http from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Context, TextMapSetter } from '@opentelemetry/api';
import type { SetupContext } from '../feature.js';
import {
  clientSlotsFor,
  createUrlRedactor,
  normalizeMethod,
  startClientSpan,
  type ClientRequestState,
  type HttpHookGuards,
} from './http-common.js';
import { context, isTracingSuppressed, propagation, setSpan } from './otel-api.js';

/**
 * The node:http client side of http.ts: a span, `traceparent` and an `http.client.request.duration`
 * record per request, from the `http.client.*` channels, ended at response headers.
 *
 * On Node 20 every client channel fires after the request headers went to the socket, too late
 * for `traceparent`; there (and only there) one prototype method of ClientRequest is shadowed to
 * start the client span just before the headers are rendered (see `hookClientHeaderRender`).
 * Requests also end on the request's `close` event, so a Node without the error channel never
 * leaks a span.
 */

// `require`, not `import`: on Node 24 an ESM import of node:http evaluates every lazy export of the
// module (its undici WebSocket classes, http2), +13 MiB RSS at startup (bench/results/startup.md).
const requireBuiltin = createRequire(import.meta.url);
const http = requireBuiltin('node:http') as typeof Http;

const kClient = Symbol('echoes.http.client');

type WithClientState = ClientRequest & { [kClient]?: ClientRequestState };

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

let httpsModule: { request: unknown } | undefined;
/** True when upstream @opentelemetry/instrumentation-http has wrapped node:http (shimmer marks it). */
function upstreamClientPatched(protocol: string): boolean {
  if (protocol === 'https:') {
    // Loaded only once an https request is seen: plain-http apps never pay for tls at startup.
    httpsModule ??= requireBuiltin('node:https') as { request: unknown };
    return (httpsModule.request as { __wrapped?: boolean }).__wrapped === true;
  }
  return (http.request as { __wrapped?: boolean }).__wrapped === true;
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
export function hookClientHeaderRender(onRender: (request: ClientRequest) => void): () => void {
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

/** The client side's channel subscribers, and what the Node 20 header hook calls. */
export interface ClientHooks {
  readonly onRequestCreated: (message: unknown) => void;
  readonly onRequestStart: (message: unknown) => void;
  readonly onResponseFinish: (message: unknown) => void;
  readonly onRequestError: (message: unknown) => void;
  /** For `hookClientHeaderRender`: starts the request's span unless a channel already did. */
  readonly onHeaderRender: (request: ClientRequest) => void;
  /** After shutdown the header hook (if it could not be undone) starts no more spans. */
  readonly stop: () => void;
}

/** Builds the client subscribers once; `setupHttp` subscribes them and hooks the headers. */
export function createClientHooks(ctx: SetupContext, guards: HttpHookGuards): ClientHooks {
  const tracer = ctx.tracer;
  const { hookFailed, backOffForUpstream } = guards;
  // Shared with http-undici.ts: fetch and node:http requests are one metric stream.
  const clientSlots = clientSlotsFor(ctx);
  const redactUrl = createUrlRedactor(ctx.config.redaction?.keys);
  let stopped = false;

  function onClientClose(this: WithClientState): void {
    try {
      const state = this[kClient];
      if (state === undefined || state.done) return;
      // Closed without a response: aborted, or an error on a Node without the error channel.
      clientSlots.end(state, 0, 'aborted');
    } catch (err) {
      hookFailed(err);
    }
  }

  function onRequestStart(message: unknown): void {
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
      const state: ClientRequestState = {
        span: undefined,
        start: performance.now(),
        method,
        address: serverAddress,
        port: serverPort,
        done: false,
      };
      request[kClient] = state;
      const path = request.path ?? '/';
      const span = startClientSpan(
        tracer,
        active,
        method,
        request.method,
        serverAddress,
        serverPort,
        redactUrl(
          `${protocol}//${typeof hostHeader === 'string' ? hostHeader : serverAddress}${path}`,
        ),
      );
      state.span = span;
      injectTraceparent(request, setSpan(active, span));
      request.on('close', onClientClose);
    } catch (err) {
      hookFailed(err);
    }
  }

  function onResponseFinish(message: unknown): void {
    try {
      const { request, response } = message as {
        request: WithClientState;
        response: IncomingMessage;
      };
      const state = request[kClient];
      if (state === undefined || state.done) return;
      clientSlots.endAtResponse(state, response.statusCode ?? 0);
    } catch (err) {
      hookFailed(err);
    }
  }

  function onRequestError(message: unknown): void {
    try {
      const { request, error } = message as { request: WithClientState; error: unknown };
      const state = request[kClient];
      if (state === undefined || state.done) return;
      clientSlots.endWithError(state, error);
    } catch (err) {
      hookFailed(err);
    }
  }

  function onRequestCreated(message: unknown): void {
    onRequestStart(message);
  }

  function onHeaderRender(request: ClientRequest): void {
    if (!stopped && (request as WithClientState)[kClient] === undefined) startClient(request);
  }

  return {
    onRequestCreated,
    onRequestStart,
    onResponseFinish,
    onRequestError,
    onHeaderRender,
    stop: () => {
      stopped = true;
    },
  };
}
