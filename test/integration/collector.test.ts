/**
 * The built collector with the shipped config, on its own (OTLP sent by the test itself, no
 * preload): it validates, starts without a deprecation warning, strips secrets from what it sends
 * to the Loki and Tempo stand-ins, puts the host filesystem utilization and its own metrics into
 * the real Prometheus under the catalog's names, and our validate script surfaces the collector's
 * own message for a broken config.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG } from '../../instrumentation/catalog.js';
import { backendsMissing, startStack, tempDir, type Stack } from '../helpers/backends.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { REPO_ROOT } from '../helpers/paths.js';

const skipReason = backendsMissing();
if (skipReason !== undefined)
  console.warn(`SKIPPED test/integration/collector.test.ts: ${skipReason}`);

const SECRET_KEY = 'sk-collectortest0123456789abcdef';
const SECRET_TOKEN = 'Bearer abc.collector-secret.xyz';

/** Every collector config we ship: collector/*.yaml except the ocb manifest. */
const SHIPPED = readdirSync(join(REPO_ROOT, 'collector'))
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'manifest.yaml')
  .map((f) => join(REPO_ROOT, 'collector', f));

function backends(args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/backends.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const hex = (n: number): string =>
  Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
const str = (v: string) => ({ stringValue: v });

describe.skipIf(skipReason !== undefined)(
  'the bundled collector (built from collector/manifest.yaml)',
  () => {
    it('passes `validate` on every collector config we ship', () => {
      expect(SHIPPED.length).toBeGreaterThan(0);
      for (const f of SHIPPED) {
        const r = backends(['validate', f]);
        expect(r.status, `${f}: ${r.err}`).toBe(0);
        expect(r.out).toContain(`valid: ${f}`);
      }
    });

    it("fails `validate` on a malformed config with the collector's own message", () => {
      const dir = tempDir('validate');
      const bad = join(dir, 'bad.yaml');
      writeFileSync(
        bad,
        'receivers:\n  otlp:\n    protocols: { http: {} }\nexporters:\n  otlphttpx: {}\nservice:\n  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttpx] }\n',
      );
      const r = backends(['validate', bad]);
      expect(r.status).toBe(1);
      expect(r.err).toContain(`invalid: ${bad}`);
      // The collector's words, not ours.
      expect(r.err).toMatch(/unknown type: "otlphttpx"/);
      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, 'receivers: [this is: not a map\n');
      const r2 = backends(['validate', broken]);
      expect(r2.status).toBe(1);
      expect(r2.err).toMatch(/yaml/i);
      rmSync(dir, { recursive: true, force: true });
    });

    describe('running', () => {
      let stack: Stack;
      let loki: OtlpReceiver;
      let tempo: OtlpReceiver;

      beforeAll(async () => {
        loki = await startOtlpReceiver();
        tempo = await startOtlpReceiver();
        stack = await startStack({
          loki: `${loki.url}/otlp`,
          tempo: tempo.url,
          // As compose sets it (ECHOES_HOST_NAME): the env detector names the host.
          env: { OTEL_RESOURCE_ATTRIBUTES: 'host.name=configured-host' },
        });
      });
      afterAll(async () => {
        await stack?.stop();
        await loki?.close();
        await tempo?.close();
      });

      it('logs no deprecation warning and no error at startup', () => {
        const log = stack.collector.logs();
        expect(log).toContain('Everything is ready');
        expect(log).not.toMatch(/deprecat/i);
        expect(log).not.toMatch(/"level":"(warn|error)"|\t(warn|error)\t/i);
      });

      it('strips secrets from span attributes, log attributes and log bodies before Loki and Tempo', async () => {
        const traceId = hex(32);
        const spanId = hex(16);
        const resource = { attributes: [{ key: 'service.name', value: str('collector-direct') }] };
        // A sender that set its own host: resource_detection (override false) must keep it.
        const ownHost = {
          attributes: [
            { key: 'service.name', value: str('collector-direct') },
            { key: 'host.name', value: str('sender-host') },
          ],
        };
        const now = `${Date.now() * 1_000_000}`;
        const post = (path: string, body: unknown) =>
          fetch(`${stack.collector.otlpHttpUrl}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
        const t = await post('/v1/traces', {
          resourceSpans: [
            {
              resource,
              scopeSpans: [
                {
                  scope: { name: 't' },
                  spans: [
                    {
                      traceId,
                      spanId,
                      name: 'GET /secret',
                      kind: 2,
                      startTimeUnixNano: now,
                      endTimeUnixNano: now,
                      attributes: [
                        { key: 'http.request.header.authorization', value: str(SECRET_TOKEN) },
                        { key: 'app.note', value: str(`key ${SECRET_KEY} here`) },
                        {
                          key: 'url.full',
                          value: str('https://api.example/v1?api_key=hunter2&x=1'),
                        },
                        { key: 'app.harmless', value: str('keep me') },
                      ],
                    },
                  ],
                },
              ],
            },
          ],
        });
        expect(t.status).toBe(200);
        const l = await post('/v1/logs', {
          resourceLogs: [
            {
              resource,
              scopeLogs: [
                {
                  scope: { name: 'l' },
                  logRecords: [
                    {
                      timeUnixNano: now,
                      severityNumber: 13,
                      severityText: 'WARN',
                      traceId,
                      spanId,
                      body: str(`login with ${SECRET_TOKEN} and ${SECRET_KEY}, password=hunter2`),
                      attributes: [
                        { key: 'api_key', value: str(SECRET_KEY) },
                        { key: 'app.harmless', value: str('keep me') },
                      ],
                    },
                    {
                      timeUnixNano: now,
                      severityNumber: 9,
                      severityText: 'INFO',
                      body: {
                        kvlistValue: {
                          values: [
                            { key: 'token', value: str('t0ps3cret') },
                            { key: 'msg', value: str(`uses ${SECRET_KEY}`) },
                          ],
                        },
                      },
                    },
                  ],
                },
              ],
            },
          ],
        });
        expect(l.status).toBe(200);
        const own = await post('/v1/logs', {
          resourceLogs: [
            {
              resource: ownHost,
              scopeLogs: [
                {
                  scope: { name: 'l' },
                  logRecords: [{ timeUnixNano: now, severityNumber: 9, body: str('own host') }],
                },
              ],
            },
          ],
        });
        expect(own.status).toBe(200);

        const [span] = await tempo.waitForSpans((s) => s.traceId === traceId, 1, 30_000);
        const received = await loki.waitForLogs(
          (r) => r.resource['service.name'] === 'collector-direct',
          3,
          30_000,
        );
        const ownHostLog = received.find((r) => r.body === 'own host');
        const logs = received.filter((r) => r !== ownHostLog);
        const shipped = JSON.stringify({ span, logs });
        for (const secret of [SECRET_KEY, 'abc.collector-secret.xyz', 'hunter2', 't0ps3cret']) {
          expect(shipped, `${secret} reached a backend`).not.toContain(secret);
        }
        expect(span.attributes['app.harmless']).toBe('keep me');
        // resource_detection filled in the host where the sender set none: host.name from the env
        // detector (listed first, so it wins over the system detector's OS hostname), os.type from
        // the system detector; and it kept the sender's own host.name (override: false).
        for (const r of [span.resource, logs[0].resource]) {
          expect(r['host.name']).toBe('configured-host');
          expect(r['os.type']).toBe('linux');
        }
        expect(ownHostLog?.resource['host.name']).toBe('sender-host');
        expect(logs[0].attributes['app.harmless']).toBe('keep me');
        // v0.159's redaction mask (the pinned release).
        expect(String(logs.find((r) => r.severityText === 'WARN')?.body)).toContain('****');
        // Paths Loki and Tempo serve.
        expect(loki.requests.some((r) => r.path === '/otlp/v1/logs')).toBe(true);
        expect(tempo.requests.some((r) => r.path === '/v1/traces')).toBe(true);
      });

      it('takes OTLP over gRPC on its 4317 listener too (the SDK speaks http/protobuf; other senders may not)', async () => {
        const provider = new BasicTracerProvider({
          resource: resourceFromAttributes({ 'service.name': 'grpc-sender' }),
          spanProcessors: [
            new SimpleSpanProcessor(
              new GrpcTraceExporter({
                url: `http://${stack.collector.otlpGrpcEndpoint}`,
                credentials: credentials.createInsecure(),
              }),
            ),
          ],
        });
        const span = provider.getTracer('grpc-test').startSpan('over grpc', {
          attributes: { 'app.note': `holds ${SECRET_KEY}` },
        });
        const traceId = span.spanContext().traceId;
        span.end();
        await provider.forceFlush();
        await provider.shutdown();
        const [got] = await tempo.waitForSpans((s) => s.traceId === traceId, 1, 30_000);
        expect(got.name).toBe('over grpc');
        expect(got.resource['service.name']).toBe('grpc-sender');
        // Same pipeline as HTTP: redacted, host filled in.
        expect(JSON.stringify(got)).not.toContain(SECRET_KEY);
        expect(got.resource['host.name']).toBe('configured-host');
      });

      it("puts host filesystem utilization and the collector's own metrics into Prometheus under the catalog's names", async () => {
        const wanted = CATALOG.filter(
          (e) => e.source === 'collector' && !e.prometheus.startsWith('traces_span_metrics'),
        )
          // Only emitted once something failed or was refused: the outage tests and the queries test produce them.
          .filter((e) => !/refused|send_failed|enqueue_failed/.test(e.prometheus));
        const missing = new Set(wanted.map((e) => e.prometheus));
        await stack.prometheus
          .waitFor(
            'count by (__name__) ({__name__=~"system_filesystem.*|otelcol_.*"})',
            (r) => {
              for (const s of r) missing.delete(s.metric.__name__);
              return missing.size === 0;
            },
            90_000,
          )
          .catch(async (e) => {
            const names = (await stack.prometheus.metricNames()).filter((n) =>
              /^(otelcol|system)_/.test(n),
            );
            throw new Error(
              `missing in Prometheus: ${[...missing].join(', ')}\nPrometheus has: ${names.join(', ')}\n${(e as Error).message}`,
            );
          });
        const util = await stack.prometheus.query(
          'system_filesystem_utilization_ratio{mountpoint="/"}',
        );
        expect(util.length).toBe(1);
        const v = Number(util[0].value[1]);
        expect(v).toBeGreaterThan(0);
        expect(v).toBeLessThan(1);
        // The persistent queues report their capacity per exporter.
        const cap = await stack.prometheus.query('otelcol_exporter_queue_capacity');
        const exporters = cap.map((s) => s.metric.exporter).sort();
        expect(exporters).toEqual(expect.arrayContaining(['otlp_http/loki', 'otlp_http/tempo']));
      });
    });
  },
);
