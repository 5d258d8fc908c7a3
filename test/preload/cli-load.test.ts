import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { buildMissing, startService } from '../fixtures/service/harness.js';
import type { ServiceProcess } from '../fixtures/service/harness.js';

/** `echoes-otel load` against the real service: the rate it was asked for, and an honest summary. */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(buildMissing())('echoes-otel load', () => {
  describe.each(NODE_BINARIES)('$label', (node) => {
    it('sends the asked rate for the asked duration and summarises latency and errors', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'echoes-load-'));
      cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
      const svc: ServiceProcess = await startService({ node: node.path, cwd });
      cleanups.push(async () => {
        svc.kill('SIGKILL');
        await svc.exited;
      });
      const r = await run(node.path, [
        'load',
        '--url',
        svc.url,
        '--rate',
        '40',
        '--duration',
        '3s',
        '--latency-ms',
        '30',
        '--failure-rate',
        '0.25',
        '--format',
        'json',
      ]);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout);
      expect(s.sent).toBe(120); // 40/s for 3 s, open loop
      expect(s.completed).toBe(120);
      expect(s.skipped).toBe(0);
      // About a quarter of the chats fail by request; reads of acknowledged sessions never do.
      expect(s.errorsByKind['HTTP 503']).toBeGreaterThan(5);
      expect(s.errorsByKind['HTTP 503']).toBeLessThan(60);
      expect(Object.keys(s.errorsByKind)).toEqual(['HTTP 503']);
      expect(s.ok + s.errors).toBe(120);
      expect(s.latencyMs.p50).toBeGreaterThanOrEqual(0);
      expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p95);
      expect(s.latencyMs.p95).toBeLessThanOrEqual(s.latencyMs.p99);
      expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
      expect(s.achievedRate).toBeGreaterThan(30);
      // Not a terminal: plain progress lines on stderr, no redrawn bar.
      expect(r.stderr).toMatch(/^load: 0s sent \d+ ok \d+ errors \d+$/m);
      expect(r.stderr).not.toContain('\r');

      const text = await run(node.path, [
        'load',
        '--url',
        svc.url,
        '--rate',
        '10',
        '--duration',
        '1s',
      ]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(
        /^load: 10 requests to http:\/\/127\.0\.0\.1:\d+\/ in 1s \(asked 10\/s, achieved [\d.]+\/s\)$/m,
      );
      expect(text.stdout).toMatch(
        /latency ms \(from when due\): p50 [\d.]+ {2}p95 [\d.]+ {2}p99 [\d.]+/,
      );
    });
  });
});
