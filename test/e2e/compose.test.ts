/**
 * The whole stack as users run it: `docker compose --profile app up` on compose.yaml through
 * testcontainers, then what a user would check in Grafana, Loki, Tempo and Prometheus. Needs a
 * Docker engine (with Compose v2) and registry access; where none answers it is skipped with the
 * reason printed, never passed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  DockerComposeEnvironment,
  Wait,
  type StartedDockerComposeEnvironment,
} from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/backends.js';
import { REPO_ROOT } from '../helpers/paths.js';

function dockerProblem(): string | undefined {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (r.error) return `the docker CLI could not run (${r.error.message})`;
  if (r.status !== 0)
    return `no Docker engine answers (docker info: ${(r.stderr || r.stdout).trim().split('\n')[0]})`;
  return undefined;
}

const problem = dockerProblem();
if (problem !== undefined) {
  console.warn(
    `SKIPPED test/e2e/compose.test.ts: ${problem}. The compose stack is checked statically by test/unit/stack/compose.test.ts; this test runs wherever Docker runs.`,
  );
}

/** Poll until `check` returns a value, for up to 3 minutes (images are pulled and built first). */
const eventually = <T>(what: string, check: () => Promise<T | undefined>): Promise<T> =>
  pollUntil(what, check, { timeoutMs: 180_000, intervalMs: 2000 });

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, { headers });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

describe.skipIf(problem !== undefined)('docker compose stack (compose.yaml, --profile app)', () => {
  const password = randomBytes(18).toString('base64url');
  let env: StartedDockerComposeEnvironment | undefined;
  const url: Record<string, string> = {};
  const grafanaAuth = {
    authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
  };

  beforeAll(async () => {
    env = await new DockerComposeEnvironment(REPO_ROOT, 'compose.yaml')
      .withProfiles('app')
      .withBuild()
      .withEnvironment({ GF_ADMIN_PASSWORD: password })
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .withStartupTimeout(600_000)
      .up();
    const at = (service: string, port: number) => {
      const c = env!.getContainer(`${service}-1`);
      // compose publishes on 127.0.0.1 only; "localhost" may resolve to ::1 first.
      return `http://127.0.0.1:${c.getMappedPort(port)}`;
    };
    url.grafana = at('grafana', 3000);
    url.prometheus = at('prometheus', 9090);
    url.loki = at('loki', 3100);
    url.tempo = at('tempo', 3200);
    url.alertmanager = at('alertmanager', 9093);
    url.app = at('echoes-api', 8080);
    // Traffic; every fourth request fails for sure (failure_rate=1), and the service logs those
    // at error level, which production (NODE_ENV=production: level warn) keeps.
    for (let i = 0; i < 60; i++) {
      await fetch(`${url.app}/chat?latency_ms=5&failure_rate=${i % 4 === 0 ? 1 : 0}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          session_id: `e2e-${i % 5}`,
          model: 'gpt-4o',
          message: `hello ${i}`,
        }),
      }).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await env?.down({ removeVolumes: true });
  });

  it('Grafana answers its health API with the database ok', async () => {
    const h = await getJson<{ database: string }>(`${url.grafana}/api/health`);
    expect(h.database).toBe('ok');
  });

  it('Grafana refuses anonymous access and has the provisioned datasources', async () => {
    expect((await fetch(`${url.grafana}/api/datasources`)).status).toBe(401);
    const ds = await getJson<Array<{ uid: string; type: string }>>(
      `${url.grafana}/api/datasources`,
      grafanaAuth,
    );
    expect(ds.map((d) => d.uid).sort()).toEqual(['alertmanager', 'loki', 'prometheus', 'tempo']);
    for (const uid of ['alertmanager', 'loki', 'prometheus', 'tempo']) {
      const health = await getJson<{ status: string; message: string }>(
        `${url.grafana}/api/datasources/uid/${uid}/health`,
        grafanaAuth,
      );
      expect(health.status, `${uid}: ${health.message}`).toBe('OK');
    }
  });

  it('Grafana has the eight provisioned dashboards', async () => {
    const found = await getJson<Array<{ uid: string }>>(
      `${url.grafana}/api/search?tag=echoes-otel`,
      grafanaAuth,
    );
    expect(found.map((d) => d.uid).sort()).toEqual(
      [
        'echoes-audit-targets',
        'echoes-caches',
        'echoes-collector',
        'echoes-disk-io',
        'echoes-logs',
        'echoes-model-calls',
        'echoes-runtime',
        'echoes-service-overview',
      ].sort(),
    );
  });

  it("Loki returns the service's logs with a trace_id, and Tempo has that trace", async () => {
    const traceId = await eventually(
      'a log line of echoes-api with a trace_id in Loki',
      async () => {
        const q = new URLSearchParams({
          query: '{service_name="echoes-api"} | trace_id != ""',
          limit: '50',
          since: '1h',
        });
        const r = await getJson<{ data: { result: Array<{ stream: Record<string, string> }> } }>(
          `${url.loki}/loki/api/v1/query_range?${q}`,
        );
        return r.data.result
          .map((s) => s.stream.trace_id)
          .find((t) => t !== undefined && /^[0-9a-f]{32}$/.test(t));
      },
    );
    const trace = await eventually(`trace ${traceId} in Tempo`, async () => {
      const res = await fetch(`${url.tempo}/api/v2/traces/${traceId}`);
      return res.ok ? ((await res.json()) as unknown) : undefined;
    });
    expect(JSON.stringify(trace)).toContain('echoes-api');
  });

  it("Prometheus scrapes the backends' own metrics (Backends row) and stores the app's exemplars", async () => {
    const query = async (promql: string) => {
      const q = new URLSearchParams({ query: promql });
      const r = await getJson<{ data: { result: Array<{ metric: Record<string, string> }> } }>(
        `${url.prometheus}/api/v1/query?${q}`,
      );
      return r.data.result;
    };
    const up = await eventually('up of prometheus, loki and tempo', async () => {
      const r = await query('up{job=~"prometheus|loki|tempo"} == 1');
      return r.length === 3 ? r : undefined;
    });
    expect(up.map((s) => s.metric.job).sort()).toEqual(['loki', 'prometheus', 'tempo']);
    for (const name of [
      'loki_distributor_lines_received_total',
      'tempo_distributor_spans_received_total',
      'prometheus_tsdb_head_samples_appended_total',
    ])
      await eventually(name, async () => ((await query(name)).length > 0 ? true : undefined));
    const exemplars = await eventually('exemplars on the HTTP histogram', async () => {
      const q = new URLSearchParams({
        query: 'http_server_request_duration_seconds_bucket{service_name="echoes-api"}',
        start: String(Date.now() / 1000 - 600),
        end: String(Date.now() / 1000 + 60),
      });
      const r = await getJson<{
        data: Array<{ exemplars: Array<{ labels: Record<string, string> }> }>;
      }>(`${url.prometheus}/api/v1/query_exemplars?${q}`);
      const all = r.data.flatMap((s) => s.exemplars);
      return all.length > 0 ? all : undefined;
    });
    expect(exemplars[0]!.labels.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it("Prometheus has the service's series under the promoted labels, and the alert rules loaded", async () => {
    const series = await eventually(
      'http_server_request_duration_seconds_count{service_name="echoes-api"}',
      async () => {
        const q = new URLSearchParams({
          query:
            'sum(http_server_request_duration_seconds_count{service_name="echoes-api", deployment_environment_name="compose"})',
        });
        const r = await getJson<{ data: { result: unknown[] } }>(
          `${url.prometheus}/api/v1/query?${q}`,
        );
        return r.data.result.length > 0 ? r.data.result : undefined;
      },
    );
    expect(series.length).toBe(1);
    const rules = await getJson<{ data: { groups: Array<{ rules: Array<{ name: string }> }> } }>(
      `${url.prometheus}/api/v1/rules`,
    );
    expect(rules.data.groups.flatMap((g) => g.rules.map((r) => r.name))).toContain('DiskUsageHigh');
  });

  it('Alertmanager is up with the shipped route, and Prometheus sends to it', async () => {
    const status = await getJson<{ config: { original: string }; cluster: { status: string } }>(
      `${url.alertmanager}/api/v2/status`,
    );
    expect(status.config.original).toMatch(/group_by:\s*\n?\s*-?\s*\[?service_name/);
    expect(status.config.original).toContain('/etc/alertmanager/webhook-url');
    const ams = await eventually('Prometheus to discover Alertmanager', async () => {
      const r = await getJson<{ data: { activeAlertmanagers: Array<{ url: string }> } }>(
        `${url.prometheus}/api/v1/alertmanagers`,
      );
      return r.data.activeAlertmanagers.length > 0 ? r.data.activeAlertmanagers : undefined;
    });
    expect(ams[0]!.url).toContain('alertmanager:9093');
  });
});
