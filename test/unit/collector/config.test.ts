/**
 * The collector manifest and config, and prometheus.yml, read as data (offline, fast). The built
 * collector's own `validate` runs in test/integration/collector.test.ts; these catch the mistakes
 * that validate accepts: a deprecated alias, a component not built in, an endpoint the tests
 * cannot override, a queue that does not survive a restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../helpers/paths.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML, shape asserted by the tests
type Obj = Record<string, any>;
const manifest = parse(readFileSync(join(REPO_ROOT, 'collector/manifest.yaml'), 'utf8')) as Obj;
const configText = readFileSync(join(REPO_ROOT, 'collector/config.yaml'), 'utf8');
const config = parse(configText) as Obj;
/** The two-tier mode's configs run on the same build (docs/scaling.md). */
const tierConfigs = ['collector/gateway/agent.yaml', 'collector/gateway/gateway.yaml'].map(
  (f) => parse(readFileSync(join(REPO_ROOT, f), 'utf8')) as Obj,
);
const prom = parse(readFileSync(join(REPO_ROOT, 'prometheus/prometheus.yml'), 'utf8')) as Obj;

/** Config type name → the Go package that provides it (from each component's metadata.yaml). */
const PROVIDER: Record<string, string> = {
  otlp: 'go.opentelemetry.io/collector/receiver/otlpreceiver',
  host_metrics: 'receiver/hostmetricsreceiver',
  memory_limiter: 'go.opentelemetry.io/collector/processor/memorylimiterprocessor',
  redaction: 'processor/redactionprocessor',
  resource_detection: 'processor/resourcedetectionprocessor',
  otlp_http: 'go.opentelemetry.io/collector/exporter/otlphttpexporter',
  debug: 'go.opentelemetry.io/collector/exporter/debugexporter',
  span_metrics: 'connector/spanmetricsconnector',
  health_check: 'extension/healthcheckextension',
  file_storage: 'extension/storage/filestorage',
  // The two-tier agent and gateway.
  load_balancing: 'exporter/loadbalancingexporter',
  tail_sampling: 'processor/tailsamplingprocessor',
  attributes: 'processor/attributesprocessor',
  service_graph: 'connector/servicegraphconnector',
};
/** Aliases the pinned release still accepts but logs as deprecated. */
const DEPRECATED = [
  'otlphttp',
  'spanmetrics',
  'hostmetrics',
  'healthcheck',
  'filestorage',
  'memorylimiter',
];

const typeOf = (id: string): string => id.split('/')[0];
const gomods = (): string[] =>
  ['receivers', 'processors', 'exporters', 'connectors', 'extensions', 'providers'].flatMap((k) =>
    (manifest[k] ?? []).map((c: Obj) => c.gomod as string),
  );

describe('collector/manifest.yaml', () => {
  it('pins one release: v0.159.0 for core and contrib (stable core modules v1.65.0)', () => {
    for (const g of gomods()) {
      const [path, version] = g.split(' ');
      if (path.startsWith('go.opentelemetry.io/collector/confmap/'))
        expect(version, g).toBe('v1.65.0');
      else if (path.startsWith('go.opentelemetry.io/collector/'))
        expect(version, g).toBe('v0.159.0');
      else if (path.startsWith('github.com/open-telemetry/opentelemetry-collector-contrib/'))
        expect(version, g).toBe('v0.159.0');
      else throw new Error(`unexpected module ${g}`);
    }
    expect(manifest.dist.version).toBe('0.159.0');
  });

  it('is built by the same ocb release in the tests, the image and compose', () => {
    const ocb = /builder: '(v[0-9.]+)'/.exec(
      readFileSync(join(REPO_ROOT, 'scripts/backends.mjs'), 'utf8'),
    )?.[1];
    expect(ocb).toBe(`v${manifest.dist.version}`);
    const dockerfile = readFileSync(join(REPO_ROOT, 'collector/Dockerfile'), 'utf8');
    expect(/^ARG OCB_VERSION=(\S+)$/m.exec(dockerfile)?.[1]).toBe(ocb);
    const compose = parse(readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8')) as Obj;
    expect(compose.services.collector.image).toBe(`echoes-otel/collector:${manifest.dist.version}`);
  });

  it('builds exactly the components the single, agent and gateway configs use (and the debug exporter)', () => {
    const used = new Set<string>();
    for (const c of [config, ...tierConfigs]) {
      for (const section of ['receivers', 'processors', 'exporters', 'connectors', 'extensions']) {
        for (const id of Object.keys(c[section] ?? {})) used.add(typeOf(id));
      }
    }
    const built = gomods().join('\n');
    for (const t of used) {
      expect(PROVIDER[t], `no provider known for "${t}"`).toBeDefined();
      expect(built, `${t} is not in the manifest`).toContain(PROVIDER[t]);
    }
    const unused = Object.entries(PROVIDER)
      .filter(([t]) => !used.has(t) && t !== 'debug')
      .map(([t]) => t);
    expect(unused, 'built but unused (cold-build minutes for nothing)').toEqual([]);
  });
});

describe('collector/config.yaml', () => {
  it('uses the type names the pinned release expects, never a deprecated alias', () => {
    for (const section of ['receivers', 'processors', 'exporters', 'connectors', 'extensions']) {
      for (const id of Object.keys(config[section] ?? {}))
        expect(DEPRECATED, `${section}.${id}`).not.toContain(typeOf(id));
    }
  });

  it('takes every endpoint and path from ${env:VAR:-compose default}', () => {
    const leaves: [string, string][] = [];
    const walk = (v: unknown, path: string): void => {
      if (typeof v === 'string') leaves.push([path, v]);
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    };
    walk(config, '');
    const places = leaves.filter(([p]) => /(endpoint|directory|root_path)$/.test(p));
    expect(places.length).toBeGreaterThanOrEqual(9);
    for (const [p, v] of places) expect(v, p).toMatch(/^\$\{env:[A-Z0-9_]+:-[^}]+\}/);
    expect(config.exporters['otlp_http/loki'].endpoint).toBe(
      '${env:OTELCOL_LOKI_ENDPOINT:-http://loki:3100/otlp}',
    );
    expect(config.exporters['otlp_http/prometheus'].endpoint).toBe(
      '${env:OTELCOL_PROMETHEUS_ENDPOINT:-http://prometheus:9090/api/v1/otlp}',
    );
    expect(config.receivers.otlp.protocols.grpc.endpoint).toMatch(/:4317\}$/);
    expect(config.receivers.otlp.protocols.http.endpoint).toMatch(/:4318\}$/);
  });

  it('gives the Loki and Tempo exporters a persistent, batching queue that retries for ever', () => {
    for (const id of ['otlp_http/loki', 'otlp_http/tempo']) {
      const e = config.exporters[id];
      expect(e.sending_queue.enabled, id).toBe(true);
      expect(config.extensions[e.sending_queue.storage], `${id} storage`).toBeDefined();
      expect(typeOf(e.sending_queue.storage)).toBe('file_storage');
      expect(e.sending_queue.batch, `${id} batches exporter-side`).toBeDefined();
      expect(e.retry_on_failure.max_elapsed_time, id).toBe(0);
    }
    expect(config.service.extensions).toContain('file_storage/queue');
  });

  it('puts memory_limiter first and redaction before any log or trace leaves', () => {
    for (const [name, p] of Object.entries<Obj>(config.service.pipelines)) {
      expect(p.processors[0], name).toBe('memory_limiter');
      if (name !== 'metrics') expect(p.processors, name).toContain('redaction');
    }
    expect(config.service.pipelines.traces.exporters).toContain('span_metrics');
    expect(config.service.pipelines.metrics.receivers).toEqual(
      expect.arrayContaining(['span_metrics', 'host_metrics']),
    );
  });

  it('enables system.filesystem.utilization (the disk > 80 % alert) and redacts sk- keys and bearer tokens', () => {
    expect(
      config.receivers.host_metrics.scrapers.filesystem.metrics['system.filesystem.utilization']
        .enabled,
    ).toBe(true);
    const patterns: RegExp[] = config.processors.redaction.blocked_values.map(
      (s: string) => new RegExp(s.replace('(?i)', ''), 'i'),
    );
    const hits = (s: string): boolean => patterns.some((r) => r.test(s));
    expect(hits('key sk-abcdefgh12345678')).toBe(true);
    expect(hits('Authorization: Bearer abc.def')).toBe(true);
    expect(hits('password=hunter2')).toBe(true);
    expect(hits('GET /users/42 took 12 ms')).toBe(false);
  });
});

describe('prometheus/prometheus.yml', () => {
  it('promotes the resource attributes dashboards and rules filter on, and accepts late samples', () => {
    expect(prom.otlp.promote_resource_attributes).toEqual(
      expect.arrayContaining([
        'service.name',
        'service.namespace',
        'service.instance.id',
        'deployment.environment.name',
      ]),
    );
    expect(prom.otlp.keep_identifying_resource_attributes).toBe(true);
    expect(prom.storage.tsdb.out_of_order_time_window).toMatch(/^\d+[mh]$/);
    expect(prom.rule_files).toContain('rules/*.yml');
  });
});
