import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type FlatSpan, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, requireBuilt, spawnNode } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// Black box for the diagnostics-channel HTTP instrumentation: the built register preloaded into
// an ESM and a CJS fixture server under Node 20 and Node 24, spans and the duration histogram
// checked at an OTLP receiver that decodes with the official protobuf definitions.

const FIXTURES = join(REPO_ROOT, 'test/fixtures/http');
const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

let rx: OtlpReceiver;
let tmp: string;

beforeAll(async () => {
  requireBuilt();
  rx = await startOtlpReceiver();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-http-preload-'));
});

afterAll(async () => {
  killAll();
  await rx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const attr = (s: FlatSpan, k: string) => s.attributes[k];

describe.each(
  NODE_BINARIES.flatMap((node) => ['app.mjs', 'app.cjs'].map((fixture) => ({ node, fixture }))),
)('HTTP instrumentation under $node.label, $fixture', ({ node, fixture }) => {
  it('traces server and client requests end to end with propagation, routes and errors', async () => {
    const service = `http-${fixture.replace('.', '-')}-${randomBytes(3).toString('hex')}`;
    const cwd = mkdtempSync(join(tmp, 'cwd-'));
    const app = spawnNode(node.path, ['--import', REGISTER, join(FIXTURES, fixture)], {
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
      },
    });
    try {
      const port = Number((await app.waitFor(/READY (\d+)/))[1]);
      const traceId = randomBytes(16).toString('hex');
      const parentId = randomBytes(8).toString('hex');
      const res = await fetch(`http://127.0.0.1:${port}/proxy`, {
        headers: { traceparent: `00-${traceId}-${parentId}-01` },
      });
      const body = (await res.json()) as {
        proxySpanId: string;
        downstream: { traceId: string; spanId: string; traceparent: string };
      };
      expect((await fetch(`http://127.0.0.1:${port}/fail`)).status).toBe(500);

      const mine = (s: FlatSpan) => s.resource['service.name'] === service;
      const spans = await rx.waitForSpans((s) => mine(s) && s.traceId === traceId, 3, 20_000);
      const proxy = spans.find((s) => s.kind === SERVER && attr(s, 'url.path') === '/proxy')!;
      const client = spans.find((s) => s.kind === CLIENT)!;
      const users = spans.find((s) => s.kind === SERVER && attr(s, 'url.path') === '/users/7')!;
      expect(proxy).toBeDefined();
      expect(client).toBeDefined();
      expect(users).toBeDefined();

      // Incoming traceparent continued; the handler saw its server span as active.
      expect(proxy.parentSpanId).toBe(parentId);
      expect(proxy.spanId).toBe(body.proxySpanId);
      expect(proxy.name).toBe('GET /proxy');
      expect(attr(proxy, 'http.route')).toBe('/proxy');
      expect(attr(proxy, 'http.response.status_code')).toBe(200);
      // The client span is a child of the handler's span and its id went out as traceparent.
      expect(client.parentSpanId).toBe(proxy.spanId);
      expect(attr(client, 'server.port')).toBe(port);
      expect(attr(client, 'http.response.status_code')).toBe(200);
      expect(body.downstream.traceparent).toBe(`00-${traceId}-${client.spanId}-01`);
      expect(users.parentSpanId).toBe(client.spanId);
      expect(users.spanId).toBe(body.downstream.spanId);
      expect(users.name).toBe('GET /users/:id');
      expect(attr(users, 'http.route')).toBe('/users/:id');

      const [fail] = await rx.waitForSpans(
        (s) => mine(s) && attr(s, 'url.path') === '/fail',
        1,
        20_000,
      );
      expect(fail!.status.code).toBe(STATUS_ERROR);
      expect(attr(fail!, 'error.type')).toBe('500');
      expect(attr(fail!, 'http.route')).toBeUndefined();

      // The exporters' own requests to the receiver are never traced.
      expect(
        rx
          .spans()
          .filter((s) => mine(s) && s.kind === CLIENT && attr(s, 'server.port') === rx.port),
      ).toEqual([]);

      const point = await rx.waitFor(
        (r) =>
          r
            .metrics()
            .filter(
              (m) =>
                m.resource['service.name'] === service && m.name === 'http.server.request.duration',
            )
            .flatMap((m) => m.dataPoints)
            .find((p) => p.attributes['http.route'] === '/users/:id'),
        20_000,
        'http.server.request.duration for /users/:id',
      );
      expect(point.attributes).toEqual({
        'http.request.method': 'GET',
        'http.route': '/users/:id',
        'http.response.status_code': 200,
      });
      expect(Number(point.value.count)).toBe(1);
    } finally {
      // The exit flush is the core preload test's subject; here only: no orphan, bounded wait.
      app.kill('SIGTERM');
      const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
      if ((await Promise.race([app.exited, deadline])) === 'timeout') {
        app.kill('SIGKILL');
        await app.exited;
      }
    }
  });
});
