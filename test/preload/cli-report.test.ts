import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { METRIC } from '../../instrumentation/catalog.js';
import { embeddedCandidates } from '../../src/cli/report.js';
import { runCli } from '../helpers/cli.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import {
  CLI_MAIN,
  buildMissing,
  scrapeSum,
  startService,
  timedChat,
} from '../fixtures/service/harness.js';
import type { ServiceProcess } from '../fixtures/service/harness.js';

/**
 * `echoes-otel report` against the embedded /metrics endpoint of the real service under the real
 * preload: the test drives a known load inside the report's window and checks the table against
 * it. Tolerances: average response time at least the simulated latency and within 10 ms below
 * the client-side average (loopback round trip), disk I/O within 10 % (the window's real length differs from the asked one by the
 * scrape times), cache hit rate and request count exact.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(buildMissing(true))('echoes-otel report (embedded /metrics)', () => {
  describe.each(NODE_BINARIES)('$label', (node) => {
    it('measures what the test drove inside the window', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'echoes-report-'));
      cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
      const svc: ServiceProcess = await startService({
        node: node.path,
        cwd,
        withRegister: true,
        env: { ECHOES_SERVICE_SESSION_WRITES: 'immediate' },
      });
      cleanups.push(async () => {
        svc.kill('SIGKILL');
        await svc.exited;
      });
      const metricsUrl = svc.metricsUrl!;
      const fsOps = embeddedCandidates(METRIC.fsOperations);

      // A pass-through in front of /metrics, so the test knows when the report's first and last samples were taken.
      let scrapes = 0;
      const proxy = createServer((_req, res) => {
        scrapes++;
        fetch(metricsUrl)
          .then(async (r) => {
            res.writeHead(r.status, {
              'content-type': r.headers.get('content-type') ?? 'text/plain',
            });
            res.end(await r.text());
          })
          .catch(() => res.destroy());
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => proxy.close(() => r())));
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/metrics`;

      // Warm up: create the four sessions and load gpt-4o into the model cache, then measure what
      // one immediate session write costs in counted fs operations.
      const sessions = ['w0', 'w1', 'w2', 'w3'];
      for (const s of sessions) await timedChat(svc.url, s, 'gpt-4o', 0);
      const before = await scrapeSum(metricsUrl, fsOps, { fs_path_group: 'sessions' });
      for (const s of sessions) await timedChat(svc.url, s, 'gpt-4o', 0);
      const opsPerUpdate =
        ((await scrapeSum(metricsUrl, fsOps, { fs_path_group: 'sessions' })) - before) / 8;
      expect(opsPerUpdate).toBeGreaterThanOrEqual(1);

      const windowS = 8; // room for the load (about 3 s) on a busy machine
      const cli = spawn(
        node.path,
        [
          CLI_MAIN,
          'report',
          '--metrics-url',
          proxyUrl,
          '--window',
          `${windowS}s`,
          '--format',
          'json',
        ],
        {
          env: { PATH: process.env.PATH ?? '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      cleanups.push(() => void cli.kill('SIGKILL'));
      let out = '';
      let err = '';
      cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
      cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => cli.on('close', r));
      await expect.poll(() => scrapes, { timeout: 10_000, interval: 5 }).toBeGreaterThanOrEqual(1);

      // The load: 40 chats at 60 ms simulated latency; gpt-4 and gpt-3.5-turbo are new to the
      // model cache (2 misses), the other 38 lookups hit.
      const latencyMs = 60;
      let clientSeconds = 0;
      for (let i = 0; i < 40; i++) {
        const model =
          i === 10 || i === 11 ? 'gpt-4' : i === 20 || i === 21 ? 'gpt-3.5-turbo' : 'gpt-4o';
        clientSeconds += await timedChat(svc.url, sessions[i % 4]!, model, latencyMs);
      }
      const clientAvg = clientSeconds / 40;
      // The report takes 11 samples; the load must have ended before the last one.
      expect(scrapes, 'the load outlasted the report window').toBeLessThan(11);

      expect(await exited).toBe(0);
      // It says it samples (one line off a terminal; no bar), and nothing else.
      expect(err).toBe(
        `report: sampling ${proxyUrl} for ${windowS}s (counters over the window; --window to change)…\n`,
      );
      const report = JSON.parse(out) as {
        source: string;
        rows: Array<{
          key: string;
          value: number | null;
          pass: boolean | null;
          detail?: string;
          breakdown?: Record<string, number>;
        }>;
      };
      expect(report.source).toBe('embedded');
      const row = (k: string) => report.rows.find((r) => r.key === k)!;

      expect(row('avg_response_time').detail).toMatch(
        /^40 requests in the window; p50 0\.\d{3} s, p95 /,
      );
      // Quantiles from the buckets: every request took at least the simulated 60 ms.
      const q = row('avg_response_time').breakdown!;
      expect(q.p50).toBeGreaterThanOrEqual(0.05);
      expect(q.p50).toBeLessThanOrEqual(q.p95!);
      expect(q.p95).toBeLessThanOrEqual(q.p99!);
      // Server-side time: at least the simulated latency, at most what the client saw, and close to
      // it: the loopback round trip and client parsing are the only difference, 1-3 ms on a quiet
      // machine, but a loaded one (load average 17 on 2 cores) delayed the client by 24 ms, so the
      // bound is 10 ms or a fifth of the client's time, whichever is more.
      const avg = row('avg_response_time').value!;
      expect(avg).toBeGreaterThanOrEqual(latencyMs / 1000);
      expect(avg).toBeLessThanOrEqual(clientAvg + 0.001);
      expect(avg).toBeGreaterThan(clientAvg - Math.max(0.01, clientAvg / 5));
      expect(row('avg_response_time').pass).toBe(true);

      expect(row('cache_hit_rate').breakdown).toEqual({ 'model-info': 38 / 40 });
      expect(row('cache_hit_rate').pass).toBe(true);

      const expectedSessionOpsPerMin = (80 * opsPerUpdate * 60) / windowS;
      const sessionsPerMin = row('disk_io_per_min').breakdown!.sessions!;
      expect(sessionsPerMin).toBeGreaterThan(expectedSessionOpsPerMin * 0.9);
      expect(sessionsPerMin).toBeLessThan(expectedSessionOpsPerMin * 1.1);
      expect(row('disk_io_per_min').value).toBeGreaterThanOrEqual(sessionsPerMin);

      expect(row('log_growth_per_day').value).toBeGreaterThan(0);
      expect(row('memory').pass).toBe(true); // a short window judges cache capacities only
    });

    it('after `load`, with no traffic in its window, reports what the process counted since it started', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'echoes-report-after-'));
      cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
      const svc: ServiceProcess = await startService({ node: node.path, cwd, withRegister: true });
      cleanups.push(async () => {
        svc.kill('SIGKILL');
        await svc.exited;
      });
      // The order the banner suggests: load, then report.
      const load = await runCli(node.path, [
        'load',
        '--url',
        svc.url,
        '--rate',
        '20',
        '--duration',
        '1s',
        '--format',
        'json',
      ]);
      expect(load.code, load.stderr).toBe(0);
      const summary = JSON.parse(load.stdout) as { sent: number; ok: number };
      expect(summary.ok).toBeGreaterThan(0);

      const r = await runCli(node.path, [
        'report',
        '--metrics-url',
        svc.metricsUrl!,
        '--window',
        '2s',
        '--format',
        'json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^report: sampling .* for 2s/);
      expect(r.stderr).toMatch(
        /no requests or cache lookups in the window: reporting what the process counted since it started/,
      );
      const report = JSON.parse(r.stdout) as {
        sinceStart?: { startedAt: string; coveredMs: number };
        rows: Array<{ key: string; pass: boolean | null; detail?: string }>;
      };
      expect(report.sinceStart).toBeDefined();
      expect(Date.parse(report.sinceStart!.startedAt)).toBeLessThan(Date.now());
      expect(report.sinceStart!.coveredMs).toBeGreaterThan(2000);
      const avg = report.rows.find((x) => x.key === 'avg_response_time')!;
      expect(avg.pass).not.toBeNull();
      // The load's requests plus its /healthz probe.
      const counted = Number(
        /^(\d+) requests since the process started/.exec(avg.detail ?? '')?.[1],
      );
      expect(counted).toBeGreaterThanOrEqual(summary.ok);
      expect(counted).toBeLessThanOrEqual(summary.sent + 1);
      expect(report.rows.find((x) => x.key === 'cache_hit_rate')!.pass).not.toBeNull();

      const text = await runCli(node.path, [
        'report',
        '--metrics-url',
        svc.metricsUrl!,
        '--window',
        '1s',
      ]);
      expect(text.stdout).toMatch(
        /since the process started \(.*\): the 1s window sampled saw no traffic/,
      );
      expect(text.stdout).not.toMatch(/NO DATA.*\n.*NO DATA/);
    });
  });
});
