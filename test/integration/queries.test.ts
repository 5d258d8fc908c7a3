/**
 * Every PromQL query the stack ships (each dashboard panel and variable, each alert rule) runs
 * against the real Prometheus after a real workload: a fixture app under the preload, under Node
 * 20 and Node 24, exporting through the real collector. A query that comes back empty fails with
 * its dashboard and panel named: a wrong metric or label name cannot hide as "no data".
 *
 * The workload creates the conditions some queries need: 5xx and 4xx answers, cache evictions and
 * misses, an unbounded cache, sync and async fs calls, log rotation and truncated (dropped) log
 * records, garbage for the GC; and the test stops the Loki stand-in once logs have flowed, so the
 * collector's log queue fills and counts enqueue failures.
 *
 * Alert rules: an alert only returns data while it fires, so for each rule the sub-expressions
 * it compares (see alertOperands) must return data, and the full expression must evaluate
 * without error. Their firing and staying quiet are unit-tested with promtool
 * (test/unit/stack/promtool.test.ts). `offset 1d` cannot have data in a fresh Prometheus: that
 * is the right-hand side of a comparison, so only its left side is required to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COLLECTOR_CONFIG,
  pollUntil,
  startStack,
  tempDir,
  type PromSample,
  type Stack,
} from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { BUNDLE, REGISTER } from '../helpers/paths.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { pipelineMissing } from '../fixtures/pipeline/run.js';
import {
  alertOperands,
  dashboardQueries,
  datasourceMetricQueries,
  interpolate,
  promqlMetricNames,
  readAlertRules,
} from '../unit/stack/stack-queries.js';
import { ALL_ENVIRONMENTS } from '../../grafana/src/common.js';
import { EXTERNAL_SERIES } from '../../instrumentation/catalog.js';
import { REPO_ROOT } from '../helpers/paths.js';

const SERVICE = 'echoes-queries-workload';
const ENVIRONMENT = 'integration';
/** The bundled collector's own service name (collector/config.yaml, service.telemetry.resource). */
const COLLECTOR = 'otelcol-echoes';

/**
 * Series only Loki and Tempo produce (their own metrics, and the service graph Tempo's metrics
 * generator writes): neither can run here (docs/stack.md), so queries made only of them are
 * checked by the parser test below but cannot return data; the compose e2e covers them. And
 * series only the two-tier gateways produce (tail sampling): scaling.test.ts runs those queries.
 */
const NOT_HERE = new Set(
  EXTERNAL_SERIES.filter(
    (e) => e.source === 'loki' || e.source === 'tempo' || e.source === 'gateway',
  ).flatMap((e) =>
    e.type === 'histogram'
      ? ['_bucket', '_sum', '_count'].map((x) => e.prometheus + x)
      : [e.prometheus],
  ),
);
const onlyElsewhere = (expr: string) => {
  const names = promqlMetricNames(interpolate(expr));
  return names.length > 0 && names.every((n) => NOT_HERE.has(n));
};

const skipReason = pipelineMissing();
if (skipReason !== undefined)
  console.warn(`SKIPPED test/integration/queries.test.ts: ${skipReason}`);

/** The fixture app: one HTTP server it calls itself, caches, fs calls, logs, garbage. */
const WORKLOAD = String.raw`
import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { join } from 'node:path';
const dist = process.env.WORKLOAD_DIST;
const { logger, createCache, instrumentCache, setHttpRoute } = await import(dist + '/index.js');
const dir = process.cwd();
for (const d of ['data/memory', '.cache/embeddings']) fs.mkdirSync(join(dir, d), { recursive: true });

const bounded = createCache({ name: 'workload-bounded', maxEntries: 4 });
const unbounded = instrumentCache(new Map(), 'workload-unbounded');
const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/ok') {
    setHttpRoute('/ok');
    res.end('ok');
  } else if (path === '/fail') {
    setHttpRoute('/fail');
    logger.error('workload request failed', { err: new Error('simulated failure') });
    res.statusCode = 500;
    res.end('fail');
  } else {
    res.statusCode = 404;
    res.end();
  }
});
const get = (port, p) => new Promise((resolve) => {
  http.get({ host: '127.0.0.1', port, path: p }, (r) => { r.resume(); r.on('end', resolve); }).on('error', resolve);
});
let n = 0;
let stopping = false;
async function tick(port) {
  n++;
  for (let i = 0; i < 6; i++) await get(port, '/ok');
  await get(port, '/fail');
  await get(port, '/missing');
  for (let i = 0; i < 10; i++) {
    const k = 'k' + ((n * 10 + i) % 7);
    if (bounded.get(k) === undefined) bounded.set(k, i);
    if (bounded.get('hot') === undefined) bounded.set('hot', 1);
  }
  unbounded.set('u' + n, n);
  unbounded.get('u' + n);
  unbounded.get('absent');
  fs.writeFileSync(join(dir, 'data/memory/session.json'), JSON.stringify({ n }));
  fs.readFileSync(join(dir, 'data/memory/session.json'));
  await fsp.writeFile(join(dir, '.cache/embeddings/e' + (n % 3)), Buffer.alloc(2048, n));
  await fsp.readFile(join(dir, '.cache/embeddings/e' + (n % 3)));
  logger.info('workload tick', { n });
  logger.warn('workload warning', { n });
  for (let i = 0; i < 10; i++) logger.info('filler ' + 'x'.repeat(400), { i });
  if (n % 5 === 1) logger.info('y'.repeat(4096));
  let garbage = [];
  for (let i = 0; i < 50000; i++) garbage.push({ i, s: 'g' + i });
  garbage = null;
  if (!stopping) setTimeout(() => tick(port), 150);
}
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log('workload listening on ' + port);
  tick(port);
});
process.on('SIGTERM', () => { stopping = true; server.close(); });
`;

describe.skipIf(skipReason !== undefined)(
  'shipped PromQL queries against the real Prometheus',
  () => {
    let stack: Stack | undefined;
    let loki: OtlpReceiver | undefined;
    let tempo: OtlpReceiver | undefined;
    let dir = '';
    const apps: ChildProcess[] = [];
    const appOutput: string[] = [];

    const query = (promql: string): Promise<PromSample[]> => stack!.prometheus.query(promql);
    const value = (promql: string) =>
      interpolate(promql, {
        service: SERVICE,
        environment: ENVIRONMENT,
        collector: COLLECTOR,
        rateInterval: '1m',
        range: '5m',
      });
    /** Collector health: its collector, environment "All" (the collector sets none). */
    const collectorValue = (promql: string) =>
      interpolate(promql, {
        collector: COLLECTOR,
        environment: ALL_ENVIRONMENTS,
        rateInterval: '1m',
        range: '5m',
      });

    beforeAll(async () => {
      dir = tempDir('queries');
      loki = await startOtlpReceiver();
      tempo = await startOtlpReceiver();
      // Short or no retries to the Loki and Tempo stand-ins: once the test stops them, sends fail
      // and the collector counts them (otelcol_exporter_send_failed_*; the collector emits those series
      // only after a failure). Loki's queue is tiny and each request retries for 2 s, so the queue
      // fills and the collector also counts log records it could not enqueue.
      const overlay = join(dir, 'failing-backends.yaml');
      writeFileSync(
        overlay,
        [
          'exporters:',
          '  otlp_http/loki:',
          '    retry_on_failure: { initial_interval: 500ms, max_interval: 500ms, max_elapsed_time: 2s }',
          '    sending_queue: { queue_size: 2, num_consumers: 1 }',
          '  otlp_http/tempo:',
          '    retry_on_failure: { enabled: false }',
          '',
        ].join('\n'),
      );
      stack = await startStack({
        loki: `${loki.url}/otlp`,
        tempo: tempo.url,
        configs: [COLLECTOR_CONFIG, overlay],
      });

      const script = join(dir, 'workload.mjs');
      writeFileSync(script, WORKLOAD);
      for (const [i, node] of NODE_BINARIES.entries()) {
        const cwd = join(dir, `app-${i}`);
        mkdirSync(cwd, { recursive: true });
        const child = spawn(node.path, ['--import', pathToFileURL(REGISTER).href, script], {
          cwd,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            WORKLOAD_DIST: pathToFileURL(BUNDLE).href,
            OTEL_SERVICE_NAME: SERVICE,
            OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=${ENVIRONMENT}`,
            OTEL_EXPORTER_OTLP_ENDPOINT: stack.collector.otlpHttpUrl,
            // Seconds, not the production minute: the test reads what arrived.
            OTEL_METRIC_EXPORT_INTERVAL: '1000',
            OTEL_METRIC_EXPORT_TIMEOUT: '900',
            OTEL_BSP_SCHEDULE_DELAY: '500',
            OTEL_BLRP_SCHEDULE_DELAY: '500',
            // Small files and messages: rotations and truncations within seconds.
            ECHOES_LOG_MAX_BYTES: '32k',
            ECHOES_LOG_BACKUP_COUNT: '3',
            ECHOES_LOG_MAX_MESSAGE_BYTES: '1024',
            ECHOES_LOG_CONSOLE: 'off',
            ECHOES_DIR_INTERVAL_MS: '1000',
            // The workload's own layout (the library's defaults name only logs and config), so the
            // directory and path-group panels show named series, not just logs and other.
            ECHOES_DIRS: 'logs=logs,cache/embeddings=.cache/embeddings,sessions=data/memory',
            ECHOES_FS_PATH_GROUPS: 'logs=logs,sessions=data/memory,cache=.cache',
            ECHOES_PROMETHEUS: 'off',
          },
        });
        child.stdout?.on('data', (d: Buffer) => appOutput.push(`[${node.label}] ${d.toString()}`));
        child.stderr?.on('data', (d: Buffer) => appOutput.push(`[${node.label}] ${d.toString()}`));
        apps.push(child);
      }
      // The same service also calls a model: the GenAI semantic-convention instruments, recorded
      // through the plain OTel SDK (test/fixtures/plain-sdk/app.cjs), are the Model calls data.
      {
        const env: Record<string, string | undefined> = {
          ...process.env,
          OTEL_SERVICE_NAME: SERVICE,
          OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=${ENVIRONMENT}`,
          OTEL_EXPORTER_OTLP_ENDPOINT: stack.collector.otlpHttpUrl,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
          OTEL_BSP_SCHEDULE_DELAY: '500',
          OTEL_LOGS_EXPORTER: 'none',
        };
        delete env.NODE_OPTIONS;
        const child = spawn(
          NODE_BINARIES[0]!.path,
          [join(REPO_ROOT, 'test/fixtures/plain-sdk/app.cjs')],
          { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        child.stdout?.on('data', (d: Buffer) => appOutput.push(`[genai] ${d.toString()}`));
        child.stderr?.on('data', (d: Buffer) => appOutput.push(`[genai] ${d.toString()}`));
        apps.push(child);
      }

      // Both workloads reached Prometheus through the collector.
      await pollUntil(
        `both workloads' process_memory_usage_bytes in Prometheus (app output: ${appOutput.join('').slice(-2000)})`,
        async () =>
          (await query(`count(process_memory_usage_bytes{service_name="${SERVICE}"})`))[0]
            ?.value[1] === '2'
            ? true
            : undefined,
        { timeoutMs: 90_000, intervalMs: 1000 },
      );
      // Logs and spans flowed to the stand-ins; then stop both, so that sends fail.
      await pollUntil(
        'log records at the Loki stand-in',
        () => (loki!.logRecords().length > 0 ? true : undefined),
        {
          timeoutMs: 60_000,
        },
      );
      await pollUntil(
        'spans at the Tempo stand-in',
        () => (tempo!.spans().length > 0 ? true : undefined),
        {
          timeoutMs: 60_000,
        },
      );
      loki.setDown(true);
      tempo.setDown(true);
      await pollUntil(
        'otelcol_exporter_send_failed_log_records_total in Prometheus',
        async () =>
          (await query('otelcol_exporter_send_failed_log_records_total')).length > 0
            ? true
            : undefined,
        { timeoutMs: 60_000, intervalMs: 1000 },
      ).catch(async (e: Error) => {
        const names = (await stack!.prometheus.metricNames()).filter((n) =>
          n.startsWith('otelcol'),
        );
        throw new Error(`${e.message}; the collector's series in Prometheus: ${names.join(' ')}`);
      });
    });

    afterAll(async () => {
      await Promise.all(
        apps.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
              c.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              c.kill('SIGTERM');
            }),
        ),
      );
      await stack?.stop();
      await loki?.close();
      await tempo?.close();
      if (dir !== '' && !process.env.ECHOES_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
    });

    /** Polls until the query returns at least one series (the workload keeps producing). */
    async function expectData(
      where: string,
      promql: string,
      timeoutMs = 150_000,
    ): Promise<PromSample[]> {
      try {
        return await pollUntil(
          where,
          async () => {
            const r = await query(promql);
            return r.length > 0 ? r : undefined;
          },
          { timeoutMs, intervalMs: 1000 },
        );
      } catch (e) {
        throw new Error(`${where}: no data for\n  ${promql}\n(${(e as Error).message})`);
      }
    }

    it('runs the workload under every Node binary (20 and 24), each its own instance', async () => {
      const r = await query(
        `count by (service_name, deployment_environment_name) (process_memory_usage_bytes{service_name="${SERVICE}"})`,
      );
      expect(r).toEqual([
        {
          metric: { service_name: SERVICE, deployment_environment_name: ENVIRONMENT },
          value: [expect.any(Number), String(NODE_BINARIES.length)],
        },
      ]);
    });

    const panels = [
      ...dashboardQueries().filter((q) => q.language === 'promql'),
      ...datasourceMetricQueries(),
    ];
    const runnable = panels.filter((q) => !onlyElsewhere(q.expr));
    const notHere = panels.filter((q) => onlyElsewhere(q.expr));
    if (notHere.length > 0)
      console.warn(
        `queries.test.ts: ${notHere.length} queries read only Loki's or Tempo's own series or the two-tier gateways' (parsed, not run here; the compose e2e and scaling.test.ts run them): ${notHere.map((q) => q.where).join('; ')}`,
      );
    it('leaves out only queries of Loki, Tempo and gateway series', () => {
      expect(
        notHere.every((q) => /collector-health\.json › (Loki|Tempo|Gateway) /.test(q.where)),
      ).toBe(true);
      expect(runnable.length).toBeGreaterThan(80);
    });
    it.each(runnable.map((q) => [q.where, q.expr] as const))(
      'dashboard query returns data: %s',
      async (where, expr) => {
        const collector = where.startsWith('collector-health.json');
        const fill = collector ? collectorValue : value;
        // Grafana's label_values(metric, label) lists the label's values on that metric's series.
        const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/s.exec(expr);
        if (collector && m?.[2] === 'deployment_environment_name') return; // the collector sets none
        const promql = m ? `count by (${m[2]}) (${fill(m[1]!)})` : fill(expr);
        const r = await expectData(where, promql);
        if (m)
          expect(
            r.map((s) => s.metric[m[2]!]),
            where,
          ).toContain(m[2] === 'service_name' ? (collector ? COLLECTOR : SERVICE) : ENVIRONMENT);
      },
    );

    const rules = readAlertRules();
    it.each(
      // The two-tier gateways' rules read series only gateways emit: scaling.test.ts runs them.
      rules
        .filter((r) => !onlyElsewhere(r.expr))
        .flatMap((r) =>
          alertOperands(r.expr).map((op, i) => [`${r.alert} operand ${i + 1}`, op] as const),
        ),
    )('alert input returns data: %s', async (where, expr) => {
      await expectData(where, expr);
    });

    it.each(rules.map((r) => [r.alert, r.expr] as const))(
      'alert expression evaluates without error: %s',
      async (_name, expr) => {
        await expect(query(expr)).resolves.toBeInstanceOf(Array);
      },
    );

    // The unit tests check catalog names with a small extractor; Prometheus' own parser must
    // find the same metric names in every shipped query, or that check proves nothing.
    it("finds the same metric names as Prometheus' parser (/api/v1/parse_query) in every query", async () => {
      const selectorNames = (node: unknown, out: Set<string>): Set<string> => {
        if (Array.isArray(node)) node.forEach((n) => selectorNames(n, out));
        else if (node !== null && typeof node === 'object') {
          const o = node as Record<string, unknown>;
          if (
            (o.type === 'vectorSelector' || o.type === 'matrixSelector') &&
            typeof o.name === 'string'
          )
            out.add(o.name);
          Object.values(o).forEach((v) => selectorNames(v, out));
        }
        return out;
      };
      const all = [
        ...panels.map(
          (q) => [q.where, q.expr.replace(/^label_values\((.*),\s*\w+\)$/s, '$1')] as const,
        ),
        ...rules.map((r) => [r.alert, r.expr] as const),
      ];
      for (const [where, expr] of all) {
        const promql = value(expr);
        const res = await fetch(`${stack!.prometheus.url}/api/v1/parse_query`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ query: promql }),
        });
        const body = (await res.json()) as { status: string; error?: string; data?: unknown };
        expect(body.status, `${where}: ${body.error}`).toBe('success');
        expect(promqlMetricNames(promql).sort(), where).toEqual(
          [...selectorNames(body.data, new Set())].sort(),
        );
      }
    });
  },
);
