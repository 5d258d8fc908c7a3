/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are JSON read as the client would */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDownstream, traceIdOf, type DownstreamServer } from '../helpers/downstream.js';
import { startOpenAIServer, tokens, type OpenAIServer } from '../helpers/openai-server.js';
import { startPostgres } from '../helpers/postgres.js';
import { startRedis } from '../helpers/redis.js';

// The real-server helpers the real-services tests stand on: each starts, answers as the real
// thing would, and leaves nothing behind. No client library needed here (psql, raw RESP, fetch):
// the fixture services use the real pg / ioredis / openai clients against the same helpers.

const run = promisify(execFile);

describe('startPostgres', () => {
  it('starts a cluster on loopback with a password-protected role and removes it on stop', async () => {
    const pg = await startPostgres({ database: 'shop', user: 'shopper' });
    try {
      expect(pg.url).toMatch(/^postgres:\/\/shopper:[0-9a-f]{24}@127\.0\.0\.1:\d+\/shop$/);
      await pg.sql('create table items (id int primary key, name text)');
      await pg.sql("insert into items values (1, 'tea')");
      expect(
        await pg.sql('select rolsuper from pg_roles where rolname = current_user', {
          superuser: true,
        }),
      ).toMatch(/\bt\b/);
      // The role logs in over TCP with its password (scram), as a client library does.
      const { stdout } = await run(
        pg.psqlPath,
        [
          '-X',
          '-At',
          '-h',
          '127.0.0.1',
          '-p',
          String(pg.port),
          '-U',
          'shopper',
          '-d',
          'shop',
          '-c',
          'select current_user, name from items',
        ],
        { env: { PATH: process.env.PATH, PGPASSWORD: pg.password } },
      );
      expect(stdout.trim()).toBe('shopper|tea');
      // ... and not without it.
      await expect(
        run(
          pg.psqlPath,
          [
            '-X',
            '-h',
            '127.0.0.1',
            '-p',
            String(pg.port),
            '-U',
            'shopper',
            '-d',
            'shop',
            '-w',
            '-c',
            'select 1',
          ],
          {
            env: { PATH: process.env.PATH },
          },
        ),
      ).rejects.toThrow(/password/);
    } finally {
      await pg.stop();
    }
    expect(existsSync(pg.dir)).toBe(false);
  });
});

describe('startRedis', () => {
  it('starts redis-server on loopback without persistence and removes it on stop', async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(await redis.command('SET', 'greeting', 'hello')).toBe('+OK\r\n');
      expect(await redis.command('GET', 'greeting')).toBe('$5\r\nhello\r\n');
      expect(await redis.command('CONFIG', 'GET', 'appendonly')).toContain('no');
    } finally {
      await redis.stop();
    }
    expect(existsSync(redis.dir)).toBe(false);
    await expect(redis.command('PING')).rejects.toThrow();
  });
});

describe('startOpenAIServer', () => {
  let ai: OpenAIServer;
  beforeAll(async () => {
    ai = await startOpenAIServer({ reply: 'tea is ready' });
  });
  afterAll(() => ai?.close());
  const post = (path: string, body: unknown, key = ai.apiKey) =>
    fetch(`${ai.baseURL}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers a chat completion with usage counted from the prompt and the reply', async () => {
    const r = await post('/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'make me some tea' }],
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body.object).toBe('chat.completion');
    expect(body.model).toMatch(/^gpt-4o-mini-/);
    expect(body.choices[0].message.content).toBe('tea is ready');
    expect(body.usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });
    expect(tokens('make me some tea')).toBe(4);
  });

  it('streams SSE chunks and a final usage chunk when include_usage is asked for', async () => {
    const r = await post('/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi there' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await r.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('tea is ready');
    expect(chunks.at(-1).choices).toEqual([]);
    expect(chunks.at(-1).usage).toEqual({
      prompt_tokens: 2,
      completion_tokens: 3,
      total_tokens: 5,
    });

    const plain = await post('/chat/completions', { model: 'm', messages: [], stream: true });
    const last = (await plain.text())
      .split('\n\n')
      .filter(Boolean)
      .at(-2)!
      .replace(/^data: /, '');
    expect(JSON.parse(last).usage).toBeUndefined();
  });

  it('returns embeddings as floats or as base64 float32, with usage', async () => {
    const floats = (await (
      await post('/embeddings', { model: 'e', input: ['a b', 'c'] })
    ).json()) as any;
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0].embedding).toHaveLength(8);
    expect(floats.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    const b64 = (await (
      await post('/embeddings', { model: 'e', input: 'a b', encoding_format: 'base64' })
    ).json()) as any;
    const bytes = new Uint8Array(Buffer.from(b64.data[0].embedding, 'base64'));
    const decoded = Array.from(new Float32Array(bytes.buffer));
    expect(decoded.map((x) => x.toFixed(4))).toEqual(
      floats.data[0].embedding.map((x: number) => Math.fround(x).toFixed(4)),
    );
  });

  it('fails like OpenAI does: 429 and 500 on demand, 401 for a wrong key', async () => {
    const r429 = await post('/chat/completions', { model: 'error-429', messages: [] });
    expect(r429.status).toBe(429);
    expect(((await r429.json()) as any).error).toMatchObject({
      type: 'requests',
      code: 'rate_limit_exceeded',
    });
    ai.failNext(500);
    const r500 = await post('/chat/completions', { model: 'gpt-4o-mini', messages: [] });
    expect(r500.status).toBe(500);
    expect(((await r500.json()) as any).error.type).toBe('server_error');
    expect((await post('/chat/completions', { model: 'gpt-4o-mini', messages: [] })).status).toBe(
      200,
    );
    const r401 = await post(
      '/chat/completions',
      { model: 'gpt-4o-mini', messages: [] },
      'sk-wrong',
    );
    expect(r401.status).toBe(401);
    expect(ai.requests.at(-1)!.status).toBe(401);
  });
});

describe('startDownstream', () => {
  let down: DownstreamServer;
  beforeAll(async () => {
    down = await startDownstream();
  });
  afterAll(() => down?.close());

  it('records the trace headers each request carried', async () => {
    const id = '0af7651916cd43dd8448eb211c80319c';
    await (
      await fetch(`${down.url}/w3c`, { headers: { traceparent: `00-${id}-b7ad6b7169203331-01` } })
    ).json();
    await (await fetch(`${down.url}/b3`, { headers: { b3: `${id}-b7ad6b7169203331-1` } })).json();
    await (await fetch(`${down.url}/b3multi`, { headers: { 'x-b3-traceid': id } })).json();
    const seen = await down.waitForRequests(3);
    expect(seen.map((r) => r.path)).toEqual(['/w3c', '/b3', '/b3multi']);
    expect(seen.map((r) => traceIdOf(r.headers))).toEqual([id, id, id]);
    expect(traceIdOf((await down.waitForRequests(1, (r) => r.path === '/b3'))[0]!.headers)).toBe(
      id,
    );
  });
});
