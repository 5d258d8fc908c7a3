import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import { setupHttp } from '../../../../instrumentation/signals/http.js';
import {
  joinRoute,
  patchExpress,
  patchKoa,
  pathTemplate,
  setupFastifyRoutes,
} from '../../../../instrumentation/signals/http-frameworks.js';
import type { Feature, SetupContext } from '../../../../instrumentation/feature.js';
import type { EchoesConfig } from '../../../../instrumentation/types.js';

// The route hooks on the real frameworks (express 4 through its npm alias, patched directly since
// module hooks are the preload test's subject), behind our real node:http server instrumentation.

const require = createRequire(import.meta.url);
const exporter = new InMemorySpanExporter();
const tracerProvider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const meterProvider = new MeterProvider();
const config = {
  metrics: { prometheus: { enabled: false, host: '127.0.0.1', port: 9464 } },
  http: { ignorePaths: [] },
} as unknown as EchoesConfig;
let httpFeature: Feature;
let fastifyFeature: Feature;
const servers: http.Server[] = [];

beforeAll(() => {
  tracerProvider.register();
  const ctx: SetupContext = {
    config,
    meterProvider,
    meter: meterProvider.getMeter('test'),
    tracerProvider,
    tracer: tracerProvider.getTracer('echoes-otel'),
    loggerProvider: logs.getLoggerProvider(),
    fastMetrics: createFastMetrics({ cardinalityLimit: 2000 }),
  };
  httpFeature = setupHttp(ctx);
  fastifyFeature = setupFastifyRoutes();
});

afterEach(() => exporter.reset());

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await fastifyFeature.shutdown();
  await httpFeature.shutdown();
  await tracerProvider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** GETs each path, then returns `path -> server span` once all of them ended. */
async function routesOf(port: number, paths: string[]): Promise<Map<string, ReadableSpan>> {
  for (const p of paths) {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    await res.text();
  }
  const deadline = Date.now() + 5000;
  for (;;) {
    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    if (spans.length >= paths.length) {
      return new Map(spans.map((s) => [String(s.attributes['url.path']), s]));
    }
    if (Date.now() > deadline) throw new Error(`only ${spans.length} server spans`);
    await new Promise((r) => setImmediate(r));
  }
}

const PATHS = ['/users/42', '/api/items/7', '/orgs/acme/members/9', '/api/', '/nope'];
const EXPECTED: Record<string, string | undefined> = {
  '/users/42': '/users/:id',
  '/api/items/7': '/api/items/:itemId',
  '/orgs/acme/members/9': '/orgs/:org/members/:member',
  '/api/': '/api',
  '/nope': undefined,
};

function expectRoutes(spans: Map<string, ReadableSpan>): void {
  for (const [path, route] of Object.entries(EXPECTED)) {
    const span = spans.get(path);
    expect(span, path).toBeDefined();
    expect(span!.attributes['http.route'], path).toBe(route);
    expect(span!.name, path).toBe(route === undefined ? 'GET' : `GET ${route}`);
  }
}

type Handler = (req: { params: Record<string, string> }, res: { json(v: unknown): void }) => void;
interface ExpressRouter {
  get(path: string, h: Handler): void;
  use(...args: unknown[]): void;
}

for (const pkg of ['express-4', 'express']) {
  describe(`express route hook (${pkg})`, () => {
    it('names route templates with mount prefixes, and no route for a 404', async () => {
      const express = patchExpress(require(pkg)) as (() => ExpressRouter & {
        listen: never;
      }) & { Router: (o?: unknown) => ExpressRouter };
      const app = express();
      const ok: Handler = (req, res) => res.json(req.params);
      // Middleware on the way, mounted and not: neither names a route.
      app.use((_req: unknown, _res: unknown, next: () => void) => next());
      app.get('/users/:id', ok);
      const api = express.Router();
      api.use('/items', (_req: unknown, _res: unknown, next: () => void) => next());
      api.get('/items/:itemId', ok);
      api.get('/', ok);
      app.use('/api', api);
      const orgs = express.Router({ mergeParams: true });
      orgs.get('/members/:member', ok);
      app.use('/orgs/:org', orgs);
      // A whole app mounted under a prefix.
      const sub = express();
      sub.get('/ping/:n', ok);
      app.use('/v1', sub);
      const port = await listen(http.createServer(app as unknown as http.RequestListener));
      const spans = await routesOf(port, [...PATHS, '/v1/ping/3', '/v1/nope']);
      expectRoutes(spans);
      expect(spans.get('/v1/ping/3')!.attributes['http.route']).toBe('/v1/ping/:n');
      expect(spans.get('/v1/nope')!.attributes['http.route']).toBeUndefined();
    });
  });
}

describe('koa route hook (@koa/router)', () => {
  it('names the matched route, nested router prefix included, and no route for a 404', async () => {
    type Ctx = { params: Record<string, string>; body: unknown };
    const Koa = patchKoa(require('koa')) as new () => {
      use(m: unknown): void;
      callback(): http.RequestListener;
    };
    const Router = require('@koa/router') as new () => {
      get(p: string, h: (ctx: Ctx) => void): void;
      use(p: string, m: unknown): void;
      routes(): unknown;
    };
    const app = new Koa();
    const router = new Router();
    const ok = (ctx: Ctx) => {
      ctx.body = ctx.params;
    };
    router.get('/users/:id', ok);
    const api = new Router();
    api.get('/items/:itemId', ok);
    api.get('/', ok);
    router.use('/api', api.routes());
    const orgs = new Router();
    orgs.get('/members/:member', ok);
    router.use('/orgs/:org', orgs.routes());
    app.use(router.routes());
    const port = await listen(http.createServer(app.callback()));
    const spans = await routesOf(port, PATHS);
    // @koa/router names a nested router's `/` route by its prefix plus the slash.
    expect(spans.get('/api/')!.attributes['http.route']).toMatch(/^\/api\/?$/);
    spans.delete('/api/');
    for (const [path, route] of Object.entries(EXPECTED)) {
      if (path === '/api/') continue;
      expect(spans.get(path)!.attributes['http.route'], path).toBe(route);
    }
  });
});

for (const pkg of ['fastify-4', 'fastify']) {
  describe(`fastify route hook (${pkg})`, () => {
    it('names the route with the plugin prefix from the initialization channel, and no route for a 404', async () => {
      type Route = (req: { params: unknown }) => Promise<unknown>;
      type App = {
        get(p: string, h: Route): void;
        register(p: (i: App) => Promise<void>, o: { prefix: string }): void;
        listen(o: { port: number; host: string }): Promise<string>;
        server: http.Server;
        close(): Promise<void>;
      };
      const Fastify = require(pkg) as () => App;
      const app = Fastify();
      const ok: Route = async (req) => req.params;
      // The app's own route-level onRequest hook still runs beside ours.
      let ownHookRan = 0;
      (app as unknown as { route(o: unknown): void }).route({
        method: 'GET',
        url: '/users/:id',
        onRequest: (_req: unknown, _reply: unknown, done: () => void) => {
          ownHookRan++;
          done();
        },
        handler: ok,
      });
      app.register(
        async (api) => {
          api.get('/items/:itemId', ok);
          api.get('/', ok);
        },
        { prefix: '/api' },
      );
      app.register(async (orgs) => orgs.get('/members/:member', ok), { prefix: '/orgs/:org' });
      await app.listen({ port: 0, host: '127.0.0.1' });
      try {
        const port = (app.server.address() as AddressInfo).port;
        const spans = await routesOf(port, PATHS);
        expect(spans.get('/api/')!.attributes['http.route']).toMatch(/^\/api\/?$/);
        for (const [path, route] of Object.entries(EXPECTED)) {
          if (path === '/api/') continue;
          expect(spans.get(path)!.attributes['http.route'], path).toBe(route);
        }
        expect(ownHookRan).toBe(1);
      } finally {
        await app.close();
      }
    });
  });
}

describe('pathTemplate and joinRoute', () => {
  it('turn route and mount paths into one template', () => {
    expect(pathTemplate('/users/:id')).toBe('/users/:id');
    expect(pathTemplate(['/a', '/b'])).toBe('/a,/b');
    expect(pathTemplate(/^\/x$/)).toBe('/^\\/x$/');
    expect(pathTemplate(() => undefined)).toBeUndefined();
    expect(joinRoute(undefined, '/users/:id')).toBe('/users/:id');
    expect(joinRoute('/api', '/users/:id')).toBe('/api/users/:id');
    expect(joinRoute('/api/', '/users')).toBe('/api/users');
    expect(joinRoute('/api', '/')).toBe('/api');
    expect(joinRoute('/api', 'x')).toBe('/api/x');
  });
});
