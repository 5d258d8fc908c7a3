import { diag } from '@opentelemetry/api';
import type { Feature, SetupContext } from '../feature.js';
import { createClientHooks, hookClientHeaderRender } from './http-client.js';
import {
  ROUTE_SETTER,
  routeSlot,
  subscribeChannels,
  warnHookFailedOnce,
  type HttpHookGuards,
} from './http-common.js';
import { createServerHooks } from './http-server.js';

export { HTTP_DURATION_BUCKETS, setHttpRoute } from './http-common.js';
export { UNTRACED_SERVER } from './http-server.js';

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
 * The server side is http-server.ts, the client side http-client.ts (with the Node 20 header
 * hook); this module wires both: their channels, the route setter behind `setHttpRoute`, and
 * one shutdown. Subscribing to a channel a Node version never publishes is harmless.
 */
export function setupHttp(ctx: SetupContext): Feature {
  let warnedUpstream = false;
  const guards: HttpHookGuards = {
    hookFailed: warnHookFailedOnce('HTTP'),
    backOffForUpstream() {
      if (!warnedUpstream) {
        warnedUpstream = true;
        diag.warn(
          'echoes-otel: @opentelemetry/instrumentation-http is also active; echoes-otel leaves HTTP spans and metrics to it to avoid double counting',
        );
      }
      return true;
    },
  };
  const server = createServerHooks(ctx, guards);
  const client = createClientHooks(ctx, guards);

  routeSlot[ROUTE_SETTER] = server.routeSetter;

  const major = Number(process.versions.node.split('.')[0]);
  const unhookHeaders =
    major < 23 ? hookClientHeaderRender(client.onHeaderRender) : () => undefined;

  const unsubscribe = subscribeChannels([
    // Node >= 22.12 / 24 publish `created` from the ClientRequest constructor, before the headers
    // are rendered; Node 20 only has `start`, published once the headers sit in the output buffer.
    ['http.client.request.created', client.onRequestCreated],
    ['http.server.request.start', server.onRequestStart],
    ['http.server.response.finish', server.onResponseFinish],
    ['http.client.request.start', client.onRequestStart],
    ['http.client.response.finish', client.onResponseFinish],
    ['http.client.request.error', client.onRequestError],
  ]);

  let stopped = false;
  return {
    name: 'http',
    shutdown() {
      if (stopped) return;
      stopped = true;
      client.stop();
      unsubscribe();
      if (routeSlot[ROUTE_SETTER] === server.routeSetter) delete routeSlot[ROUTE_SETTER];
      try {
        unhookHeaders();
      } catch {
        // leave it: the hook is inert once unsubscribed state is gone
      }
    },
  };
}
