/**
 * Outages, with the real collector and Prometheus and the preload app at a steady load:
 *
 * 1. The collector is SIGKILLed for 20 s and restarted: the app's request latency (p95 per second,
 *    before vs during) and memory (RSS) are unaffected, and we report how much telemetry reached
 *    the backends against what the app sent (metrics are cumulative, so Prometheus catches up).
 * 2. The Loki stand-in answers 503 for 60 s; 20 s in the collector is restarted (SIGTERM, start),
 *    40 s in it is SIGKILLed and started again: with the persistent sending queue not one log
 *    record is lost, counted by the unique id each carries. (fsync is off: a process crash keeps
 *    what the kernel already holds; only a host crash could lose the last writes.)
 *
 * The outage lengths are the subject of the test, so they are timed; everything else waits on a
 * condition with a deadline. Figures are printed and written to test/.tmp/outage-figures.json.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil, startStack, tempDir, type Stack } from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import {
  pipelineMissing,
  startPipelineApp,
  type AppRun,
  type Stats,
} from '../fixtures/pipeline/run.js';
import { REPO_ROOT } from '../helpers/paths.js';

const skipReason = pipelineMissing();
if (skipReason !== undefined)
  console.warn(`SKIPPED test/integration/outage.test.ts: ${skipReason}`);

const NODE = NODE_BINARIES[0];
const RATE = 20;
const figures: Record<string, unknown> = {};

function writeFigures(): void {
  const dir = join(REPO_ROOT, 'test/.tmp');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'outage-figures.json'), JSON.stringify(figures, null, 2) + '\n');
}

function window(stats: readonly Stats[], from: number, to: number): Stats[] {
  return stats.filter((s) => s.at > from && s.at <= to && s.count > 0);
}
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const max = (xs: number[]): number => xs.reduce((a, b) => Math.max(a, b), 0);

describe.skipIf(skipReason !== undefined)(
  `outages under steady load (${NODE.label}, ${RATE} req/s)`,
  () => {
    let stack: Stack | undefined;
    let loki: OtlpReceiver | undefined;
    let tempo: OtlpReceiver | undefined;
    let app: AppRun | undefined;
    let appDir: string | undefined;

    afterEach(async () => {
      await app?.stop();
      await stack?.stop();
      await loki?.close();
      await tempo?.close();
      if (appDir !== undefined && !process.env.ECHOES_KEEP_TMP) {
        rmSync(appDir, { recursive: true, force: true });
      }
      app = stack = loki = tempo = appDir = undefined;
    });

    async function start(
      service: string,
    ): Promise<{ stack: Stack; loki: OtlpReceiver; tempo: OtlpReceiver; app: AppRun }> {
      loki = await startOtlpReceiver();
      tempo = await startOtlpReceiver();
      stack = await startStack({ loki: `${loki.url}/otlp`, tempo: tempo.url });
      app = startPipelineApp({
        node: NODE.path,
        cwd: join((appDir = tempDir('outage')), 'app'),
        collectorUrl: stack.collector.otlpHttpUrl,
        service,
        rate: RATE,
        run: 'o',
      });
      await app.port;
      const s = stack;
      await pollUntil(
        'app metrics in Prometheus',
        async () =>
          (await s.prometheus.query(`process_memory_usage_bytes{service_name="${service}"}`)).length
            ? true
            : undefined,
        {
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );
      return { stack, loki, tempo, app };
    }

    it('keeps the app fast and bounded while the collector is SIGKILLed for 20 s, and Prometheus catches up', async () => {
      const service = 'echoes-outage-kill';
      const { stack: st, loki: lk, tempo: tp, app: a } = await start(service);
      // Warm-up, then a 15 s baseline.
      await delay(5_000);
      const t0 = Date.now();
      await delay(15_000);
      const t1 = Date.now();
      await st.collector.kill('SIGKILL');
      const downSince = Date.now();
      await delay(20_000); // the outage under test
      const t2 = Date.now();
      await st.collector.restart();
      const restartMs = Date.now() - t2;
      await delay(10_000);
      const t3 = Date.now();

      const before = window(a.stats, t0, t1);
      const during = window(a.stats, t1, t2);
      const after = window(a.stats, t2, t3);
      const final = await a.stop();
      expect(final, a.output().slice(-2000)).toBeDefined();

      // Cumulative counters: the first export after the restart carries every request.
      const promql = `sum(http_server_request_duration_seconds_count{service_name="${service}"})`;
      let inProm = 0;
      await pollUntil(
        'Prometheus to count every request',
        async () => {
          inProm = Number((await st.prometheus.query(promql))[0]?.value[1] ?? 0);
          return inProm >= final!.requests ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 1000 },
      ).catch(() => undefined);
      // The SDK's export spool held what failed while the collector was down and resent it
      // after the restart; the collector then forwards it (exporter-side batching).
      const expected = Array.from({ length: final!.logged }, (_, i) => `o-${i + 1}`);
      let ids = new Set<unknown>();
      let spans = 0;
      let missing: string[] = expected;
      await pollUntil(
        'every logged id at the Loki stand-in and every span at the Tempo stand-in',
        async () => {
          ids = new Set(
            lk
              .logRecords()
              .filter((l) => l.resource['service.name'] === service)
              .map((l) => l.attributes['pipeline.id']),
          );
          spans = tp
            .spans()
            .filter(
              (s) => s.resource['service.name'] === service && s.name === 'pipeline.batch',
            ).length;
          missing = expected.filter((id) => !ids.has(id));
          return missing.length === 0 && spans >= final!.spans ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 1000 },
      ).catch(() => undefined);

      const fig = {
        outageSeconds: (t2 - downSince) / 1000,
        collectorRestartMs: restartMs,
        p95MsBefore: +mean(before.map((s) => s.p95)).toFixed(2),
        p95MsDuring: +mean(during.map((s) => s.p95)).toFixed(2),
        p95MsAfter: +mean(after.map((s) => s.p95)).toFixed(2),
        worstSecondP95MsBefore: +max(before.map((s) => s.p95)).toFixed(2),
        worstSecondP95MsDuring: +max(during.map((s) => s.p95)).toFixed(2),
        rssMiBBefore: +(max(before.map((s) => s.rss)) / 2 ** 20).toFixed(1),
        rssMiBDuring: +(max(during.map((s) => s.rss)) / 2 ** 20).toFixed(1),
        rssMiBAfter: +(max(after.map((s) => s.rss)) / 2 ** 20).toFixed(1),
        requestsSent: final!.requests,
        requestsCountedInPrometheus: inProm,
        logRecordsSent: final!.logged,
        logRecordsAtLoki: ids.size,
        logRecordsLost: missing.length,
        spansSent: final!.spans,
        spansAtTempo: spans,
      };
      figures.collectorKilled = fig;
      writeFigures();
      console.log(
        `collector SIGKILLed for 20 s under ${RATE} req/s:\n${JSON.stringify(fig, null, 2)}`,
      );

      expect(before.length).toBeGreaterThan(10);
      expect(during.length).toBeGreaterThan(15);
      // Latency unaffected: the per-second p95 during the outage stays within noise of the baseline
      // (2 shared cores: allow 2x + 10 ms, far below what a blocked event loop or a sync retry costs).
      expect(fig.p95MsDuring).toBeLessThanOrEqual(fig.p95MsBefore * 2 + 10);
      // Bounded memory: the SDK's queues are bounded, nothing piles up in the app.
      expect(fig.rssMiBDuring).toBeLessThanOrEqual(fig.rssMiBBefore + 64);
      // Metrics are cumulative: nothing is lost for good.
      expect(inProm).toBe(final!.requests);
      // Logs and spans: the exporter's own retries give up after ~10 s, shorter than the outage;
      // the export spool holds what failed (ECHOES_OTLP_RETRY_BUFFER) and resends it once the
      // collector is back, so nothing is lost (a request in flight at SIGTERM may add one more).
      expect(missing.slice(0, 20), `${missing.length} log records lost`).toEqual([]);
      expect(spans).toBeGreaterThanOrEqual(final!.spans);
    });

    it('loses no log record while Loki is down for 60 s, through a collector restart and a SIGKILL', async () => {
      const service = 'echoes-outage-loki';
      const { stack: st, loki: lk, app: a } = await start(service);
      await lk.waitForLogs(
        (l) => l.resource['service.name'] === service && l.attributes['pipeline.id'] !== undefined,
        10,
        30_000,
      );
      lk.setDown(true);
      const downAt = Date.now();
      const loggedAtDown = a.stats.at(-1)?.logged ?? 0;
      await delay(20_000); // the outage under test: 20 s in, a clean restart
      const queueBeforeRestart = Number(
        (await st.prometheus.query('otelcol_exporter_queue_size{exporter="otlp_http/loki"}'))[0]
          ?.value[1] ?? NaN,
      );
      await st.collector.restart();
      const loggedAtRestart = a.stats.at(-1)?.logged ?? 0;
      await delay(Math.max(0, 40_000 - (Date.now() - downAt))); // 40 s in, a crash (SIGKILL)
      await st.collector.kill('SIGKILL');
      await st.collector.restart();
      const loggedAtKill = a.stats.at(-1)?.logged ?? 0;
      await delay(Math.max(0, 60_000 - (Date.now() - downAt))); // the rest of the 60 s
      const refused = lk.refusedCount;
      lk.setDown(false);
      const upAt = Date.now();
      const final = await a.stop();
      expect(final, a.output().slice(-2000)).toBeDefined();

      const expected = Array.from({ length: final!.logged }, (_, i) => `o-${i + 1}`);
      let missing: string[] = expected;
      await pollUntil(
        'every logged id at the Loki stand-in',
        () => {
          const got = new Set(lk.logRecords().map((l) => l.attributes['pipeline.id']));
          missing = expected.filter((id) => !got.has(id));
          return missing.length === 0 ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      ).catch(() => undefined);
      const all = lk.logRecords().filter((l) => l.attributes['pipeline.id'] !== undefined);
      const fig = {
        outageSeconds: (upAt - downAt) / 1000,
        collectorRestartedAfterSeconds: 20,
        collectorSigkilledAndRestartedAfterSeconds: 40,
        exportsRefusedWhileDown: refused,
        queueSizeBeforeRestart: queueBeforeRestart,
        logRecordsSent: final!.logged,
        sentBeforeOutage: loggedAtDown,
        sentBeforeRestart: loggedAtRestart,
        sentBeforeSigkill: loggedAtKill,
        uniqueAtLoki: new Set(all.map((l) => l.attributes['pipeline.id'])).size,
        duplicatesAtLoki: all.length - new Set(all.map((l) => l.attributes['pipeline.id'])).size,
        lost: missing.length,
        drainSeconds: (Date.now() - upAt) / 1000,
      };
      figures.lokiDown = fig;
      writeFigures();
      console.log(
        `Loki stand-in down for 60 s, collector restarted at 20 s and SIGKILLed + restarted at 40 s:\n${JSON.stringify(fig, null, 2)}`,
      );
      expect(refused, 'the collector kept retrying while Loki was down').toBeGreaterThan(0);
      expect(
        queueBeforeRestart,
        'the Loki queue held the records during the outage',
      ).toBeGreaterThan(0);
      expect(missing.slice(0, 20), `${missing.length} log records lost`).toEqual([]);
    });
  },
);
