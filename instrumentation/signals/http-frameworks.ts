import dc from 'node:diagnostics_channel';
import { diag } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  type Instrumentation,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import type { Feature } from '../feature.js';
import { setHttpRoute } from './http-common.js';
import type { EchoesConfig } from '../types.js';

/**
 * `http.route` from the frameworks, with no code change: each hook learns the matched route
 * template and hands it to `setHttpRoute` (http-common.ts), which names the server span (`GET
 * /users/:id`) and the `http.server.request.duration` slot of the request in the active context.
 * Nothing here creates spans (upstream's express/koa/fastify instrumentations make one per
 * middleware; why not them: docs/performance.md). A request no route matched gets no route.
 *
 * - express 4 and 5: the template is the matched route's path (`layer.route.path`) after the
 *   templates of the mount paths the request went through (`app.use('/api', router)`), kept on
 *   the request while inside the mount. `req.baseUrl` is not used: it holds the actual prefix
 *   (`/orgs/42`, not `/orgs/:org`) and is reset once a router exits.
 * - koa with @koa/router: the router writes `ctx._matchedRoute` (prefix included) when a route
 *   matched; an accessor on the app's context prototype hears that write. Nothing per request
 *   otherwise.
 * - fastify 4 and 5: fastify publishes `fastify.initialization` on diagnostics_channel for every
 *   instance it creates; an `onRoute` hook then gives each declared route (plugin prefix included)
 *   an `onRequest` hook naming its template. No module hook at all.
 *
 * The express and koa hooks run only when the app requires or imports the package (the ESM
 * hook's module list in register-main.ts names them).
 */

const VERSION = '0.1.0';
const kPatched = Symbol.for('echoes-otel.http.frameworks.patched');
/** Template of the path a `use()` layer was mounted at (only when not `/`). */
const kMount = Symbol('echoes.express.mount');
/** Templates of the mounts the request is inside of, concatenated. */
const kPrefix = Symbol('echoes.express.prefix');

let warned = false;
function warnOnce(what: string, err: unknown): void {
  if (warned) return;
  warned = true;
  diag.warn(`echoes-otel: ${what} route hook failed (${String(err)}); routes may be missing`);
}

// ---- express ----------------------------------------------------------------------------------

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;
interface Layer {
  route?: { path?: unknown };
  [kMount]?: string;
}
interface Req {
  [kPrefix]?: string;
}
type Patchable = Record<string | symbol, unknown>;

/** A route or mount path (string, RegExp or array of them) as a template string. */
export function pathTemplate(path: unknown): string | undefined {
  if (typeof path === 'string') return path;
  if (path instanceof RegExp) return String(path);
  if (Array.isArray(path)) {
    const parts = path.map(pathTemplate).filter((p): p is string => p !== undefined);
    return parts.length > 0 ? parts.join(',') : undefined;
  }
  return undefined;
}

/** Prefix + route path: `/api` + `/users/:id`, `/api` + `/` → `/api`, no doubled slash. */
export function joinRoute(prefix: string | undefined, path: string): string {
  if (prefix === undefined || prefix === '') return path;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (path === '/' || path === '') return p === '' ? '/' : p;
  return path.startsWith('/') ? p + path : `${p}/${path}`;
}

/** Wraps the layer prototype's request method once (express 4: handle_request, 5: handleRequest). */
function patchLayerProto(proto: Patchable): void {
  if (proto[kPatched] === true) return;
  const name =
    typeof proto.handleRequest === 'function'
      ? 'handleRequest'
      : typeof proto.handle_request === 'function'
        ? 'handle_request'
        : undefined;
  if (name === undefined) return;
  const original = proto[name] as AnyFn;
  proto[kPatched] = true;
  proto[name] = function (this: Layer, req: Req, res: unknown, next: AnyFn): unknown {
    const route = this.route;
    if (route !== undefined) {
      // A route layer is only handed a request whose path and method it matched.
      try {
        const path = pathTemplate(route.path);
        if (path !== undefined) setHttpRoute(joinRoute(req[kPrefix], path));
      } catch (err) {
        warnOnce('express', err);
      }
      return original.call(this, req, res, next);
    }
    const mount = this[kMount];
    if (mount === undefined || typeof next !== 'function') {
      return original.call(this, req, res, next);
    }
    // Inside a mounted router or app: its routes see the mount template as their prefix,
    // until it hands the request back (next), when the previous prefix returns.
    const saved = req[kPrefix];
    req[kPrefix] = joinRoute(saved, mount);
    return original.call(this, req, res, function (this: unknown, ...args: unknown[]) {
      req[kPrefix] = saved;
      return next.apply(this, args);
    });
  };
}

function wrapRouterProto(routerProto: Patchable): void {
  if (routerProto[kPatched] === true) return;
  const use = routerProto.use as AnyFn | undefined;
  const route = routerProto.route as AnyFn | undefined;
  if (typeof use !== 'function' || typeof route !== 'function') return;
  routerProto[kPatched] = true;
  routerProto.use = function (this: { stack?: Layer[] }, ...args: unknown[]): unknown {
    const before = this.stack?.length ?? 0;
    const result = use.apply(this, args);
    try {
      const stack = this.stack;
      if (Array.isArray(stack)) {
        // use([path,] ...fns): the path is the first argument unless that is a handler.
        // As express decides: nested arrays whose first leaf is a function are handlers.
        let arg = args[0];
        while (Array.isArray(arg) && arg.length !== 0) arg = arg[0] as unknown;
        const mount = typeof arg === 'function' ? undefined : pathTemplate(args[0]);
        for (let i = before; i < stack.length; i++) {
          const layer = stack[i]!;
          if (mount !== undefined && mount !== '/') layer[kMount] = mount;
          patchLayerProto(Object.getPrototypeOf(layer) as Patchable);
        }
      }
    } catch (err) {
      warnOnce('express', err);
    }
    return result;
  };
  routerProto.route = function (this: { stack?: Layer[] }, ...args: unknown[]): unknown {
    const result = route.apply(this, args);
    try {
      const layer = this.stack?.[this.stack.length - 1];
      if (layer !== undefined) patchLayerProto(Object.getPrototypeOf(layer) as Patchable);
    } catch (err) {
      warnOnce('express', err);
    }
    return result;
  };
}

/** Patches the router of an express 4 or 5 module export (CJS function or ESM namespace). */
export function patchExpress(exports: unknown): unknown {
  try {
    const ns = exports as { default?: unknown; Router?: unknown };
    const express = (typeof exports === 'function' ? exports : (ns.default ?? exports)) as {
      Router?: { prototype?: Patchable } & Patchable;
    };
    const Router = express?.Router;
    if (Router === undefined) return exports;
    // express 5 (the `router` package): methods on Router.prototype; express 4: on Router itself.
    const routerProto =
      typeof Router.prototype?.route === 'function' ? Router.prototype : (Router as Patchable);
    wrapRouterProto(routerProto);
  } catch (err) {
    warnOnce('express', err);
  }
  return exports;
}

class ExpressRoutes extends InstrumentationBase<InstrumentationConfig> {
  constructor(config: InstrumentationConfig = {}) {
    super('echoes-otel/express', VERSION, config);
  }
  protected init() {
    return [
      new InstrumentationNodeModuleDefinition('express', ['>=4 <6'], (m: unknown) =>
        patchExpress(m),
      ),
    ];
  }
}

export function createExpressInstrumentation(config: EchoesConfig): Instrumentation {
  return new ExpressRoutes({ enabled: config.instrumentations.express });
}

// ---- koa --------------------------------------------------------------------------------------

const kMatched = Symbol('echoes.koa.matchedRoute');

/** An accessor for `_matchedRoute` on an app's context prototype: every ctx inherits it. */
export function hookMatchedRoute(contextProto: object): void {
  if (Object.prototype.hasOwnProperty.call(contextProto, kPatched)) return;
  Object.defineProperty(contextProto, kPatched, { value: true });
  Object.defineProperty(contextProto, '_matchedRoute', {
    configurable: true,
    enumerable: false,
    get(this: { [kMatched]?: unknown }) {
      return this[kMatched];
    },
    set(this: { [kMatched]?: unknown }, value: unknown) {
      this[kMatched] = value;
      if (typeof value === 'string') setHttpRoute(value);
    },
  });
}

/** Patches `Application.prototype.callback` of a koa module export (CJS class or ESM namespace). */
export function patchKoa(exports: unknown): unknown {
  try {
    const App = (
      typeof exports === 'function' ? exports : (exports as { default?: unknown }).default
    ) as { prototype?: Patchable } | undefined;
    const proto = App?.prototype;
    if (proto === undefined || proto[kPatched] === true) return exports;
    const callback = proto.callback as AnyFn | undefined;
    if (typeof callback !== 'function') return exports;
    proto[kPatched] = true;
    // callback() runs once per app (listen, or the app's own http.createServer(app.callback())).
    proto.callback = function (this: { context?: object }, ...args: unknown[]): unknown {
      try {
        if (this.context !== undefined) hookMatchedRoute(this.context);
      } catch (err) {
        warnOnce('koa', err);
      }
      return callback.apply(this, args);
    };
  } catch (err) {
    warnOnce('koa', err);
  }
  return exports;
}

// `duplicates` pairs this with ExpressRoutes: the InstrumentationBase form upstream asks of each
// module hook (name, version range, patch function), written once per framework.
class KoaRoutes extends InstrumentationBase<InstrumentationConfig> {
  constructor(config: InstrumentationConfig = {}) {
    super('echoes-otel/koa', VERSION, config);
  }
  protected init() {
    return [
      new InstrumentationNodeModuleDefinition('koa', ['>=2 <4'], (m: unknown) => patchKoa(m)),
    ];
  }
}

export function createKoaInstrumentation(config: EchoesConfig): Instrumentation {
  return new KoaRoutes({ enabled: config.instrumentations.koa });
}

// ---- fastify ----------------------------------------------------------------------------------

type Hook = (...args: unknown[]) => unknown;
interface FastifyRouteOptions {
  url?: unknown;
  onRequest?: Hook | Hook[] | null;
}

/**
 * For every route the app declares (plugin prefixes included in `url`), a route-level `onRequest`
 * hook that names it: the template is closed over once per route, so a request pays one call and
 * no lookup (`request.routeOptions` builds a fresh object per read), and the not-found handler,
 * which is no declared route, names nothing.
 */
function onFastifyRoute(routeOptions: FastifyRouteOptions): void {
  try {
    const url = routeOptions.url;
    if (typeof url !== 'string' || url === '') return;
    const nameRoute: Hook = function (_request, _reply, done): void {
      setHttpRoute(url);
      (done as () => void)();
    };
    const existing = routeOptions.onRequest;
    routeOptions.onRequest =
      existing === undefined || existing === null
        ? [nameRoute]
        : Array.isArray(existing)
          ? [nameRoute, ...existing]
          : [nameRoute, existing];
  } catch (err) {
    warnOnce('fastify', err);
  }
}

function onFastifyInit(message: unknown): void {
  try {
    const fastify = (message as { fastify?: { addHook?: (...a: unknown[]) => unknown } }).fastify;
    // Added while fastify() builds the root instance: every route and plugin comes after it.
    fastify?.addHook?.('onRoute', onFastifyRoute);
  } catch (err) {
    warnOnce('fastify', err);
  }
}

/** fastify 4 and 5: a feature, since it needs no module hook, only a diagnostics channel. */
export function setupFastifyRoutes(): Feature {
  dc.subscribe('fastify.initialization', onFastifyInit);
  return {
    name: 'fastify',
    shutdown() {
      try {
        dc.unsubscribe('fastify.initialization', onFastifyInit);
      } catch {
        // already gone
      }
    },
  };
}
