/**
 * The live page of the embedded default in a real browser: the reference service under the
 * preload, `echoes-otel load` driving it, Debian's Chromium (installed by the setup when missing)
 * driven by playwright-core opening `/` on the metrics endpoint. The numbers the page shows must be
 * what the two /metrics samples it used give through the report's own arithmetic
 * (inputsFromSnapshots, bucketQuantile), and those samples must be what the endpoint served.
 * A screenshot per Node version is kept under test/.tmp for the reviewer.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_PAGE_BUDGET_BYTES } from '../../instrumentation/export/live-page.js';
import { TARGET } from '../../instrumentation/targets.js';
import { parseExposition, sumSamples } from '../../src/cli/prom-text.js';
import type { Sample } from '../../src/cli/prom-text.js';
import { inputsFromSnapshots } from '../../src/cli/report.js';
import { CLI_MAIN, buildMissing, startService } from '../fixtures/service/harness.js';
import type { ServiceProcess } from '../fixtures/service/harness.js';
import { ensureChromium } from '../helpers/chromium.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REPO_ROOT } from '../helpers/paths.js';

const built = buildMissing(true);
const browserProblem = built === undefined ? ensureChromium().reason : undefined;
const skip = built ?? browserProblem;
if (browserProblem) console.warn(`SKIPPED test/preload/live-page.test.ts: ${browserProblem}`);

interface Live {
  base: { at: number; text: string };
  last: { at: number; text: string };
  sinceStart: boolean;
  values: { reqRate: number };
}

/** What the page's globals look like (the tests have no DOM types). */
interface PageGlobals {
  __echoesLive?: Live;
  document: {
    querySelectorAll(sel: string): ArrayLike<{
      dataset: Record<string, string | undefined>;
      textContent: string | null;
    }>;
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Growth of the samples matching `keep` between two pages (a counter that appeared counts from 0). */
function grew(
  a: Sample[],
  b: Sample[],
  name: string,
  keep: (l: Record<string, string>) => boolean,
) {
  const total = (s: Sample[]) =>
    s.filter((x) => x.name === name && keep(x.labels)).reduce((t, x) => t + x.value, 0);
  return total(b) - total(a);
}

const close = (shown: number, expected: number, what: string) =>
  expect(
    Math.abs(shown - expected),
    `${what}: shown ${shown}, expected ${expected}`,
  ).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));

describe.skipIf(skip)(
  `live page at / of the embedded endpoint (Chromium)${skip ? `: skipped, ${skip}` : ''}`,
  () => {
    let browser: Browser | undefined;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: ensureChromium().path!,
        // We run as root (CI, containers): Chromium's sandbox refuses that.
        args: ['--no-sandbox', '--disable-gpu'],
      });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    describe.each(NODE_BINARIES)('$label', (node) => {
      it(
        'shows, under load, the numbers /metrics gives, each against its target',
        { timeout: 90_000 },
        async () => {
          const cwd = mkdtempSync(join(tmpdir(), 'echoes-live-'));
          cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
          const svc: ServiceProcess = await startService({
            node: node.path,
            cwd,
            withRegister: true,
          });
          cleanups.push(async () => {
            svc.kill('SIGKILL');
            await svc.exited;
          });
          const metricsUrl = svc.metricsUrl!;
          const root = new URL('/', metricsUrl).href;
          expect(new URL(root).hostname).toBe('127.0.0.1');

          // The page itself: small, self-contained, locked to this server by its CSP.
          const head = await fetch(root);
          const html = await head.text();
          expect(head.status).toBe(200);
          expect(head.headers.get('content-type')).toMatch(/^text\/html/);
          expect(Buffer.byteLength(html)).toBeLessThan(LIVE_PAGE_BUDGET_BYTES);
          const csp = head.headers.get('content-security-policy') ?? '';
          expect(csp).toMatch(/default-src 'none'/);
          expect(csp).toMatch(/connect-src 'self'/);
          expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);

          // Traffic: `echoes-otel load` at 25 requests a second, some failing, for the whole test.
          const load = spawn(
            node.path,
            [
              CLI_MAIN,
              'load',
              '--url',
              svc.url,
              '--rate',
              '25',
              '--duration',
              '60s',
              '--failure-rate',
              '0.1',
            ],
            { env: { PATH: process.env.PATH ?? '' }, stdio: 'ignore' },
          );
          cleanups.push(() => void load.kill('SIGKILL'));

          const page = await browser!.newPage({ viewport: { width: 1200, height: 820 } });
          cleanups.push(() => page.close());
          const problems: string[] = [];
          page.on('pageerror', (e) => problems.push(String(e)));
          page.on('console', (m) => {
            if (m.type() === 'error') problems.push(m.text());
          });
          await page.goto(root);
          // Samples of the endpoint over 5 s or more with traffic (a window, not "since start").
          await page.waitForFunction(
            () => {
              const l = (globalThis as unknown as PageGlobals).__echoesLive;
              return (
                l !== undefined &&
                !l.sinceStart &&
                l.values.reqRate > 0 &&
                l.last.at - l.base.at >= 5000
              );
            },
            undefined,
            { timeout: 30_000 },
          );
          // One synchronous read: the page cannot re-render in between.
          const { live, shown, targets } = await page.evaluate(() => {
            const g = globalThis as unknown as PageGlobals;
            return {
              live: g.__echoesLive!,
              shown: Array.from(g.document.querySelectorAll('[data-k]')).map(
                (e) => [e.dataset.k!, Number(e.dataset.v)] as [string, number],
              ),
              targets: Array.from(g.document.querySelectorAll('.t')).map((e) => e.textContent),
            };
          });
          const after = parseExposition(await (await fetch(metricsUrl)).text());
          expect(problems).toEqual([]);

          // The samples are the endpoint's: parseable, catalog series, counters not ahead of it.
          const a = parseExposition(live.base.text);
          const b = parseExposition(live.last.text);
          const count = 'http_server_request_duration_seconds_count';
          // (The first sample may predate the first request: no series yet counts as 0.)
          expect(sumSamples(b, count)!).toBeGreaterThan(sumSamples(a, count) ?? 0);
          expect(sumSamples(b, count)!).toBeLessThanOrEqual(sumSamples(after, count)!);
          expect(Date.now() - live.last.at).toBeLessThan(10_000);

          // What the report computes from the same two samples.
          const inputs = inputsFromSnapshots([
            { atMs: live.base.at, samples: a },
            { atMs: live.last.at, samples: b },
          ]);
          const secs = inputs.windowS;
          const v = new Map(shown);
          close(v.get('reqRate')!, inputs.httpCount! / secs, 'request rate');
          close(
            v.get('latencyAvg')!,
            inputs.httpDurationSumS! / inputs.httpCount!,
            'average latency',
          );
          close(v.get('p50')!, inputs.httpQuantilesS!.p50, 'p50');
          close(v.get('p95')!, inputs.httpQuantilesS!.p95, 'p95');
          close(v.get('p99')!, inputs.httpQuantilesS!.p99, 'p99');
          const fiveXX = grew(a, b, count, (l) => /^5/.test(l.http_response_status_code ?? ''));
          close(v.get('errorRate')!, fiveXX / inputs.httpCount!, 'error rate');
          expect(v.get('errorRate')!).toBeGreaterThan(0); // --failure-rate 0.1
          close(v.get('fsTotal')!, inputs.fsOpsPerMin!, 'disk ops/min');
          const fs = 'echoes_fs_operations_total';
          close(
            v.get('fsSync')!,
            (grew(a, b, fs, (l) => l.fs_api === 'sync') * 60) / secs,
            'sync ops/min',
          );
          close(
            v.get('fsAsync')!,
            (grew(a, b, fs, (l) => l.fs_api !== 'sync') * 60) / secs,
            'async ops/min',
          );
          close(v.get('logPerDay')!, inputs.logFileBytesPerDay!, 'log growth per day');
          const caches = Object.entries(inputs.cacheRequests).filter(
            ([, c]) => c.hits + c.misses > 0,
          );
          expect(caches.length).toBeGreaterThan(0);
          for (const [name, c] of caches)
            close(v.get(`cache:${name}`)!, c.hits / (c.hits + c.misses), `cache ${name}`);
          close(v.get('rss')!, sumSamples(b, 'process_memory_usage_bytes')!, 'RSS');

          // Each figure against the target in targets.ts.
          for (const id of [
            'latencyAvg',
            'latencyP95',
            'errorRate',
            'cacheHitRate',
            'diskOpsPerMin',
            'logGrowthPerDay',
            'memoryGrowth',
          ] as const)
            expect(targets, id).toContain(TARGET[id].text);

          const dir = join(REPO_ROOT, 'test/.tmp');
          mkdirSync(dir, { recursive: true });
          await page.screenshot({
            path: join(dir, `live-page-${node.label.replace(/\W+/g, '-')}.png`),
            fullPage: true,
          });
        },
      );
    });
  },
);
