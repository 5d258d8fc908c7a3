/**
 * An alert that reaches someone, end to end with real binaries: a fixture app under the preload
 * looks up a cache with keys it never holds (hit rate 0 %) and exports OTLP to the bundled
 * collector, which writes to the real Prometheus; Prometheus evaluates the shipped CacheHitRateLow
 * rule and sends to the real Alertmanager (alertmanager/alertmanager.yml), which notifies a webhook
 * receiver in this test. When the workload stops, the resolved notification arrives.
 *
 * What the test changes in the shipped files, and only that: the rule's 15-minute window and hold
 * become 20 s and 5 s, Prometheus evaluates every second, Alertmanager's waits are 1 s, and the
 * webhook points here. Expression, labels, annotations, routing and grouping are the shipped ones.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALERTMANAGER_CONFIG,
  PROMETHEUS_CONFIG,
  backendsMissing,
  pollUntil,
  startAlertmanager,
  startStack,
  type AlertmanagerHandle,
  type Stack,
} from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';
import { killAll, requireBuilt, spawnNode, type Spawned } from '../helpers/spawn.js';

interface Notification {
  receiver: string;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: Array<{
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
  }>;
}

const RULE = 'CacheHitRateLow';
const skip = backendsMissing();
const node = NODE_BINARIES[0]!;

/** The shipped rules with one rule's windows and hold shortened so the test takes seconds. */
function rulesForTest(): string {
  const doc = parseYaml(readFileSync(join(REPO_ROOT, 'prometheus/rules/echoes.yml'), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string; for?: string }> }>;
  };
  let found = 0;
  for (const g of doc.groups)
    for (const r of g.rules)
      if (r.alert === RULE) {
        found++;
        expect(r.expr).toContain('[15m]');
        r.expr = r.expr.replaceAll('[15m]', '[20s]');
        r.for = '5s';
      }
  expect(found).toBe(1);
  return stringifyYaml(doc);
}

describe.skipIf(skip)(
  `alerts reach a receiver (real collector, Prometheus and Alertmanager)${skip ? `: skipped, ${skip}` : ''}`,
  () => {
    const received: Notification[] = [];
    let hook: Server | undefined;
    let am: AlertmanagerHandle | undefined;
    let stack: Stack | undefined;
    let app: Spawned | undefined;
    let dir: string | undefined;

    beforeAll(async () => {
      requireBuilt();
      dir = mkdtempSync(join(tmpdir(), 'echoes-alerts-'));
      hook = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          if (req.method === 'POST' && req.url === '/hook')
            received.push(JSON.parse(body) as Notification);
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', r));
      const hookPort = (hook.address() as { port: number }).port;

      // Alertmanager: the shipped routing; the webhook here instead of the url_file; short waits.
      const amDoc = parseYaml(readFileSync(ALERTMANAGER_CONFIG, 'utf8')) as {
        route: Record<string, unknown>;
        receivers: Array<{ name: string; webhook_configs: Array<Record<string, unknown>> }>;
      };
      const webhook = amDoc.receivers[0]!.webhook_configs[0]!;
      expect(webhook.url_file).toBeDefined();
      delete webhook.url_file;
      webhook.url = `http://127.0.0.1:${hookPort}/hook`;
      Object.assign(amDoc.route, { group_wait: '1s', group_interval: '1s', repeat_interval: '1h' });
      am = await startAlertmanager({ configText: stringifyYaml(amDoc) });

      // Prometheus: the shipped config, evaluating every second, sending to that Alertmanager.
      const rules = join(dir, 'rules.yml');
      writeFileSync(rules, rulesForTest());
      const promDoc = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
        global: Record<string, unknown>;
        rule_files: string[];
        alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
      };
      promDoc.global.evaluation_interval = '1s';
      promDoc.rule_files = [rules];
      promDoc.alerting.alertmanagers[0]!.static_configs[0]!.targets = [am.target];
      const promConfig = join(dir, 'prometheus.yml');
      writeFileSync(promConfig, stringifyYaml(promDoc));
      stack = await startStack({ prometheus: { config: promConfig } });

      app = spawnNode(
        node.path,
        ['--import', REGISTER, join(REPO_ROOT, 'test/fixtures/alerts/cache-app.mjs')],
        {
          cwd: dir,
          stdio: ['pipe', 'pipe', 'pipe'],
          env: {
            PATH: process.env.PATH ?? '',
            HOME: dir,
            OTEL_SERVICE_NAME: 'alerting-app',
            OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
            OTEL_EXPORTER_OTLP_ENDPOINT: stack.collector.otlpHttpUrl,
            OTEL_METRICS_EXPORTER: 'otlp',
            OTEL_TRACES_EXPORTER: 'none',
            OTEL_LOGS_EXPORTER: 'none',
            OTEL_METRIC_EXPORT_INTERVAL: '500',
            ECHOES_PROMETHEUS: 'off',
            ECHOES_LOG_FILE: 'off',
          },
        },
      );
      await app.waitFor(/READY/);
    }, 120_000);

    afterAll(async () => {
      app?.kill('SIGKILL');
      killAll();
      await stack?.stop();
      await am?.dispose();
      await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(
      'notifies the webhook with the rule labels and annotations, then that it resolved',
      { timeout: 240_000 },
      async () => {
        // Prometheus knows its Alertmanager before anything fires.
        await stack!.prometheus.waitFor('up', () => true);
        await pollUntil('Prometheus to discover the Alertmanager', async () => {
          const r = await fetch(`${stack!.prometheus.url}/api/v1/alertmanagers`);
          const body = (await r.json()) as {
            data: { activeAlertmanagers: Array<{ url: string }> };
          };
          return body.data.activeAlertmanagers.some((a) => a.url.includes(am!.target))
            ? true
            : undefined;
        });

        app!.child.stdin!.write('start\n');
        await app!.waitFor(/STARTED/);
        const ours = (status: string) =>
          received.filter(
            (n) => n.status === status && n.alerts.some((a) => a.labels.alertname === RULE),
          );
        const firing = await pollUntil(
          'a firing CacheHitRateLow notification',
          () => ours('firing')[0],
          {
            timeoutMs: 120_000,
            intervalMs: 250,
          },
        );

        // Routed as configured: the default receiver, grouped by service and severity.
        expect(firing.receiver).toBe('default');
        expect(firing.groupLabels).toEqual({ service_name: 'alerting-app', severity: 'warning' });
        const alert = firing.alerts.find((a) => a.labels.alertname === RULE)!;
        expect(alert.status).toBe('firing');
        expect(alert.labels).toEqual({
          alertname: RULE,
          severity: 'warning',
          service_name: 'alerting-app',
          deployment_environment_name: 'test',
          cache_name: 'lookups',
        });
        // Every lookup missed: the measured value in the annotations is 0 %.
        expect(alert.annotations).toEqual({
          summary: 'Cache lookups hit rate is 0%',
          description:
            'Cache lookups of alerting-app (test) has served 0% of lookups from cache over 15 minutes, at or below 70 % for 15 minutes (audit target: above 70 %), with at least 3 lookups per minute.',
          runbook_url: 'docs/alerts.md#cachehitratelow',
        });

        // The workload stops; the process keeps exporting flat counters, the rule stops matching.
        app!.child.stdin!.write('stop\n');
        await app!.waitFor(/STOPPED after \d+ lookups/);
        const resolved = await pollUntil('the resolved notification', () => ours('resolved')[0], {
          timeoutMs: 120_000,
          intervalMs: 250,
        });
        expect(resolved.groupLabels).toEqual(firing.groupLabels);
        const done = resolved.alerts.find((a) => a.labels.alertname === RULE)!;
        expect(done.status).toBe('resolved');
        expect(done.labels).toEqual(alert.labels);
        expect(done.annotations.runbook_url).toBe('docs/alerts.md#cachehitratelow');
      },
    );
  },
);
