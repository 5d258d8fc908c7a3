import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEchoesService } from '../../../../src/service/server.js';
import type { EchoesService } from '../../../../src/service/server.js';
import { createCache } from '../../../../instrumentation/signals/cache.js';
import type { CacheSpec, ServiceTelemetry } from '../../../../src/service/telemetry.js';

// In-process, on a loopback port: the routes, their errors, and what they tell the telemetry.
function fakeTelemetry() {
  const routes: string[] = [];
  const logs: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const caches: CacheSpec[] = [];
  const log = (level: string) => (message: string, meta?: Record<string, unknown>) =>
    logs.push([level, message, meta]);
  const t: ServiceTelemetry = {
    logger: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
    createCache: <V>(spec: CacheSpec) => {
      caches.push(spec);
      return createCache<string, V>(spec);
    },
    setHttpRoute: (r) => routes.push(r),
    sources: { logger: 'fallback', cache: 'fallback', http: 'fallback' },
  };
  return { t, routes, logs, caches };
}

describe('createEchoesService', () => {
  let dir: string;
  let svc: EchoesService;
  let base: string;
  let tel: ReturnType<typeof fakeTelemetry>;
  let dice = 0.5;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'echoes-server-'));
    tel = fakeTelemetry();
    dice = 0.5;
    svc = createEchoesService(
      {
        dataDir: dir,
        latencyScale: 0,
        failureRate: 0.3,
        random: () => dice,
        sessionMode: 'immediate',
      },
      tel.t,
    );
    const addr = await svc.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterEach(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('answers a chat, stores question and answer, and names the route', async () => {
    const r = await post('/chat', { session_id: 'a1', model: 'gpt-4', message: 'hi' });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      session_id: 'a1',
      model: 'gpt-4',
      reply: 'echo from gpt-4: hi',
      history: 2,
    });
    const saved = JSON.parse(readFileSync(join(dir, 'data', 'memory', 'a1.json'), 'utf8'));
    expect(saved.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(tel.routes).toEqual(['/chat']);
    expect(tel.logs.find((l) => l[1] === 'chat answered')?.[2]).toMatchObject({
      model: 'gpt-4',
      session_id: 'a1',
      embedding_cache: 'miss',
    });
    expect(tel.caches).toEqual([{ name: 'model-info', maxEntries: 8, ttlMs: 60_000 }]);

    const s = await fetch(`${base}/sessions/a1`);
    expect(s.status).toBe(200);
    expect(((await s.json()) as { updates: number }).updates).toBe(2);
    expect(tel.routes).toEqual(['/chat', '/sessions/:id']);
  });

  it('fails at the configured rate with 503 and an error log, writing nothing', async () => {
    dice = 0.1; // below the 0.3 failure rate
    const r = await post('/chat', { session_id: 'f', message: 'x' });
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ error: 'simulated failure of gpt-4o' });
    expect(tel.logs.some((l) => l[0] === 'error' && l[1] === 'model call failed')).toBe(true);
    expect((await fetch(`${base}/sessions/f`)).status).toBe(404);
    // The query overrides the configured rate.
    expect((await post('/chat?failure_rate=0', { session_id: 'f', message: 'x' })).status).toBe(
      200,
    );
  });

  it.each([
    ['/chat', 'not json', 400, /not valid JSON/],
    ['/chat', [1, 2], 400, /JSON object/],
    [
      '/chat',
      { model: 'llama' },
      400,
      /unknown model "llama"; choose one of gpt-4o, gpt-4, gpt-3\.5-turbo/,
    ],
    ['/chat', { session_id: '../etc' }, 400, /session_id must match/],
    ['/chat?latency_ms=-1', {}, 400, /latency_ms must be a number from 0 to 60000/],
    ['/chat?failure_rate=2', {}, 400, /failure_rate must be a number from 0 to 1/],
    ['/nowhere', {}, 404, /no route POST \/nowhere/],
  ])('POST %s with %j answers %i', async (path, body, status, message) => {
    const r = await post(path, body);
    expect(r.status).toBe(status);
    expect(((await r.json()) as { error: string }).error).toMatch(message);
  });

  it('refuses oversized bodies, wrong methods and bad session ids', async () => {
    expect((await post('/chat', { message: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await fetch(`${base}/chat`)).status).toBe(405);
    expect((await fetch(`${base}/sessions/a%2F..`)).status).toBe(400);
    expect((await fetch(`${base}/sessions/nobody`)).status).toBe(404);
  });

  it('reports health with session stats and where telemetry came from', async () => {
    const r = await fetch(`${base}/healthz`);
    expect(await r.json()).toEqual({
      status: 'ok',
      sessions: { updates: 0, writes: 0, flushes: 0, pending: 0 },
      telemetry: { logger: 'fallback', cache: 'fallback', http: 'fallback' },
    });
    expect(tel.routes).toEqual(['/healthz']);
  });

  it('serves model-info from the cache after the first lookup', async () => {
    for (let i = 0; i < 3; i++)
      await post('/chat', { session_id: 'c', model: 'gpt-4o', message: 'same' });
    const answered = tel.logs
      .filter((l) => l[1] === 'chat answered')
      .map((l) => l[2]!.embedding_cache);
    expect(answered).toEqual(['miss', 'hit', 'hit']);
  });
});
