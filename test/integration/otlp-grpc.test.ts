import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendsMissing, startCollector, type CollectorHandle } from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, requireBuilt, spawnNode } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// OTEL_EXPORTER_OTLP_PROTOCOL=grpc under the built preload, against the real collector's OTLP
// gRPC listener (its 4317, on a random port here; the HTTP listener is another port the app is
// never told about). The collector forwards to its backends, here one OTLP receiver standing in
// for Tempo, Loki and Prometheus: spans, metrics and logs of the app arrive there.

const FIXTURE = join(REPO_ROOT, 'test/fixtures/grpc/app.mjs');
const missing = backendsMissing();

let rx: OtlpReceiver;
let collector: CollectorHandle;
let tmp: string;

describe.skipIf(missing !== undefined)('OTLP/gRPC export through the real collector', () => {
  beforeAll(async () => {
    requireBuilt();
    rx = await startOtlpReceiver();
    collector = await startCollector({
      tempo: rx.url,
      loki: `${rx.url}/otlp`,
      prometheus: `${rx.url}/api/v1/otlp`,
    });
    tmp = mkdtempSync(join(tmpdir(), 'echoes-otlp-grpc-'));
  }, 120_000);

  afterAll(async () => {
    killAll();
    await collector?.stop();
    await rx?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each(NODE_BINARIES)(
    'delivers spans, metrics and logs over gRPC under $label',
    async (node) => {
      const service = `grpc-${randomBytes(3).toString('hex')}`;
      const app = spawnNode(node.path, ['--import', REGISTER, FIXTURE], {
        cwd: tmp,
        env: {
          PATH: process.env.PATH,
          OTEL_SERVICE_NAME: service,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://${collector.otlpGrpcEndpoint}`,
          OTEL_METRIC_EXPORT_INTERVAL: '500',
          ECHOES_PROMETHEUS: 'off',
          ECHOES_DIRS: 'none',
          ECHOES_LOG_CONSOLE: 'off',
          ECHOES_LOG_DIR: join(tmp, `logs-${service}`),
        },
      });
      try {
        const port = Number((await app.waitFor(/READY (\d+)/))[1]);
        const res = await fetch(`http://127.0.0.1:${port}/grpc`);
        const { traceId } = (await res.json()) as { traceId: string };
        expect(traceId).toMatch(/^[0-9a-f]{32}$/);

        const mine = (r: { resource: Record<string, unknown> }) =>
          r.resource['service.name'] === service;
        const spans = await rx.waitForSpans((s) => mine(s) && s.traceId === traceId, 2, 30_000);
        expect(spans.map((s) => s.name).sort()).toEqual(['GET', 'grpc.fixture.work'].sort());
        const log = await rx.waitFor(
          (r) => r.logRecords().find((l) => mine(l) && l.body === 'grpc fixture request'),
          30_000,
          'the log record',
        );
        expect(log.traceId).toBe(traceId);
        await rx.waitFor(
          (r) =>
            r.metrics().find((m) => mine(m) && m.name.startsWith('http.server.request.duration')),
          30_000,
          'http.server.request.duration',
        );
      } finally {
        app.kill('SIGTERM');
        const deadline = new Promise<'timeout'>((r) =>
          setTimeout(() => r('timeout'), 5000).unref(),
        );
        if ((await Promise.race([app.exited, deadline])) === 'timeout') {
          app.kill('SIGKILL');
          await app.exited;
        }
      }
      expect(app.stderr()).not.toMatch(/export|grpc|failed/i);
    },
    60_000,
  );
});
