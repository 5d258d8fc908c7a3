/**
 * The dashboards are for any OpenTelemetry service, not only ours: a service instrumented the
 * stock way (@opentelemetry/sdk-node with upstream's HTTP instrumentation, no echoes-otel preload,
 * no deployment environment) exports through the real collector into the real Prometheus, and
 * every query of Service overview and Model calls (the GenAI semantic-convention instruments,
 * recorded by the fixture through the plain metrics API) returns its data, with the variables at
 * what Grafana sends: the service picked from the `service` variable (target_info), and the
 * environment at "All".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ENVIRONMENTS } from '../../grafana/src/common.js';
import {
  backendsMissing,
  pollUntil,
  startStack,
  tempDir,
  type Stack,
} from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { dashboardQueries, interpolate } from '../unit/stack/stack-queries.js';

const SERVICE = 'plain-otel-sdk-service';
const APP = join(REPO_ROOT, 'test/fixtures/plain-sdk/app.cjs');

const skipReason = backendsMissing();
if (skipReason !== undefined)
  console.warn(`SKIPPED test/integration/plain-sdk.test.ts: ${skipReason}`);

const VIEWS = ['service-overview.json', 'model-calls.json'];

describe.skipIf(skipReason !== undefined)(
  'dashboards for a plain @opentelemetry/sdk-node service (no echoes-otel)',
  () => {
    let stack: Stack | undefined;
    let tempo: OtlpReceiver | undefined;
    let loki: OtlpReceiver | undefined;
    let app: ChildProcess | undefined;
    let dir = '';
    const output: string[] = [];

    /** What Grafana sends: the service as picked, the environment at "All". */
    const asGrafanaSends = (expr: string, environment = ALL_ENVIRONMENTS) =>
      interpolate(expr, { service: SERVICE, environment, rateInterval: '1m', range: '5m' });

    beforeAll(async () => {
      dir = tempDir('plain-sdk');
      tempo = await startOtlpReceiver();
      loki = await startOtlpReceiver();
      stack = await startStack({ loki: `${loki.url}/otlp`, tempo: tempo.url });
      const env: Record<string, string | undefined> = {
        ...process.env,
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_EXPORTER_OTLP_ENDPOINT: stack.collector.otlpHttpUrl,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_BSP_SCHEDULE_DELAY: '500',
        OTEL_LOGS_EXPORTER: 'none',
      };
      // Nothing of ours: no preload inherited, no environment attribute.
      delete env.NODE_OPTIONS;
      delete env.OTEL_RESOURCE_ATTRIBUTES;
      app = spawn(NODE_BINARIES[0]!.path, [APP], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      app.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
      app.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
      await pollUntil(
        `the plain service's http_server_request_duration_seconds_count in Prometheus (app output: ${output.join('').slice(-2000)})`,
        async () =>
          (
            await stack!.prometheus.query(
              `http_server_request_duration_seconds_count{service_name="${SERVICE}"}`,
            )
          ).length > 0
            ? true
            : undefined,
        { timeoutMs: 90_000, intervalMs: 1000 },
      );
    });

    afterAll(async () => {
      if (app && app.exitCode === null && app.signalCode === null) {
        const exited = new Promise((r) => app!.once('exit', r));
        const kill = setTimeout(() => app!.kill('SIGKILL'), 10_000);
        app.kill('SIGTERM');
        await exited;
        clearTimeout(kill);
      }
      await stack?.stop();
      await tempo?.close();
      await loki?.close();
      if (dir !== '' && !process.env.ECHOES_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
    });

    it('is a service without echoes-otel and without an environment label', async () => {
      const r = await stack!.prometheus.query(`target_info{service_name="${SERVICE}"}`);
      expect(r.length).toBe(1);
      expect(r[0]!.metric.telemetry_sdk_language).toBe('nodejs');
      expect(r[0]!.metric.deployment_environment_name).toBeUndefined();
      const ours = await stack!.prometheus.query(
        `count({service_name="${SERVICE}", __name__=~"echoes_.*|process_memory_usage_bytes"})`,
      );
      expect(ours).toEqual([]);
    });

    const queries = dashboardQueries().filter(
      (q) => q.language === 'promql' && VIEWS.includes(q.where.split(' › ')[0]!),
    );

    it('has every Service overview and Model calls panel under test', () => {
      expect(
        queries.filter((q) => q.where.startsWith('service-overview.json')).length,
      ).toBeGreaterThanOrEqual(12);
      expect(
        queries.filter((q) => q.where.startsWith('model-calls.json')).length,
      ).toBeGreaterThanOrEqual(6);
    });

    it.each(queries.map((q) => [q.where, q.expr] as const))(
      'returns its data: %s',
      async (where, expr) => {
        const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/s.exec(expr);
        if (m && m[2] === 'deployment_environment_name') {
          // It sets no environment: the variable lists none, and "All" must still keep it.
          return;
        }
        const promql = m ? `count by (${m[2]}) (${asGrafanaSends(m[1]!)})` : asGrafanaSends(expr);
        const r = await pollUntil(
          `${where}: data for ${promql}`,
          async () => {
            const res = await stack!.prometheus.query(promql);
            return res.length > 0 ? res : undefined;
          },
          { timeoutMs: 90_000, intervalMs: 1000 },
        );
        if (m)
          expect(
            r.map((s) => s.metric[m[2]!]),
            where,
          ).toContain(SERVICE);
        else if (/by \([^)]*service_name/.test(expr))
          expect(
            r.map((s) => s.metric.service_name),
            where,
          ).toContain(SERVICE);
      },
    );

    it("has exemplars on its span latency (span_metrics) that are its exported spans' trace ids", async () => {
      const q = new URLSearchParams({
        query: `traces_span_metrics_duration_milliseconds_bucket{service_name="${SERVICE}"}`,
        start: String(Date.now() / 1000 - 600),
        end: String(Date.now() / 1000 + 60),
      });
      const exemplars = await pollUntil(
        'span_metrics exemplars of the plain service',
        async () => {
          const r = await fetch(`${stack!.prometheus.url}/api/v1/query_exemplars?${q}`);
          const body = (await r.json()) as {
            data: Array<{ exemplars: Array<{ labels: Record<string, string> }> }>;
          };
          const all = body.data.flatMap((s) => s.exemplars);
          return all.length > 0 ? all : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
      const spans = await pollUntil(
        'the exemplars’ spans at the Tempo stand-in',
        () => {
          const ids = new Map(tempo!.spans().map((s) => [s.spanId, s] as const));
          return exemplars.every((e) => ids.has(e.labels.span_id!)) ? ids : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      for (const e of exemplars) {
        const span = spans.get(e.labels.span_id!)!;
        expect(span.traceId).toBe(e.labels.trace_id);
        expect(span.resource['service.name']).toBe(SERVICE);
      }
    });

    it('would be hidden by an "All" that requires the environment label (the old .+)', async () => {
      const expr = queries.find((q) => q.where.includes('Request rate by route'))!.expr;
      expect(await stack!.prometheus.query(asGrafanaSends(expr))).not.toEqual([]);
      expect(await stack!.prometheus.query(asGrafanaSends(expr, '.+'))).toEqual([]);
    });
  },
);
