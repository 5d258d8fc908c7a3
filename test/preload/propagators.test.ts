import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type FlatSpan, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, requireBuilt, spawnNode, type Spawned } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// OTEL_PROPAGATORS under the built preload: which headers an inbound request is continued from and
// which an outbound http.request carries. The fixture calls itself, so the downstream's view of
// the headers and the spans at the OTLP receiver are both checked. (fetch: test/preload/real-*.)

const FIXTURE = join(REPO_ROOT, 'test/fixtures/propagators/app.mjs');
const SERVER = 2;
const CLIENT = 3;

let rx: OtlpReceiver;
let tmp: string;

beforeAll(async () => {
  requireBuilt();
  rx = await startOtlpReceiver();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-propagators-'));
});

afterAll(async () => {
  killAll();
  await rx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Proxied {
  active: { traceId: string; spanId: string };
  downstream: { headers: Record<string, string>; active: { traceId: string; spanId: string } };
}

async function withApp(
  node: string,
  propagators: string,
  run: (port: number, service: string) => Promise<void>,
): Promise<Spawned> {
  const service = `prop-${propagators.replace(/\W/g, '')}-${randomBytes(3).toString('hex')}`;
  const app = spawnNode(node, ['--import', REGISTER, FIXTURE], {
    cwd: tmp,
    env: {
      PATH: process.env.PATH,
      OTEL_SERVICE_NAME: service,
      OTEL_PROPAGATORS: propagators,
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      ECHOES_PROMETHEUS: 'off',
      ECHOES_DIRS: 'none',
      ECHOES_LOG_CONSOLE: 'off',
      ECHOES_LOG_DIR: join(tmp, `logs-${service}`),
    },
  });
  try {
    const port = Number((await app.waitFor(/READY (\d+)/))[1]);
    await run(port, service);
  } finally {
    app.kill('SIGTERM');
    const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
    if ((await Promise.race([app.exited, deadline])) === 'timeout') {
      app.kill('SIGKILL');
      await app.exited;
    }
  }
  return app;
}

async function proxy(port: number, headers: Record<string, string>): Promise<Proxied> {
  const res = await fetch(`http://127.0.0.1:${port}/proxy`, { headers });
  expect(res.status).toBe(200);
  return (await res.json()) as Proxied;
}

describe.each(NODE_BINARIES)('OTEL_PROPAGATORS under $label', (node) => {
  it('b3: continues an inbound b3 trace and sends a b3 header (no traceparent) downstream', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const app = await withApp(node.path, 'b3', async (port, service) => {
      const seen = await proxy(port, { b3: `${traceId}-${parentId}-1` });
      expect(seen.active.traceId).toBe(traceId);
      const sent = seen.downstream.headers;
      expect(sent.traceparent).toBeUndefined();
      expect(sent['x-b3-traceid']).toBeUndefined();
      expect(sent.b3).toMatch(new RegExp(`^${traceId}-[0-9a-f]{16}-1$`));
      expect(seen.downstream.active.traceId).toBe(traceId);

      const spans = await rx.waitForSpans(
        (s: FlatSpan) => s.resource['service.name'] === service && s.traceId === traceId,
        3,
        20_000,
      );
      const front = spans.find((s) => s.kind === SERVER && s.attributes['url.path'] === '/proxy')!;
      const client = spans.find((s) => s.kind === CLIENT)!;
      expect(front.parentSpanId).toBe(parentId);
      expect(client.parentSpanId).toBe(front.spanId);
      expect(sent.b3).toBe(`${traceId}-${client.spanId}-1`);
    });
    expect(app.stderr()).not.toMatch(/OTEL_PROPAGATORS/);
  });

  it('b3multi: continues inbound X-B3 headers and sends X-B3-TraceId/SpanId/Sampled downstream', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    await withApp(node.path, 'b3multi', async (port) => {
      const seen = await proxy(port, {
        'x-b3-traceid': traceId,
        'x-b3-spanid': parentId,
        'x-b3-sampled': '1',
      });
      expect(seen.active.traceId).toBe(traceId);
      const sent = seen.downstream.headers;
      expect(sent['x-b3-traceid']).toBe(traceId);
      expect(sent['x-b3-spanid']).toMatch(/^[0-9a-f]{16}$/);
      expect(sent['x-b3-spanid']).not.toBe(parentId);
      expect(sent['x-b3-sampled']).toBe('1');
      expect(sent.b3).toBeUndefined();
      expect(sent.traceparent).toBeUndefined();
    });
  });

  it('tracecontext,b3multi: sends both encodings; none: continues nothing and sends nothing', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    await withApp(node.path, 'tracecontext,b3multi', async (port) => {
      const seen = await proxy(port, { traceparent: `00-${traceId}-${parentId}-01` });
      expect(seen.active.traceId).toBe(traceId);
      expect(seen.downstream.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-`));
      expect(seen.downstream.headers['x-b3-traceid']).toBe(traceId);
    });
    await withApp(node.path, 'none', async (port) => {
      const seen = await proxy(port, {
        traceparent: `00-${traceId}-${parentId}-01`,
        b3: `${traceId}-${parentId}-1`,
      });
      // A new trace (recorded locally), nothing of it on the wire.
      expect(seen.active.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(seen.active.traceId).not.toBe(traceId);
      const sent = seen.downstream.headers;
      expect(sent.traceparent).toBeUndefined();
      expect(sent.b3).toBeUndefined();
      expect(sent['x-b3-traceid']).toBeUndefined();
      expect(seen.downstream.active.traceId).not.toBe(seen.active.traceId);
    });
  });
});
