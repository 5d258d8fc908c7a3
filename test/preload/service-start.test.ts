import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { METRIC } from '../../instrumentation/catalog.js';
import { embeddedCandidates } from '../../src/cli/report.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { buildMissing, readSessions } from '../fixtures/service/harness.js';
import { freePort } from '../helpers/backends.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** `npm start`'s script (after the build): banner, embedded default or shipping, clean Ctrl-C. */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Started {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  serviceUrl: string;
}

async function start(node: string, cwd: string, env: Record<string, string>): Promise<Started> {
  const proc = spawn(node, [join(REPO_ROOT, 'scripts/start.mjs')], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: cwd,
      ECHOES_SERVICE_PORT: '0',
      ECHOES_SERVICE_LATENCY_SCALE: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null) {
      // SIGTERM first: start.mjs passes it to the service, which a SIGKILL here would orphan.
      proc.kill('SIGTERM');
      const deadline = new Promise<'late'>((r) => setTimeout(() => r('late'), 10_000).unref());
      if ((await Promise.race([exited, deadline])) === 'late') proc.kill('SIGKILL');
      await exited;
    }
  });
  await expect
    .poll(() => /reference service is up/.test(out) || proc.exitCode !== null, {
      timeout: 30_000,
      interval: 20,
    })
    .toBe(true);
  expect(out).toMatch(/reference service is up/);
  const serviceUrl = /service {4}(http:\/\/\S+)/.exec(out)![1]!;
  return { proc, output: () => out, exited, serviceUrl };
}

async function chat(url: string): Promise<number> {
  const r = await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ session_id: 'start', message: 'hi' }),
  });
  await r.arrayBuffer();
  return r.status;
}

describe.skipIf(buildMissing(true))('scripts/start.mjs (npm start)', () => {
  describe.each(NODE_BINARIES)('$label', (node) => {
    it('runs on the embedded default when no collector answers, says where to look, and stops cleanly on SIGINT', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'echoes-start-'));
      cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
      const closed = await freePort();
      const metricsPort = await freePort();
      const s = await start(node.path, cwd, {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        ECHOES_DIR_INTERVAL_MS: '200',
      });
      const out = s.output();
      expect(out).toMatch(
        new RegExp(
          `embedded default: no collector at http://127\\.0\\.0\\.1:${closed} \\(nothing listening at 127\\.0\\.0\\.1:${closed}\\); OTLP export off`,
        ),
      );
      expect(out).toMatch(/logs {7}logs\/ \(JSON lines, rotated at 10 MiB, 5 backups, gzip\)/);
      expect(out).toContain(`metrics    http://127.0.0.1:${metricsPort}/metrics`);
      expect(out).toContain(`live page  http://127.0.0.1:${metricsPort}/ `);
      const live = await fetch(`http://127.0.0.1:${metricsPort}/`);
      expect(live.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await live.text()).toContain('echoes-otel: live from this process');
      expect(out).toMatch(/report --metrics-url/);
      expect(await chat(s.serviceUrl)).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      // Whichever catalog name the endpoint serves for the request count, with the /chat route.
      const names = embeddedCandidates(METRIC.httpServerDuration, '_count');
      expect(
        names.some((n) => new RegExp(`^${n}\\{[^}]*http_route="/chat"`, 'm').test(metrics)),
        names.join(' or '),
      ).toBe(true);
      // npm start tells the preload the service's own layout (the library's defaults name only
      // logs and config): its directories and session files under their dashboard names.
      const seen = async (): Promise<string[]> => {
        const m = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return [
          'dir_name="logs"',
          'dir_name="sessions"',
          'dir_name="cache/embeddings"',
          'fs_path_group="sessions"',
        ].filter((l) => m.includes(l));
      };
      await expect
        .poll(seen, { timeout: 15_000, interval: 100 })
        .toEqual([
          'dir_name="logs"',
          'dir_name="sessions"',
          'dir_name="cache/embeddings"',
          'fs_path_group="sessions"',
        ]);
      s.proc.kill('SIGINT');
      expect(await s.exited).toBe(0);
      expect(readSessions(cwd)).toEqual([{ name: 'start.json', updates: 2 }]);
    });

    it('ships traces and logs to the collector answering on OTEL_EXPORTER_OTLP_ENDPOINT and says so', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'echoes-start-'));
      cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
      const receiver = await startOtlpReceiver();
      cleanups.push(() => receiver.close());
      const s = await start(node.path, cwd, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()),
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_BLRP_SCHEDULE_DELAY: '200',
      });
      expect(s.output()).toContain(
        `shipping traces, metrics and logs to the collector at ${receiver.url}`,
      );
      expect(await chat(s.serviceUrl)).toBe(200);
      const spans = await receiver.waitForSpans(
        (sp) =>
          sp.resource['service.name'] === 'echoes-api' &&
          sp.kind === 2 &&
          sp.attributes['http.route'] === '/chat',
        1,
        20_000,
      );
      const logs = await receiver.waitForLogs((l) => l.body === 'chat answered', 1, 20_000);
      expect(logs[0]!.traceId).toBe(spans[0]!.traceId);
      // The model call, through the openai client, is a child of the /chat span, with its tokens.
      const [model] = await receiver.waitForSpans(
        (sp) =>
          sp.traceId === spans[0]!.traceId && sp.attributes['gen_ai.operation.name'] === 'chat',
        1,
        20_000,
      );
      expect(model!.parentSpanId).toBe(spans[0]!.spanId);
      expect(model!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      s.proc.kill('SIGINT');
      expect(await s.exited).toBe(0);
    });
  });
});
