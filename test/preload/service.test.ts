import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { METRIC } from '../../instrumentation/catalog.js';
import { embeddedCandidates } from '../../src/cli/report.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import {
  buildMissing,
  chat,
  readSessions,
  scrapeSum,
  startService,
} from '../fixtures/service/harness.js';
import type { ServiceProcess } from '../fixtures/service/harness.js';

const dirs: string[] = [];
const procs: ServiceProcess[] = [];
function workdir(): string {
  const d = mkdtempSync(join(tmpdir(), 'echoes-service-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const noBuild = buildMissing();
const noRegister = buildMissing(true);

describe.skipIf(noBuild)('reference service sessions (no preload needed)', () => {
  describe.each(NODE_BINARIES)('$label', (node) => {
    it('SIGTERM mid-batch loses no update', async () => {
      const cwd = workdir();
      // A batch that would never fill nor time out: only the shutdown flush can write it.
      const svc = await startService({
        node: node.path,
        cwd,
        env: { ECHOES_SERVICE_FLUSH_EVERY: '100000', ECHOES_SERVICE_FLUSH_MS: '3600000' },
      });
      procs.push(svc);
      for (let i = 0; i < 30; i++)
        expect((await chat(svc.url, `s${i % 3}`, `m${i}`)).status).toBe(200);
      expect(readSessions(cwd)).toEqual([]);
      svc.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
      const files = readSessions(cwd);
      expect(files.map((f) => f.name).sort()).toEqual(['s0.json', 's1.json', 's2.json']);
      // Two updates per chat (question and answer).
      expect(files.reduce((s, f) => s + f.updates, 0)).toBe(60);
      expect(svc.output()).toMatch(/stopped \(60 session updates, 3 session file writes\)/);
    });

    it('SIGKILL loses at most two batches and never leaves a torn session file', async () => {
      const cwd = workdir();
      const flushEvery = 10;
      const svc = await startService({
        node: node.path,
        cwd,
        env: { ECHOES_SERVICE_FLUSH_EVERY: String(flushEvery), ECHOES_SERVICE_FLUSH_MS: '3600000' },
      });
      procs.push(svc);
      let acked = 0;
      let stop = false;
      // Four clients writing to eight sessions as fast as the service answers; the kill lands mid-stream.
      const clients = Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await chat(svc.url, `k${(c * 2 + (i % 2)) % 8}`, `c${c}-${i}`);
            if (r.status === 200 && !stop) acked += 2;
          } catch {
            return; // the connection died with the process
          }
        }
      });
      await expect.poll(() => acked, { timeout: 20_000, interval: 5 }).toBeGreaterThan(300);
      stop = true;
      const ackedAtKill = acked;
      svc.kill('SIGKILL');
      expect(await svc.exited).toBe('SIGKILL');
      await Promise.all(clients);
      const files = readSessions(cwd); // throws on any incomplete or invalid file
      const persisted = files.reduce((s, f) => s + f.updates, 0);
      // Up to four requests (8 updates) were in flight, applied but not yet acknowledged.
      expect(persisted).toBeLessThanOrEqual(ackedAtKill + 8);
      expect(ackedAtKill - persisted).toBeLessThanOrEqual(2 * flushEvery);
    });

    it('SIGKILL loses only what was acknowledged within the flush interval', async () => {
      const cwd = workdir();
      const flushMs = 200;
      const slowDiskMs = 2000;
      const svc = await startService({
        node: node.path,
        cwd,
        env: { ECHOES_SERVICE_FLUSH_EVERY: '100000', ECHOES_SERVICE_FLUSH_MS: String(flushMs) },
      });
      procs.push(svc);
      const acks: number[] = [];
      let stop = false;
      const client = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await chat(svc.url, `t${i % 4}`, `m${i}`);
            if (r.status === 200 && !stop) acks.push(r.ackedAt, r.ackedAt);
          } catch {
            return;
          }
        }
      })();
      // Run until a good share of the acknowledgements is older than the window.
      await expect
        .poll(() => (acks.length > 0 ? Date.now() - acks[0]! : 0), {
          timeout: 20_000,
          interval: 20,
        })
        .toBeGreaterThan(flushMs + slowDiskMs + 1000);
      stop = true;
      const killedAt = Date.now();
      svc.kill('SIGKILL');
      await svc.exited;
      await client;
      const persisted = readSessions(cwd).reduce((s, f) => s + f.updates, 0);
      // Everything acknowledged before the window (plus time for a flush's fsyncs on a busy disk) is on disk.
      const mustHave = acks.filter((t) => t < killedAt - flushMs - slowDiskMs).length;
      expect(mustHave).toBeGreaterThan(0);
      expect(persisted).toBeGreaterThanOrEqual(mustHave);
      expect(persisted).toBeLessThanOrEqual(acks.length + 2);
    });
  });
});

describe.skipIf(noRegister)('reference service under --import register', () => {
  const fsOps = embeddedCandidates(METRIC.fsOperations);

  describe.each(NODE_BINARIES)('$label', (node) => {
    async function sessionOps(
      mode: 'immediate' | 'batched',
    ): Promise<{ ops: number; updates: number }> {
      const cwd = workdir();
      const svc = await startService({
        node: node.path,
        cwd,
        withRegister: true,
        env: {
          ECHOES_SERVICE_SESSION_WRITES: mode,
          ECHOES_SERVICE_FLUSH_EVERY: '20',
          ECHOES_SERVICE_FLUSH_MS: '3600000',
        },
      });
      procs.push(svc);
      for (let i = 0; i < 100; i++)
        expect((await chat(svc.url, `b${i % 4}`, `m${i}`)).status).toBe(200);
      // 200 updates over 4 sessions: batched mode flushes exactly 10 rounds of 4 files.
      await expect
        .poll(() => readSessions(cwd).reduce((s, f) => s + f.updates, 0), { timeout: 10_000 })
        .toBe(200);
      const ops = await scrapeSum(svc.metricsUrl!, fsOps, { fs_path_group: 'sessions' });
      svc.kill('SIGTERM');
      await svc.exited;
      return { ops, updates: 200 };
    }

    it('batched session writes cost far fewer fs operations than immediate ones, counted by echoes_fs_operations_total', async () => {
      const immediate = await sessionOps('immediate');
      const batched = await sessionOps('batched');
      expect(immediate.ops).toBeGreaterThanOrEqual(200); // at least one operation per update
      expect(batched.ops).toBeGreaterThan(0);
      expect(batched.ops).toBeLessThanOrEqual(immediate.ops * 0.25);
    });

    it('SIGTERM mid-batch loses no update and exits 0 with the preload flushing alongside', async () => {
      const cwd = workdir();
      const svc = await startService({
        node: node.path,
        cwd,
        withRegister: true,
        env: { ECHOES_SERVICE_FLUSH_EVERY: '100000', ECHOES_SERVICE_FLUSH_MS: '3600000' },
      });
      procs.push(svc);
      for (let i = 0; i < 25; i++)
        expect((await chat(svc.url, `g${i % 5}`, `m${i}`)).status).toBe(200);
      svc.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
      expect(readSessions(cwd).reduce((s, f) => s + f.updates, 0)).toBe(50);
    });

    it('serves the routes and exposes cache, http and fs metrics on the embedded endpoint', async () => {
      const cwd = workdir();
      const svc = await startService({ node: node.path, cwd, withRegister: true });
      procs.push(svc);
      for (let i = 0; i < 20; i++)
        await chat(svc.url, 'r1', `q${i % 2}`, i % 2 ? 'gpt-4' : 'gpt-3.5-turbo');
      expect((await fetch(`${svc.url}/sessions/r1`)).status).toBe(200);
      expect((await fetch(`${svc.url}/sessions/nope`)).status).toBe(404);
      const health = (await (await fetch(`${svc.url}/healthz`)).json()) as {
        telemetry: Record<string, string>;
      };
      // The service found echoes-otel's logger, createCache and setHttpRoute, not its fallbacks.
      expect(health.telemetry).toEqual({
        logger: 'echoes-otel',
        cache: 'echoes-otel',
        http: 'echoes-otel',
      });
      const cacheReq = embeddedCandidates(METRIC.cacheRequests);
      expect(
        await scrapeSum(svc.metricsUrl!, cacheReq, {
          cache_name: 'model-info',
          cache_result: 'hit',
        }),
      ).toBe(18);
      expect(
        await scrapeSum(svc.metricsUrl!, cacheReq, {
          cache_name: 'model-info',
          cache_result: 'miss',
        }),
      ).toBe(2);
      const httpCount = embeddedCandidates(METRIC.httpServerDuration, '_count');
      expect(await scrapeSum(svc.metricsUrl!, httpCount, { http_route: '/chat' })).toBe(20);
      expect(await scrapeSum(svc.metricsUrl!, httpCount, { http_route: '/sessions/:id' })).toBe(2);
      // Each chat called the simulated model through the openai client (its server runs in a
      // worker, so its requests are not the service's): calls, latency and tokens per model.
      // 20 chats, 2 session reads, 1 health check: no model request among them.
      expect(await scrapeSum(svc.metricsUrl!, httpCount)).toBe(23);
      expect(
        await scrapeSum(svc.metricsUrl!, ['gen_ai_client_operation_duration_seconds_count'], {
          gen_ai_request_model: 'gpt-4',
        }),
      ).toBe(10);
      // "echo from gpt-4: q1" is 4 tokens for the simulated tokenizer (words), 10 replies.
      expect(
        await scrapeSum(svc.metricsUrl!, ['gen_ai_client_token_usage_sum'], {
          gen_ai_response_model: 'gpt-4',
          gen_ai_token_type: 'output',
        }),
      ).toBe(40);
    });
  });
});
