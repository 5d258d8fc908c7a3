/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are JSON read as the client would */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOpenAIServer, tokens, type OpenAIServer } from '../helpers/openai-server.js';
import {
  startOtlpReceiver,
  type FlatMetric,
  type FlatSpan,
  type OtlpReceiver,
} from '../helpers/otlp-receiver.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';
import { mariaDbUnavailable, startMariaDb, type MariaDbServer } from '../helpers/mariadb.js';
import { mongoUnavailable, startMongo, type MongoServer } from '../helpers/mongodb.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { killAll, requireBuilt, spawnNode, type Spawned } from '../helpers/spawn.js';

// Black box: the built preload in a node:http service (ESM and CJS, Node 20 and 24) that queries a
// real PostgreSQL, a real redis-server (through ioredis and node-redis) and a local
// OpenAI-compatible server through the real `openai` client (v5, and v4 from a copy installed as
// `openai`), inside its requests. Each library is loaded by the request that first uses it.

const FIXTURES = join(REPO_ROOT, 'test/fixtures/libs');
const MARIADB_MISSING = mariaDbUnavailable();
if (MARIADB_MISSING !== undefined) console.warn(`mysql2 tests skipped: ${MARIADB_MISSING}`);
// No registry here serves a MongoDB server (Debian has no package; mongodb-memory-server downloads
// its binary from fastdl.mongodb.org at run time): the mongodb driver talks to FerretDB, a real
// MongoDB wire-protocol server built from its Go module (test/helpers/mongodb.ts).
const MONGODB_MISSING = mongoUnavailable();
if (MONGODB_MISSING !== undefined) console.warn(`mongodb test skipped: ${MONGODB_MISSING}`);
const SERVER = 2;
const CLIENT = 3;

let rx: OtlpReceiver;
let pg: PostgresServer;
let redis: RedisServer;
let model: OpenAIServer;
let maria: MariaDbServer | undefined;
let mongo: MongoServer | undefined;
let tmp: string;
let v4Dir: string;
let seq = 0;

/** openai 4 is installed as `openai-4` (npm alias); instrumentations match the package name, so
 * the v4 runs use a copy of the fixtures beside a copy of it named `openai` (test/.tmp, ignored). */
function openai4Fixtures(): string {
  const dir = join(REPO_ROOT, 'test/.tmp/libs-openai4');
  const pkg = join(dir, 'node_modules/openai/package.json');
  const want = JSON.parse(
    readFileSync(join(REPO_ROOT, 'node_modules/openai-4/package.json'), 'utf8'),
  ).version;
  if (!existsSync(pkg) || JSON.parse(readFileSync(pkg, 'utf8')).version !== want) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    cpSync(join(REPO_ROOT, 'node_modules/openai-4'), join(dir, 'node_modules/openai'), {
      recursive: true,
      dereference: true,
    });
  }
  for (const f of ['app.cjs', 'app.mjs']) cpSync(join(FIXTURES, f), join(dir, f));
  return dir;
}

beforeAll(async () => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-libs-'));
  v4Dir = openai4Fixtures();
  [rx, pg, redis, model] = await Promise.all([
    startOtlpReceiver(),
    startPostgres(),
    startRedis(),
    startOpenAIServer({ apiKey: `sk-test-${'k3y'.repeat(8)}` }),
  ]);
  [maria, mongo] = await Promise.all([
    MARIADB_MISSING === undefined ? startMariaDb() : undefined,
    MONGODB_MISSING === undefined ? startMongo() : undefined,
  ]);
}, 180_000);

afterAll(async () => {
  killAll();
  await Promise.allSettled([
    rx?.close(),
    pg?.stop(),
    redis?.stop(),
    model?.close(),
    maria?.stop(),
    mongo?.stop(),
  ]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface App {
  proc: Spawned;
  port: number;
  service: string;
}

async function startApp(
  node: string,
  file: string,
  extra: Record<string, string> = {},
): Promise<App> {
  const service = `libs-${++seq}`;
  const proc = spawnNode(node, ['--import', REGISTER, file], {
    cwd: tmp,
    env: {
      PATH: process.env.PATH,
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ECHOES_PROMETHEUS: 'off',
      ECHOES_DIRS: 'none',
      ECHOES_LOG_CONSOLE: 'off',
      ECHOES_LOG_DIR: join(tmp, service),
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      OPENAI_BASE_URL: model.baseURL,
      OPENAI_API_KEY: model.apiKey,
      ...(maria !== undefined ? { MYSQL_URL: maria.url } : {}),
      ...(mongo !== undefined ? { MONGODB_URL: mongo.url } : {}),
      ...extra,
    },
  });
  const m = await proc.waitFor(/READY (\d+)/, 20_000);
  return { proc, port: Number(m[1]), service };
}

async function call(app: App, path: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${app.port}${path}`, { headers });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}

const ofService = (service: string) => (x: { resource: Record<string, unknown> }) =>
  x.resource['service.name'] === service;

/** The server span and the client spans of one request's trace, once `count` client spans arrived. */
async function traceOf(
  app: App,
  traceId: string,
  count: number,
): Promise<{ server: FlatSpan; clients: FlatSpan[] }> {
  const clients = await rx.waitForSpans(
    (s) => s.traceId === traceId && s.kind === CLIENT && ofService(app.service)(s),
    count,
    15_000,
  );
  const [server] = await rx.waitForSpans(
    (s) => s.traceId === traceId && s.kind === SERVER,
    1,
    15_000,
  );
  return { server: server!, clients };
}

async function metricPoints(
  app: App,
  name: string,
  match: (attrs: Record<string, unknown>, value: any) => boolean,
): Promise<FlatMetric['dataPoints']> {
  return rx.waitFor(
    (r) => {
      const pts = r
        .metrics()
        .filter((m) => m.name === name && ofService(app.service)(m))
        .flatMap((m) => m.dataPoints)
        .filter((p) => match(p.attributes, p.value));
      return pts.length > 0 ? pts : undefined;
    },
    15_000,
    `${name} points`,
  );
}

/**
 * Waits for a `db.client.operation.duration` point matching `match` that carries an exemplar of
 * one of `clients` (the request's db client spans): the duration links to its trace.
 */
async function expectDbExemplar(
  app: App,
  match: (attrs: Record<string, unknown>) => boolean,
  clients: readonly FlatSpan[],
): Promise<void> {
  const ids = new Set(clients.map((c) => `${c.traceId}/${c.spanId}`));
  await metricPoints(app, 'db.client.operation.duration', (a, value) => {
    const exemplars = (value?.exemplars ?? []) as { traceId?: string; spanId?: string }[];
    return match(a) && exemplars.some((e) => ids.has(`${e.traceId}/${e.spanId}`));
  });
}

describe.each(NODE_BINARIES)('client libraries under $label', ({ path: node }) => {
  describe.each([
    ['ESM', 'app.mjs'],
    ['CommonJS', 'app.cjs'],
  ])('%s service', (_kind, file) => {
    let app: App;
    beforeAll(async () => {
      app = await startApp(node, join(FIXTURES, file));
    }, 30_000);
    afterAll(() => app?.proc.kill('SIGKILL'));

    it('traces pg queries as client spans of the request, stable attributes, no literal in the text, and records their duration', async () => {
      const { traceId } = await call(app, '/pg');
      const { server, clients } = await traceOf(app, traceId, 2);
      const select = clients.find((s) => s.attributes['db.operation.name'] === 'SELECT');
      const insert = clients.find((s) => s.attributes['db.operation.name'] === 'INSERT');
      expect(select, JSON.stringify(clients.map((c) => c.name))).toBeDefined();
      expect(select!.parentSpanId).toBe(server.spanId);
      expect(select!.name).toBe('SELECT items');
      expect(select!.attributes).toMatchObject({
        'db.system.name': 'postgresql',
        'db.collection.name': 'items',
        'db.namespace': pg.database,
        'db.query.text': 'SELECT id, name FROM items WHERE name = ? AND id > ?',
        'server.address': '127.0.0.1',
        'server.port': pg.port,
      });
      expect(insert!.attributes['db.query.text']).toBe(
        'INSERT INTO items (id, name) VALUES ($1, $2)',
      );
      expect(JSON.stringify(rx.spans().filter(ofService(app.service)))).not.toMatch(
        /alice-secret|bob-secret|> 41/,
      );
      const points = await metricPoints(
        app,
        'db.client.operation.duration',
        (a) => a['db.system.name'] === 'postgresql' && a['db.operation.name'] === 'SELECT',
      );
      expect(Number(points[0]!.value.count)).toBeGreaterThanOrEqual(1);
      await expectDbExemplar(app, (a) => a['db.system.name'] === 'postgresql', clients);
    });

    it('traces ioredis commands with the key and no value, and records their duration', async () => {
      const { traceId } = await call(app, '/ioredis');
      const { server, clients } = await traceOf(app, traceId, 2);
      const set = clients.find((s) => s.attributes['db.operation.name'] === 'set');
      expect(set, JSON.stringify(clients.map((c) => c.attributes))).toBeDefined();
      expect(set!.parentSpanId).toBe(server.spanId);
      expect(set!.attributes).toMatchObject({
        'db.system.name': 'redis',
        'db.query.text': 'SET session:1 ?',
        'server.address': '127.0.0.1',
        'server.port': redis.port,
      });
      expect(JSON.stringify(clients)).not.toContain('value-secret');
      await metricPoints(
        app,
        'db.client.operation.duration',
        (a) => a['db.system.name'] === 'redis' && a['db.operation.name'] === 'set',
      );
      await expectDbExemplar(app, (a) => a['db.system.name'] === 'redis', clients);
    });

    it('traces node-redis (5) commands with the key and no value, and records their duration', async () => {
      const { traceId } = await call(app, '/redis');
      const { server, clients } = await traceOf(app, traceId, 2);
      const set = clients.find((s) => String(s.attributes['db.operation.name']) === 'SET');
      expect(set, JSON.stringify(clients.map((c) => c.attributes))).toBeDefined();
      expect(set!.parentSpanId).toBe(server.spanId);
      expect(set!.attributes).toMatchObject({
        'db.system.name': 'redis',
        'db.query.text': 'SET cache:1 ?',
        'server.address': '127.0.0.1',
        'server.port': redis.port,
      });
      expect(JSON.stringify(clients)).not.toContain('value-secret');
      await metricPoints(
        app,
        'db.client.operation.duration',
        (a) => a['db.system.name'] === 'redis' && a['db.operation.name'] === 'SET',
      );
      // node-redis goes through upstream's instrumentation: its duration too links to the trace.
      await expectDbExemplar(app, (a) => a['db.operation.name'] === 'SET', clients);
    });

    it.skipIf(MARIADB_MISSING !== undefined)(
      'traces mysql2 queries against MariaDB with stable attributes and no literal in the text, and records their duration',
      async () => {
        const { traceId } = await call(app, '/mysql2');
        const { server, clients } = await traceOf(app, traceId, 2);
        const select = clients.find((s) => s.attributes['db.operation.name'] === 'SELECT');
        expect(select, JSON.stringify(clients.map((c) => c.attributes))).toBeDefined();
        expect(select!.parentSpanId).toBe(server.spanId);
        expect(select!.name).toBe('SELECT items');
        expect(select!.attributes).toMatchObject({
          'db.system.name': 'mysql',
          'db.collection.name': 'items',
          'db.query.text': 'SELECT id, name FROM items WHERE name = ? AND id > ?',
          'server.address': '127.0.0.1',
          'server.port': maria!.port,
        });
        expect(JSON.stringify(clients)).not.toMatch(/alice-secret|bob-secret|> 41/);
        await metricPoints(
          app,
          'db.client.operation.duration',
          (a) => a['db.system.name'] === 'mysql' && a['db.collection.name'] === 'items',
        );
        await expectDbExemplar(app, (a) => a['db.system.name'] === 'mysql', clients);
      },
    );

    it.skipIf(MONGODB_MISSING !== undefined)(
      'traces mongodb commands (a real MongoDB wire server) with stable attributes and no value in the text, and records their duration',
      async () => {
        const { traceId, result } = await call(app, '/mongodb');
        expect(result).toBeGreaterThan(0);
        const { server, clients } = await traceOf(app, traceId, 2);
        const find = clients.find((s) => s.attributes['db.operation.name'] === 'find');
        const insert = clients.find((s) => s.attributes['db.operation.name'] === 'insert');
        expect(find, JSON.stringify(clients.map((c) => c.attributes))).toBeDefined();
        expect(insert).toBeDefined();
        expect(find!.parentSpanId).toBe(server.spanId);
        expect(find!.name).toBe('find users');
        expect(find!.attributes).toMatchObject({
          'db.system.name': 'mongodb',
          'db.namespace': 'app',
          'db.collection.name': 'users',
          'server.address': '127.0.0.1',
          'server.port': mongo!.port,
        });
        // The filter's shape, never its values.
        expect(String(find!.attributes['db.query.text'])).toContain('"name":"?"');
        expect(JSON.stringify(clients)).not.toMatch(/carol-secret|"pro"/);
        await metricPoints(
          app,
          'db.client.operation.duration',
          (a) => a['db.system.name'] === 'mongodb' && a['db.collection.name'] === 'users',
        );
        await expectDbExemplar(app, (a) => a['db.system.name'] === 'mongodb', clients);
      },
    );

    it('traces openai (5) chat calls, streamed and not, and their errors, with GenAI attributes and metrics, and no API key anywhere', async () => {
      await openaiChecks(app, model);
    });
  });

  it('captures no prompt or completion by default, and with capture on ships them redacted', async () => {
    const secret = `sk-live-${'s3cr3t'.repeat(4)}`;
    const prompt = `please remember my key ${secret} for later`;
    const off = await startApp(node, join(FIXTURES, 'app.cjs'));
    const on = await startApp(node, join(FIXTURES, 'app.mjs'), {
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      OTEL_BLRP_SCHEDULE_DELAY: '100',
    });
    try {
      // In a header (the fixture's prompt), which no span records.
      await call(off, '/openai', { 'x-prompt': prompt });
      const { traceId } = await call(on, '/openai', { 'x-prompt': prompt });
      const events = await rx.waitForLogs(
        (l) => ofService(on.service)(l) && String(l.attributes['event.name']).startsWith('gen_ai.'),
        2,
        15_000,
      );
      const user = events.find((l) => l.attributes['event.name'] === 'gen_ai.user.message');
      expect(user?.traceId).toBe(traceId);
      expect(JSON.stringify(user?.body)).toContain('please remember my key [REDACTED] for later');
      const choice = events.find((l) => l.attributes['event.name'] === 'gen_ai.choice');
      expect(JSON.stringify(choice?.body)).toContain(model.reply);
      // The app with capture off: its span arrived, and no GenAI event at all.
      await traceOf(off, (await call(off, '/openai')).traceId, 1);
      expect(
        rx
          .logRecords()
          .filter((l) => ofService(off.service)(l))
          .filter((l) => String(l.attributes['event.name'] ?? '').startsWith('gen_ai.')),
      ).toEqual([]);
      const leaks = [...rx.spans(), ...rx.logRecords(), ...rx.metrics()]
        .map((x) => JSON.stringify(x))
        .filter((x) => x.includes(secret));
      expect(leaks).toEqual([]);
    } finally {
      off.proc.kill('SIGKILL');
      on.proc.kill('SIGKILL');
    }
  });

  it('traces openai 4 (ESM and CJS) the same way', async () => {
    for (const file of ['app.mjs', 'app.cjs']) {
      const app = await startApp(node, join(v4Dir, file));
      try {
        await openaiChecks(app, model);
      } finally {
        app.proc.kill('SIGKILL');
      }
    }
  });
});

async function openaiChecks(app: App, server: OpenAIServer): Promise<void> {
  const prompt = 'say hello to the tests please';
  const chat = await call(app, '/openai');
  expect(chat.result).toBe(server.reply);
  const { server: parent, clients } = await traceOf(app, chat.traceId, 1);
  const span = clients.find((s) => s.attributes['gen_ai.operation.name'] === 'chat');
  expect(span, JSON.stringify(clients.map((c) => c.name))).toBeDefined();
  expect(span!.parentSpanId).toBe(parent.spanId);
  expect(span!.name).toBe('chat echo-small');
  expect(span!.attributes).toMatchObject({
    'gen_ai.request.model': 'echo-small',
    'gen_ai.response.model': expect.stringMatching(/^echo-small/),
    'gen_ai.usage.input_tokens': tokens(prompt),
    'gen_ai.usage.output_tokens': tokens(server.reply),
    'server.address': '127.0.0.1',
  });

  const streamed = await call(app, '/openai?mode=stream');
  expect(streamed.result).toBe(server.reply);
  const s = (await traceOf(app, streamed.traceId, 1)).clients.find(
    (c) => c.attributes['gen_ai.operation.name'] === 'chat',
  );
  expect(s!.attributes).toMatchObject({
    'gen_ai.usage.input_tokens': tokens(prompt),
    'gen_ai.usage.output_tokens': tokens(server.reply),
  });

  const failed = await call(app, '/openai?mode=error');
  expect(failed.result).toBe('error 429');
  const e = (await traceOf(app, failed.traceId, 1)).clients.find(
    (c) => c.attributes['gen_ai.operation.name'] === 'chat',
  );
  expect(e!.status.code).toBe(2);
  expect(e!.attributes['error.type']).toBe('RateLimitError');

  // Cumulative: once an export holds both successful calls, streamed and not.
  await metricPoints(
    app,
    'gen_ai.client.token.usage',
    (a, v) =>
      a['gen_ai.token.type'] === 'output' &&
      String(a['gen_ai.response.model']).startsWith('echo-small') &&
      v.sum === 2 * tokens(server.reply),
  );
  await metricPoints(
    app,
    'gen_ai.client.operation.duration',
    (a) => a['error.type'] === 'RateLimitError',
  );

  // The key the client sent (Authorization: Bearer ...) is in no exported signal.
  expect(server.requests.some((r) => r.headers.authorization === `Bearer ${server.apiKey}`)).toBe(
    true,
  );
  const mine = rx.requests.filter((r) => JSON.stringify(r.body).includes(app.service));
  expect(mine.length).toBeGreaterThan(0);
  expect(JSON.stringify(rx.requests.map((r) => r.body))).not.toContain(server.apiKey);
}
