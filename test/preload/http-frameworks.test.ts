import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type FlatSpan, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, requireBuilt, spawnNode } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// Black box for the framework routes, fetch client spans and ignored paths: the built register
// preloaded into unchanged express 4/5, fastify 4/5 and koa + @koa/router apps (ESM and CJS)
// under Node 20 and 24. Every app fetch()es a downstream loopback server run by this test, which
// records the traceparent it got; spans and histograms are checked at an OTLP receiver.
//
// express 4 and fastify 4 are installed under npm aliases (express-4, fastify-4): the test copies
// the aliased package in as `express` / `fastify` next to a copy of the fixture, inside the
// repository's node_modules (so the package's own dependencies still resolve from there), since
// module hooks match a package by the directory it is required from.

const FIXTURES = join(REPO_ROOT, 'test/fixtures/http-frameworks');
const RUN_ROOT = join(REPO_ROOT, 'node_modules/.cache/echoes-http-frameworks');
const SERVER = 2;
const CLIENT = 3;

interface Case {
  name: string;
  fixture: string;
  /** npm alias to copy in as `pkg` next to the fixture. */
  alias?: { from: string; pkg: string };
}

const CASES: Case[] = [
  { name: 'express 4 (CJS)', fixture: 'express.cjs', alias: { from: 'express-4', pkg: 'express' } },
  { name: 'express 5 (ESM)', fixture: 'express.mjs' },
  { name: 'express 5 (CJS)', fixture: 'express.cjs' },
  { name: 'fastify 5 (ESM)', fixture: 'fastify.mjs' },
  { name: 'fastify 4 (CJS)', fixture: 'fastify.cjs', alias: { from: 'fastify-4', pkg: 'fastify' } },
  { name: 'koa + @koa/router (CJS)', fixture: 'koa.cjs' },
  { name: 'koa + @koa/router (ESM)', fixture: 'koa.mjs' },
];

let rx: OtlpReceiver;
let tmp: string;
let downstream: http.Server;
let downstreamUrl: string;
/** traceparent headers the downstream saw, by the first path segment (the calling service). */
const seenByService = new Map<string, (string | undefined)[]>();

beforeAll(async () => {
  requireBuilt();
  rx = await startOtlpReceiver();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-http-frameworks-'));
  rmSync(RUN_ROOT, { recursive: true, force: true });
  downstream = http.createServer((req, res) => {
    const service = (req.url ?? '/').split('/')[1] ?? '';
    const tp = req.headers.traceparent as string | undefined;
    const list = seenByService.get(service) ?? [];
    list.push(tp);
    seenByService.set(service, list);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ traceparent: tp ?? null }));
  });
  await new Promise<void>((r) => downstream.listen(0, '127.0.0.1', r));
  downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  killAll();
  await rx?.close();
  downstream?.closeAllConnections();
  await new Promise((r) => downstream?.close(r));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  rmSync(RUN_ROOT, { recursive: true, force: true });
});

/** Where the fixture runs from: its own folder, or a copy next to the aliased package. */
function fixturePath(c: Case): string {
  if (c.alias === undefined) return join(FIXTURES, c.fixture);
  const dir = join(RUN_ROOT, c.alias.from);
  const target = join(dir, 'node_modules', c.alias.pkg);
  mkdirSync(dir, { recursive: true });
  // Once per alias (both Node versions share it).
  try {
    cpSync(join(REPO_ROOT, 'node_modules', c.alias.from), target, {
      recursive: true,
      errorOnExist: true,
      force: false,
    });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_FS_CP_EEXIST') throw err;
  }
  cpSync(join(FIXTURES, c.fixture), join(dir, basename(c.fixture)));
  return join(dir, basename(c.fixture));
}

const attr = (s: FlatSpan, k: string) => s.attributes[k];

describe.each(NODE_BINARIES.flatMap((node) => CASES.map((c) => ({ node, c }))))(
  'framework routes and fetch under $node.label, $c.name',
  ({ node, c }) => {
    it('names the route template on span and histogram, traces fetch and skips ignored paths', async () => {
      const service = `fw-${randomBytes(4).toString('hex')}`;
      const cwd = mkdtempSync(join(tmp, 'cwd-'));
      const app = spawnNode(node.path, ['--import', REGISTER, fixturePath(c)], {
        cwd,
        env: {
          PATH: process.env.PATH,
          OTEL_SERVICE_NAME: service,
          OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
          OTEL_METRIC_EXPORT_INTERVAL: '500',
          ECHOES_PROMETHEUS: 'off',
          ECHOES_DIRS: 'none',
          ECHOES_LOG_CONSOLE: 'off',
          ECHOES_LOG_DIR: join(cwd, 'logs'),
          ECHOES_HTTP_IGNORE_PATHS: '/health',
          DOWNSTREAM: `${downstreamUrl}/${service}`,
        },
      });
      try {
        const port = Number((await app.waitFor(/READY (\d+)/, 20_000))[1]);
        const get = async (path: string): Promise<number> =>
          (await fetch(`http://127.0.0.1:${port}${path}`)).status;
        expect(await get('/users/42')).toBe(200);
        expect(await get('/api/items/7')).toBe(200);
        expect(await get('/orgs/acme/members/9')).toBe(200);
        expect(await get('/nope')).toBe(404);
        expect(await get('/fetch')).toBe(200);
        expect(await get('/health')).toBe(200);

        const mine = (s: FlatSpan) => s.resource['service.name'] === service;
        const server = (path: string) =>
          rx.spans().find((s) => mine(s) && s.kind === SERVER && attr(s, 'url.path') === path);
        // Five server spans (not /health) and the fetch client span.
        await rx.waitForSpans(mine, 6, 20_000);

        const expectRoute = (path: string, route: string) => {
          const s = server(path);
          expect(s, path).toBeDefined();
          expect(s!.name).toBe(`GET ${route}`);
          expect(attr(s!, 'http.route')).toBe(route);
        };
        expectRoute('/users/42', '/users/:id');
        expectRoute('/api/items/7', '/api/items/:itemId');
        expectRoute('/orgs/acme/members/9', '/orgs/:org/members/:member');
        expectRoute('/fetch', '/fetch');
        const nope = server('/nope')!;
        expect(nope.name).toBe('GET');
        expect(attr(nope, 'http.route')).toBeUndefined();
        expect(attr(nope, 'http.response.status_code')).toBe(404);

        // fetch: a client span under the handler's server span, its id sent as traceparent.
        const handler = server('/fetch')!;
        const client = rx.spans().find((s) => mine(s) && s.kind === CLIENT)!;
        expect(client).toBeDefined();
        expect(client.name).toBe('GET');
        expect(client.traceId).toBe(handler.traceId);
        expect(client.parentSpanId).toBe(handler.spanId);
        const downPort = Number(new URL(downstreamUrl).port);
        expect(client.attributes).toMatchObject({
          'http.request.method': 'GET',
          'server.address': '127.0.0.1',
          'server.port': downPort,
          'url.full': `${downstreamUrl}/${service}/down`,
          'http.response.status_code': 200,
        });
        const seen = seenByService.get(service)!;
        expect(seen[0]).toBe(`00-${client.traceId}-${client.spanId}-01`);
        // The ignored /health: no span at all, and its own fetch carried no traceparent.
        expect(server('/health')).toBeUndefined();
        expect(seen).toHaveLength(2);
        expect(seen[1]).toBeUndefined();
        expect(rx.spans().filter((s) => mine(s) && s.kind === CLIENT)).toHaveLength(1);

        const points = (name: string) =>
          rx
            .metrics()
            .filter((m) => m.resource['service.name'] === service && m.name === name)
            .flatMap((m) => m.dataPoints);
        // Cumulative: wait until the export holds all six requests.
        const serverPoints = await rx.waitFor(
          () => {
            const p = points('http.server.request.duration');
            const total = new Map<string, number>();
            for (const d of p) total.set(JSON.stringify(d.attributes), Number(d.value.count));
            return [...total.values()].reduce((a, b) => a + b, 0) >= 6 ? p : undefined;
          },
          20_000,
          'http.server.request.duration for six requests',
        );
        const routes = new Set(serverPoints.map((p) => p.attributes['http.route']));
        expect(routes).toEqual(
          new Set([
            '/users/:id',
            '/api/items/:itemId',
            '/orgs/:org/members/:member',
            '/fetch',
            '/health',
            undefined,
          ]),
        );
        const notFound = serverPoints.find(
          (p) => p.attributes['http.response.status_code'] === 404,
        );
        expect(notFound!.attributes).toEqual({
          'http.request.method': 'GET',
          'http.response.status_code': 404,
        });
        const clientPoint = await rx.waitFor(
          () =>
            points('http.client.request.duration').find(
              (p) => p.attributes['server.port'] === downPort && Number(p.value.count) >= 1,
            ),
          20_000,
          'http.client.request.duration for the downstream call',
        );
        // Only /fetch's call: /health runs with tracing suppressed, so its call is not measured either
        // (as our exporters' requests are not).
        expect(Number(clientPoint.value.count)).toBe(1);
        expect(clientPoint.attributes).toEqual({
          'http.request.method': 'GET',
          'server.address': '127.0.0.1',
          'server.port': downPort,
          'http.response.status_code': 200,
        });
      } finally {
        app.kill('SIGTERM');
        const deadline = new Promise<'timeout'>((r) =>
          setTimeout(() => r('timeout'), 5000).unref(),
        );
        if ((await Promise.race([app.exited, deadline])) === 'timeout') {
          app.kill('SIGKILL');
          await app.exited;
        }
      }
      // A hook that threw warns once on stderr: the routes above may still have come out right.
      expect(app.stderr()).not.toMatch(/route hook failed|instrumentation hook failed/);
    });
  },
);

describe.each(NODE_BINARIES)('framework and fetch switches under $label', (node) => {
  it('leaves routes and fetch alone when express and undici are disabled', async () => {
    const service = `fw-off-${randomBytes(4).toString('hex')}`;
    const cwd = mkdtempSync(join(tmp, 'cwd-'));
    const app = spawnNode(node.path, ['--import', REGISTER, join(FIXTURES, 'express.mjs')], {
      cwd,
      env: {
        PATH: process.env.PATH,
        OTEL_SERVICE_NAME: service,
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'express,undici',
        ECHOES_PROMETHEUS: 'off',
        ECHOES_DIRS: 'none',
        ECHOES_LOG_CONSOLE: 'off',
        ECHOES_LOG_DIR: join(cwd, 'logs'),
        DOWNSTREAM: `${downstreamUrl}/${service}`,
      },
    });
    try {
      const port = Number((await app.waitFor(/READY (\d+)/, 20_000))[1]);
      expect((await fetch(`http://127.0.0.1:${port}/users/42`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/fetch`)).status).toBe(200);
      const mine = (s: FlatSpan) => s.resource['service.name'] === service;
      const spans = await rx.waitForSpans(mine, 2, 20_000);
      // Server spans still come from the http instrumentation, without a route.
      expect(spans.map((s) => [s.kind, s.name, attr(s, 'http.route')]).sort()).toEqual([
        [SERVER, 'GET', undefined],
        [SERVER, 'GET', undefined],
      ]);
      expect(seenByService.get(service)).toEqual([undefined]);
    } finally {
      app.kill('SIGTERM');
      const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
      if ((await Promise.race([app.exited, deadline])) === 'timeout') {
        app.kill('SIGKILL');
        await app.exited;
      }
    }
  });
});
