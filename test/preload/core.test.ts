import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import {
  startOtlpReceiver,
  type FlatLogRecord,
  type OtlpReceiver,
} from '../helpers/otlp-receiver.js';
import {
  killAll,
  quietPreloadEnv,
  requireBuilt,
  spawnNode,
  type Spawned,
} from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// Black box: the built register preloaded into fixture apps (ESM and CJS) under Node 20 and 24,
// exporting to an in-test OTLP receiver that decodes with the official protobuf definitions.

const FIXTURES = join(REPO_ROOT, 'test/fixtures/core');
let rx: OtlpReceiver;
let tmp: string;
let seq = 0;

beforeAll(async () => {
  requireBuilt();
  rx = await startOtlpReceiver();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-core-preload-'));
});

afterAll(async () => {
  killAll();
  await rx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Started {
  app: Spawned;
  port: number;
  state: string;
  service: string;
  logDir: string;
}

/** Environment of a fixture run: nothing inherited but PATH, so the host's NODE_OPTIONS never leaks in. */
function fixtureEnv(
  service: string,
  logDir: string,
  extra: Record<string, string>,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    OTEL_SERVICE_NAME: service,
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    // Short intervals so periodic exports are seen within a test; tests of the exit flush raise it.
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    ECHOES_PROMETHEUS: 'off',
    ECHOES_DIRS: 'none',
    ECHOES_LOG_CONSOLE: 'off',
    ECHOES_LOG_DIR: logDir,
    ...extra,
  };
}

async function start(
  node: string,
  fixture: string,
  opts: {
    env?: Record<string, string>;
    preArgs?: string[];
    preload?: 'argv' | 'NODE_OPTIONS' | 'none';
    cwd?: string;
  } = {},
): Promise<Started> {
  const service = `core-${++seq}-${fixture.replace(/\W/g, '-')}`;
  const cwd = opts.cwd ?? mkdtempSync(join(tmp, 'cwd-'));
  const logDir = join(cwd, 'logs');
  const preload = opts.preload ?? 'argv';
  const env = fixtureEnv(service, logDir, opts.env ?? {});
  if (preload === 'NODE_OPTIONS') env.NODE_OPTIONS = `--import ${REGISTER}`;
  const args = [
    ...(opts.preArgs ?? []),
    ...(preload === 'argv' ? ['--import', REGISTER] : []),
    join(FIXTURES, fixture),
  ];
  const app = spawnNode(node, args, { cwd, env });
  const m = await app.waitFor(/READY (\d+) (\w+)/);
  return { app, port: Number(m[1]), state: m[2]!, service, logDir };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fixture routes answer JSON or text
async function get(port: number, path: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const ofService = (service: string) => (l: { resource: Record<string, unknown> }) =>
  l.resource['service.name'] === service;

function warnings(stderr: string, re: RegExp): string[] {
  return stderr.split('\n').filter((l) => re.test(l));
}

describe.each(NODE_BINARIES)('register preload under $label', ({ path: node }) => {
  describe.each([
    ['ESM', 'app.mjs'],
    ['CommonJS', 'app.cjs'],
  ])('%s fixture', (_kind, fixture) => {
    it("exports spans, metrics and logs with the right resource; log records, the app's own winston ones too, carry the request trace id, once each", async () => {
      const s = await start(node, fixture);
      expect(s.state).toBe('LeanTracerProvider');
      const id = randomUUID();
      const { traceId } = await get(s.port, `/log?id=${id}`);
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);

      const [server] = await rx.waitForSpans(
        (sp) => sp.traceId === traceId && sp.kind === 2,
        1,
        15_000,
      );
      expect(server?.resource['service.name']).toBe(s.service);
      await rx.waitFor(
        (r) =>
          r
            .metrics()
            .find((m) => m.name === 'http.server.request.duration' && ofService(s.service)(m)),
        15_000,
        'http duration metric',
      );
      const isOurs = (l: FlatLogRecord) =>
        ofService(s.service)(l) && l.attributes['order.id'] === id;
      await rx.waitForLogs((l) => isOurs(l) && l.body === 'order placed', 1, 15_000);

      s.app.kill('SIGTERM');
      const exit = await s.app.exited;
      // As without us: no handler of the app's own, so the signal ends it.
      expect(exit.signal).toBe('SIGTERM');

      const records = rx.logRecords().filter(isOurs);
      const ours = records.filter((l) => l.body === 'order placed');
      expect(ours).toHaveLength(1);
      const rec = ours[0]!;
      expect(rec.traceId).toBe(traceId);
      expect(rec.resource).toMatchObject({
        'service.name': s.service,
        'deployment.environment.name': 'development',
        'process.pid': s.app.pid,
        'process.runtime.name': 'nodejs',
        'telemetry.sdk.language': 'nodejs',
        'telemetry.sdk.name': 'opentelemetry',
      });
      expect(String(rec.resource['telemetry.sdk.version'])).toMatch(/^\d+\.\d+\.\d+/);
      // The bundle's semantic-conventions constants are a generated subset
      // (scripts/semconv-subset.mjs): a name it lacked would be an "undefined" key.
      for (const attrs of [rec.resource, rec.attributes, server!.resource, server!.attributes]) {
        expect(Object.keys(attrs)).not.toContain('undefined');
      }
      expect(String(rec.resource['service.instance.id'])).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.stringify(records)).not.toContain('hunter2');
      // The app's own winston logger is shipped over OTLP too, once, with the same trace id.
      const winstonRecords = rx
        .logRecords()
        .filter((l) => ofService(s.service)(l) && l.body === 'app winston line');
      expect(winstonRecords, `stderr: ${s.app.stderr()}`).toHaveLength(1);
      expect(winstonRecords[0]?.traceId).toBe(traceId);

      // The same line is on disk, with the trace id.
      const files = readdirSync(s.logDir).filter((f) => f.endsWith('.log'));
      const lines = files
        .flatMap((f) => readFileSync(join(s.logDir, f), 'utf8').split('\n'))
        .filter((l) => l.includes(id));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.some((l) => l.includes(traceId))).toBe(true);
      expect(s.app.stderr()).toBe('');
    });

    it('flushes on a natural exit (beforeExit) and keeps the exit code', async () => {
      const s = await start(node, fixture, { env: { OTEL_METRIC_EXPORT_INTERVAL: '60000' } });
      await get(s.port, '/quit');
      const exit = await s.app.exited;
      expect(exit).toMatchObject({ code: 3, signal: null });
      // Interval 60 s: only the exit flush can have delivered this.
      expect(
        rx
          .metrics()
          .some((m) => m.name === 'http.server.request.duration' && ofService(s.service)(m)),
      ).toBe(true);
    });
  });

  it('flushes on SIGTERM within the deadline and dies of the signal, as without us', async () => {
    const s = await start(node, 'app.mjs', { env: { OTEL_METRIC_EXPORT_INTERVAL: '60000' } });
    const id = randomUUID();
    await get(s.port, `/log?id=${id}`);
    s.app.markTime();
    s.app.kill('SIGTERM');
    const exit = await s.app.exited;
    expect(exit.signal).toBe('SIGTERM');
    expect(exit.ms).toBeLessThan(2500);
    expect(
      rx
        .metrics()
        .some((m) => m.name === 'http.server.request.duration' && ofService(s.service)(m)),
    ).toBe(true);
    expect(
      rx.logRecords().some((l) => ofService(s.service)(l) && l.attributes['order.id'] === id),
    ).toBe(true);

    const plain = spawnNode(node, [join(FIXTURES, 'app.mjs')], {
      cwd: tmp,
      env: {
        PATH: process.env.PATH,
        ECHOES_LOG_DIR: join(tmp, 'plain-logs'),
        ECHOES_LOG_CONSOLE: 'off',
      },
    });
    await plain.waitFor(/READY/);
    plain.kill('SIGTERM');
    expect((await plain.exited).signal).toBe(exit.signal);
  });

  it('does not kill an app that handles SIGTERM itself, and still flushes', async () => {
    const s = await start(node, 'app.mjs', {
      env: { FIXTURE_OWN_SIGTERM: '1', OTEL_METRIC_EXPORT_INTERVAL: '60000' },
    });
    const id = randomUUID();
    await get(s.port, `/log?id=${id}`);
    s.app.kill('SIGTERM');
    const exit = await s.app.exited;
    expect(exit).toMatchObject({ code: 7, signal: null });
    expect(s.app.stdout()).toMatch(/APP_SIGTERM[\s\S]*APP_DONE/);
    expect(
      rx.logRecords().some((l) => ofService(s.service)(l) && l.attributes['order.id'] === id),
    ).toBe(true);
  });

  it('keeps instrumenting an app that drains after SIGTERM, and flushes what the drain produced at exit', async () => {
    const s = await start(node, 'app.mjs', {
      env: { FIXTURE_DRAIN: '1', OTEL_METRIC_EXPORT_INTERVAL: '60000' },
    });
    await get(s.port, `/log?id=${randomUUID()}`);
    s.app.kill('SIGTERM');
    await s.app.waitFor(/APP_STILL_SERVING/, 10_000);
    // A request served during the drain: its span and its log record must still be exported.
    const id = randomUUID();
    await get(s.port, `/log?id=${id}`);
    const exit = await s.app.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(s.app.stdout()).toMatch(/APP_DRAINED/);
    const record = rx
      .logRecords()
      .find((l) => ofService(s.service)(l) && l.attributes['order.id'] === id);
    expect(record).toBeDefined();
    expect(
      rx.spans().some((sp) => ofService(s.service)(sp) && sp.traceId === record!.traceId),
    ).toBe(true);
  });

  it('does not let a collector that never answers hold the exit of an app that drains after SIGTERM', async () => {
    // Accepts connections and never answers: exports hang until their own timeout (10 s).
    const held: Socket[] = [];
    const blackhole = createServer((sock) => {
      held.push(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const { port } = blackhole.address() as { port: number };
    try {
      const s = await start(node, 'app.mjs', {
        env: {
          FIXTURE_DRAIN: '1',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_METRIC_EXPORT_INTERVAL: '60000',
        },
      });
      await get(s.port, `/log?id=${randomUUID()}`);
      s.app.markTime();
      s.app.kill('SIGTERM');
      const exit = await s.app.exited;
      expect(exit).toMatchObject({ code: 0, signal: null });
      // The app drains for 900 ms; our flush gives up on the collector at the 2000 ms deadline.
      expect(exit.ms).toBeLessThan(4000);
    } finally {
      for (const sock of held) sock.destroy();
      blackhole.close();
    }
  });

  it('with the collector down: one warning per signal, not a stream, and exit within the deadline', async () => {
    const down = await startOtlpReceiver();
    down.setDown(true);
    try {
      const s = await start(node, 'app.mjs', {
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: down.url,
          OTEL_EXPORTER_OTLP_TIMEOUT: '500',
          OTEL_METRIC_EXPORT_INTERVAL: '200',
        },
      });
      await get(s.port, `/log?id=${randomUUID()}`);
      await s.app.waitFor(/cannot export metrics/, 15_000, 'stderr');
      // Several more failed exports after the first warning...
      const before = down.refusedCount;
      await down.waitFor(() => down.refusedCount >= before + 5, 15_000, 'more refused exports');
      // ...still only one warning about them.
      expect(warnings(s.app.stderr(), /cannot export metrics/)).toHaveLength(1);
      s.app.markTime();
      s.app.kill('SIGTERM');
      const exit = await s.app.exited;
      expect(exit.signal).toBe('SIGTERM');
      // Deadline 2000 ms (default) plus process teardown.
      expect(exit.ms).toBeLessThan(3000);
      for (const signal of ['traces', 'metrics', 'logs']) {
        expect(
          warnings(s.app.stderr(), new RegExp(`cannot export ${signal}`)).length,
          signal,
        ).toBeLessThanOrEqual(1);
      }
      console.log(`[${node}] exit after SIGTERM with the collector down: ${exit.ms} ms`);
    } finally {
      await down.close();
    }
  });

  it('starts no second SDK in a worker thread nor in a child that inherited NODE_OPTIONS', async () => {
    const s = await start(node, 'app.mjs', { preload: 'NODE_OPTIONS' });
    expect(s.state).toBe('LeanTracerProvider');
    expect((await get(s.port, '/worker')).worker).toBe('NoopTracerProvider');
    expect((await get(s.port, '/child')).child).toBe(`NoopTracerProvider parent=${s.app.pid}`);
    s.app.kill('SIGTERM');
    await s.app.exited;
    const instances = new Set(
      rx
        .spans()
        .filter(ofService(s.service))
        .map((sp) => sp.resource['service.instance.id']),
    );
    expect(instances.size).toBe(1);
    expect(s.app.stderr()).toBe('');
  });

  it('warns once about an invalid env value, naming variable, value and fallback, and keeps serving', async () => {
    const s = await start(node, 'app.mjs', { env: { ECHOES_LOG_MAX_BYTES: 'lots' } });
    expect(await get(s.port, '/')).toBe('ok');
    s.app.kill('SIGTERM');
    await s.app.exited;
    const lines = warnings(s.app.stderr(), /echoes-otel/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ECHOES_LOG_MAX_BYTES="lots".*using 10485760/);
  });

  it('warns once about a malformed config/config.yaml and keeps serving on defaults', async () => {
    const cwd = mkdtempSync(join(tmp, 'yaml-'));
    mkdirSync(join(cwd, 'config'));
    writeFileSync(
      join(cwd, 'config/config.yaml'),
      'logging:\n  level: [unclosed\n  file_rotation: {\n',
    );
    const s = await start(node, 'app.mjs', { cwd });
    expect(await get(s.port, '/')).toBe('ok');
    s.app.kill('SIGTERM');
    await s.app.exited;
    const lines = warnings(s.app.stderr(), /echoes-otel/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/config\/config\.yaml.*not valid YAML.*using defaults/);
  });

  it('runs the app uninstrumented with one clear warning when setup fails', async () => {
    const s = await start(node, 'app.mjs', {
      preArgs: ['--import', join(FIXTURES, 'sabotage.mjs')],
    });
    expect(s.state).toBe('NoopTracerProvider');
    expect(await get(s.port, '/')).toBe('ok');
    s.app.kill('SIGTERM');
    const exit = await s.app.exited;
    expect(exit.signal).toBe('SIGTERM');
    const lines = warnings(s.app.stderr(), /echoes-otel/);
    expect(lines).toEqual([
      expect.stringMatching(
        /^echoes-otel: telemetry disabled: .*randomUUID sabotaged.*; your application is running without instrumentation$/,
      ),
    ]);
  });

  it('instruments an ESM import of lru-cache through the import hook the preload registers', async () => {
    const s = await start(node, 'app.mjs');
    expect(await get(s.port, '/cache')).toEqual({ hit: 1, miss: null });
    s.app.kill('SIGTERM');
    await s.app.exited;
    const requests = rx
      .metrics()
      .filter((m) => m.name === 'echoes.cache.requests' && ofService(s.service)(m))
      .flatMap((m) => m.dataPoints)
      .filter((p) => p.attributes['cache.name'] === 'fixture-esm');
    expect([...new Set(requests.map((p) => p.attributes['cache.result']))].sort()).toEqual([
      'hit',
      'miss',
    ]);
  });

  it('exports over OTLP http/json when asked', async () => {
    const s = await start(node, 'app.mjs', { env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } });
    const id = randomUUID();
    const { traceId } = await get(s.port, `/log?id=${id}`);
    s.app.kill('SIGTERM');
    await s.app.exited;
    const mine = rx.requests.filter((r) => JSON.stringify(r.body).includes(s.service));
    expect(new Set(mine.map((r) => r.encoding))).toEqual(new Set(['json']));
    expect(rx.spans().some((sp) => sp.traceId === traceId && ofService(s.service)(sp))).toBe(true);
    expect(
      rx.logRecords().some((l) => l.traceId === traceId && l.attributes['order.id'] === id),
    ).toBe(true);
  });

  it('loads no OpenTelemetry module in a process it does not instrument (disabled, or a child that inherited the preload)', async () => {
    // What the process loaded, from its own view; plain CommonJS eval, so nothing of the app's own.
    const probe =
      "process.on('exit', () => console.log('LOADED ' + Object.keys(require.cache).filter((k) => k.includes('@opentelemetry')).length))";
    for (const env of [{ OTEL_SDK_DISABLED: 'true' }, { ECHOES_PRELOAD_PARENT_PID: '1' }]) {
      const app = spawnNode(node, ['--import', REGISTER, '-e', probe], {
        cwd: tmp,
        env: { PATH: process.env.PATH, ...env },
      });
      expect((await app.exited).code).toBe(0);
      expect(app.stdout().trim(), JSON.stringify(env)).toBe('LOADED 0');
      expect(app.stderr()).toBe('');
    }
  });

  it('does nothing at all with OTEL_SDK_DISABLED=true', async () => {
    const s = await start(node, 'app.mjs', { env: { OTEL_SDK_DISABLED: 'true' } });
    expect(s.state).toBe('NoopTracerProvider');
    await get(s.port, `/log?id=${randomUUID()}`);
    s.app.kill('SIGTERM');
    expect((await s.app.exited).signal).toBe('SIGTERM');
    expect(rx.requests.some((r) => JSON.stringify(r.body).includes(s.service))).toBe(false);
    expect(s.app.stderr()).toBe('');
  });

  it('serves the embedded Prometheus endpoint on the configured port', async () => {
    const port = await freePort();
    const s = await start(node, 'app.mjs', {
      env: { ECHOES_PROMETHEUS: 'on', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
    });
    await get(s.port, '/');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain('http_server_request_duration_seconds_bucket');
    s.app.kill('SIGTERM');
    expect((await s.app.exited).signal).toBe('SIGTERM');
  });

  it("serves the Prometheus endpoint of an app that listens nowhere without loading Node's cluster module", async () => {
    // net's listen() requires `cluster` (and with it child_process and dgram) on every call;
    // export/listen.ts takes the step listen() takes outside a cluster worker.
    const port = await freePort();
    const probe = `
      const poll = () => fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then(
        (t) => console.log('METRICS ' + t.includes('# TYPE') + ' CLUSTER ' + process.moduleLoadList.includes('NativeModule cluster')),
        () => setTimeout(poll, 50));
      poll();`;
    const app = spawnNode(node, ['--import', REGISTER, '-e', probe], {
      cwd: tmp,
      env: quietPreloadEnv(join(tmp, 'logs-cluster'), {
        ECHOES_PROMETHEUS: 'on',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      }),
    });
    expect((await app.exited).code).toBe(0);
    expect(app.stdout().trim()).toBe('METRICS true CLUSTER false');
    expect(app.stderr()).toBe('');
  });

  it('only warns when the Prometheus port is taken', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const port = (blocker.address() as { port: number }).port;
      const s = await start(node, 'app.mjs', {
        env: { ECHOES_PROMETHEUS: 'on', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
      });
      expect(await get(s.port, '/')).toBe('ok');
      await s.app.waitFor(/Prometheus endpoint cannot listen/, 10_000, 'stderr');
      s.app.kill('SIGTERM');
      await s.app.exited;
      expect(warnings(s.app.stderr(), /echoes-otel/)).toHaveLength(1);
    } finally {
      blocker.close();
    }
  });
});
