import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/paths.js';
import { PROMETHEUS_FLAGS } from '../../helpers/backends.js';

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  ports?: Array<string | { host_ip?: string; published?: string | number; target?: number }>;
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  environment?: Record<string, string> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  profiles?: string[];
  command?: string[];
  configs?: Array<{ source: string; target: string }>;
  logging?: { driver?: string; options?: Record<string, string> };
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
}

const composeText = readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8');
// Compose applies YAML merge keys (`<<: *service`); so does this parse.
const compose = parseYaml(composeText, { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string; file?: string }>;
};
const services = Object.entries(compose.services);

/** A tag that names a version (not latest, not a floating major) or a digest. */
function pinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:@]+)$/.exec(image)?.[1];
  if (tag === undefined || tag === 'latest') return false;
  return /^v?\d+\.\d+\.\d+/.test(tag);
}

function env(s: Service): Record<string, string> {
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(
      s.environment.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]),
    );
  }
  return s.environment ?? {};
}

function dockerfileOf(s: Service): string | undefined {
  if (s.build === undefined) return undefined;
  const b = typeof s.build === 'string' ? { context: s.build } : s.build;
  return resolve(REPO_ROOT, b.context ?? '.', b.dockerfile ?? 'Dockerfile');
}

describe('compose.yaml', () => {
  it('runs the collector, Prometheus, Alertmanager, Loki, Tempo and Grafana, and the reference service under the app profile', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining([
        'collector',
        'prometheus',
        'alertmanager',
        'loki',
        'tempo',
        'grafana',
        'echoes-api',
      ]),
    );
    expect(compose.services['echoes-api']!.profiles).toEqual(['app']);
    for (const name of ['collector', 'prometheus', 'alertmanager', 'loki', 'tempo', 'grafana'])
      expect(compose.services[name]!.profiles, name).toBeUndefined();
  });

  it('pins every image to a version, including the bases of the images it builds', () => {
    expect(pinned('grafana/loki:latest')).toBe(false);
    expect(pinned('grafana/loki:3')).toBe(false);
    expect(pinned('grafana/loki')).toBe(false);
    for (const [name, s] of services) {
      expect(s.image, `${name} has no image name`).toBeDefined();
      expect(pinned(s.image!), `${name}: ${s.image} is not pinned`).toBe(true);
      const dockerfile = dockerfileOf(s);
      if (dockerfile === undefined) continue;
      expect(existsSync(dockerfile), `${name}: ${dockerfile} missing`).toBe(true);
      const text = readFileSync(dockerfile, 'utf8');
      const args = Object.fromEntries(
        [...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]),
      );
      for (const m of text.matchAll(/^FROM\s+(\S+)/gm)) {
        const base = m[1]!.replace(/\$\{(\w+)\}/g, (_, a: string) => args[a] ?? `\${${a}}`);
        const stage = /^[a-z][\w-]*$/.test(base) && new RegExp(`AS ${base}\\b`).test(text);
        if (stage) continue;
        // distroless images version through the name (static-debian12:nonroot); everything else by tag.
        const ok = pinned(base) || /^gcr\.io\/distroless\/[\w-]+-debian\d+:[\w-]+$/.test(base);
        expect(ok, `${name}: base image ${base} in ${dockerfile} is not pinned`).toBe(true);
      }
    }
  });

  it('gives every service a healthcheck and starts dependants only once what they need is healthy', () => {
    for (const [name, s] of services) {
      expect(s.healthcheck?.test, `${name} has no healthcheck`).toBeDefined();
      expect(s.healthcheck?.disable, name).not.toBe(true);
      if (s.depends_on === undefined) continue;
      expect(Array.isArray(s.depends_on), `${name}: depends_on without conditions`).toBe(false);
      for (const [dep, cond] of Object.entries(s.depends_on)) {
        expect(cond.condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
    expect(Object.keys(compose.services.collector!.depends_on ?? {})).toEqual(
      expect.arrayContaining(['loki', 'prometheus', 'tempo']),
    );
    expect(Object.keys(compose.services.grafana!.depends_on ?? {})).toEqual(
      expect.arrayContaining(['loki', 'prometheus', 'tempo']),
    );
  });

  it('publishes every port on 127.0.0.1 only; OTLP elsewhere only when .env opts in', () => {
    let count = 0;
    for (const [name, s] of services) {
      for (const p of s.ports ?? []) {
        count++;
        // The collector's OTLP ports alone may move off loopback, and only by ECHOES_OTLP_BIND.
        if (typeof p === 'string' && name === 'collector' && /:(4317|4318)$/.test(p))
          expect(p).toMatch(/^\$\{ECHOES_OTLP_BIND:-127\.0\.0\.1\}:(4317|4318):\1$/);
        else if (typeof p === 'string')
          expect(p, `${name}: ${p}`).toMatch(/^127\.0\.0\.1:\d+:\d+(\/(tcp|udp))?$/);
        else expect(p.host_ip, `${name}: ${JSON.stringify(p)}`).toBe('127.0.0.1');
      }
    }
    expect(count).toBeGreaterThanOrEqual(7);
    expect(readFileSync(join(REPO_ROOT, '.env.example'), 'utf8')).toMatch(/^ECHOES_OTLP_BIND=$/m);
  });

  it('limits memory and CPU of every service and rotates its json-file logs', () => {
    for (const [name, s] of services) {
      const limits = s.deploy?.resources?.limits;
      expect(limits?.memory, `${name}: no memory limit`).toMatch(/^\d+[MG]$/);
      expect(Number(limits?.cpus), `${name}: no CPU limit`).toBeGreaterThan(0);
      expect(s.logging?.driver, name).toBe('json-file');
      expect(s.logging?.options?.['max-size'], name).toMatch(/^\d+m$/);
      expect(Number(s.logging?.options?.['max-file']), name).toBeGreaterThan(0);
    }
  });

  it('applies one retention from .env to Prometheus, Loki and Tempo', () => {
    const r = '${ECHOES_RETENTION:-720h}';
    expect(compose.services.prometheus!.command).toContain(`--storage.tsdb.retention.time=${r}`);
    for (const name of ['loki', 'tempo']) {
      expect(env(compose.services[name]!).ECHOES_RETENTION, name).toBe(r);
      expect(compose.services[name]!.command, name).toContain('-config.expand-env=true');
    }
    expect(readFileSync(join(REPO_ROOT, 'loki/config.yaml'), 'utf8')).toContain(
      `retention_period: ${r}`,
    );
    const tempo = readFileSync(join(REPO_ROOT, 'tempo/config.yaml'), 'utf8');
    expect(tempo.match(/block_retention: \$\{ECHOES_RETENTION:-720h\}/g)?.length).toBe(2);
    expect(readFileSync(join(REPO_ROOT, '.env.example'), 'utf8')).toMatch(
      /^ECHOES_RETENTION=\d+h$/m,
    );
  });

  it("runs Alertmanager at the tests' version on the shipped config, its webhook URL from .env, and Prometheus sends to it", () => {
    const am = compose.services.alertmanager!;
    const backends = readFileSync(join(REPO_ROOT, 'scripts/backends.mjs'), 'utf8');
    const version = /alertmanager:\s*'(v\d+\.\d+\.\d+)'/.exec(backends)?.[1];
    expect(am.image).toBe(`prom/alertmanager:${version}`);
    expect(am.command).toContain('--config.file=/etc/alertmanager/alertmanager.yml');
    expect(am.command).toContain('--cluster.listen-address=');
    expect(am.volumes).toContain(
      './alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro',
    );
    expect(am.volumes).toContain('alertmanager-data:/alertmanager');
    const amConfig = parseYaml(
      readFileSync(join(REPO_ROOT, 'alertmanager/alertmanager.yml'), 'utf8'),
    ) as { receivers: Array<{ webhook_configs?: Array<{ url_file?: string }> }> };
    const file = amConfig.receivers[0]!.webhook_configs![0]!.url_file;
    const mount = am.configs!.find((c) => c.target === file);
    expect(mount, 'the url_file is mounted').toBeDefined();
    expect(compose.configs![mount!.source]!.content).toBe('${ALERTMANAGER_WEBHOOK_URL:- }');
    expect(readFileSync(join(REPO_ROOT, '.env.example'), 'utf8')).toMatch(
      /^ALERTMANAGER_WEBHOOK_URL=$/m,
    );
    const prom = parseYaml(readFileSync(join(REPO_ROOT, 'prometheus/prometheus.yml'), 'utf8')) as {
      alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
    };
    expect(prom.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual([
      'alertmanager:9093',
    ]);
  });

  it('takes the Grafana admin password from .env with no working default, and turns anonymous access and external snapshots off', () => {
    const g = env(compose.services.grafana!);
    expect(g.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GF_ADMIN_PASSWORD:\?[^}]+\}$/);
    expect(composeText).not.toMatch(/GF_ADMIN_PASSWORD:-/);
    expect(g.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    expect(g.GF_SNAPSHOTS_EXTERNAL_ENABLED).toBe('false');
    const example = readFileSync(join(REPO_ROOT, '.env.example'), 'utf8');
    expect(example).toMatch(/^GF_ADMIN_PASSWORD=$/m);
  });

  it("names the host for the collector's resource_detection (env detector) from .env, with a default", () => {
    const c = env(compose.services.collector!);
    expect(c.OTEL_RESOURCE_ATTRIBUTES).toBe('host.name=${ECHOES_HOST_NAME:-docker-host}');
    const example = readFileSync(join(REPO_ROOT, '.env.example'), 'utf8');
    expect(example).toMatch(/^ECHOES_HOST_NAME=$/m);
  });

  it('mounts only files and directories that exist in the repository, and declares its named volumes', () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    let binds = 0;
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : (v.source ?? '');
        if (source.startsWith('./')) {
          binds++;
          expect(existsSync(join(REPO_ROOT, source)), `${name}: ${source} does not exist`).toBe(
            true,
          );
        } else if (source.startsWith('/')) {
          // Host paths outside the repo: only the read-only host root for the hostmetrics scraper.
          expect(`${name} ${String(v)}`).toBe('collector /:/hostfs:ro');
        } else {
          expect(declared.has(source), `${name}: volume ${source} is not declared`).toBe(true);
        }
      }
    }
    expect(binds).toBeGreaterThanOrEqual(8);
  });

  it("runs Prometheus with the OTLP receiver on the same prometheus.yml and rules the tests use, at the tests' version", () => {
    const p = compose.services.prometheus! as Service & { command?: string[] };
    expect(p.command).toEqual(
      expect.arrayContaining([
        '--web.enable-otlp-receiver',
        '--config.file=/etc/prometheus/prometheus.yml',
        // the integration tests' flags (exemplar storage, remote write for Tempo) are compose's
        ...PROMETHEUS_FLAGS,
      ]),
    );
    expect(p.volumes).toEqual(
      expect.arrayContaining([
        './prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
        './prometheus/rules:/etc/prometheus/rules:ro',
      ]),
    );
    const backends = readFileSync(join(REPO_ROOT, 'scripts/backends.mjs'), 'utf8');
    const version = /prometheus:\s*'(\d+\.\d+\.\d+)'/.exec(backends)?.[1];
    expect(version, 'scripts/backends.mjs names no Prometheus version').toBeDefined();
    expect(p.image).toBe(`prom/prometheus:v${version}`);
  });

  it('builds the collector from collector/manifest.yaml with ocb', () => {
    const text = readFileSync(join(REPO_ROOT, 'collector/Dockerfile'), 'utf8');
    expect(text).toMatch(/COPY collector\/manifest\.yaml/);
    expect(text).toMatch(/builder --config manifest\.yaml/);
    expect(text).toMatch(/^FROM gcr\.io\/distroless\//m);
  });
});

interface LokiConfig {
  schema_config: { configs: Array<Record<string, string>> };
  common: { storage: { filesystem?: unknown } };
  compactor: Record<string, unknown>;
  limits_config: {
    allow_structured_metadata: boolean;
    retention_period: string;
    max_structured_metadata_size: string;
    max_structured_metadata_entries_count: number;
    max_line_size: string;
    otlp_config: {
      resource_attributes: {
        ignore_defaults: boolean;
        attributes_config: Array<{ action: string; attributes: string[] }>;
      };
    };
  };
}

interface TempoConfig {
  server: { http_listen_port: number };
  distributor: {
    receivers: { otlp: { protocols: Record<'grpc' | 'http', { endpoint: string }> } };
  };
  storage: { trace: { backend: string } };
  [key: string]: unknown;
}

describe('loki/config.yaml', () => {
  const loki = parseYaml(readFileSync(join(REPO_ROOT, 'loki/config.yaml'), 'utf8')) as LokiConfig;

  it('stores on the filesystem with the tsdb store and schema v13', () => {
    const configs = loki.schema_config.configs;
    expect(configs.at(-1)).toMatchObject({
      store: 'tsdb',
      schema: 'v13',
      object_store: 'filesystem',
    });
    expect(loki.common.storage.filesystem).toBeDefined();
  });

  it('indexes service.name and the deployment environment and keeps everything else as structured metadata', () => {
    const ra = loki.limits_config.otlp_config.resource_attributes;
    expect(ra.ignore_defaults).toBe(true);
    const indexed = ra.attributes_config
      .filter((c) => c.action === 'index_label')
      .flatMap((c) => c.attributes);
    expect(indexed.sort()).toEqual(['deployment.environment.name', 'service.name']);
    expect(loki.limits_config.allow_structured_metadata).toBe(true);
  });

  it('enforces retention with the compactor', () => {
    expect(loki.compactor).toMatchObject({
      retention_enabled: true,
      delete_request_store: 'filesystem',
    });
    expect(loki.limits_config.retention_period).toMatch(/^(\d+[hd]|\$\{ECHOES_RETENTION:-\d+h\})$/);
  });

  it('raises the limits that would reject lines carrying long stack traces', () => {
    const kb = (v: string) => Number(/^(\d+)KB$/.exec(v)?.[1] ?? NaN);
    expect(kb(loki.limits_config.max_structured_metadata_size)).toBeGreaterThan(64);
    expect(loki.limits_config.max_structured_metadata_entries_count).toBeGreaterThan(128);
    expect(kb(loki.limits_config.max_line_size)).toBeGreaterThan(256);
  });
});

describe('tempo/config.yaml', () => {
  const tempo = parseYaml(
    readFileSync(join(REPO_ROOT, 'tempo/config.yaml'), 'utf8'),
  ) as TempoConfig;

  it('receives OTLP on all interfaces (Tempo defaults to localhost) and stores locally', () => {
    expect(tempo.distributor.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(tempo.distributor.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(tempo.storage.trace.backend).toBe('local');
    expect(tempo.server.http_listen_port).toBe(3200);
  });

  it("fills the service map: the metrics generator's service graphs, remote-written with exemplars to the Prometheus compose runs", () => {
    const gen = tempo.metrics_generator as {
      storage: { path: string; remote_write: Array<{ url: string; send_exemplars?: boolean }> };
    };
    expect(gen.storage.remote_write).toEqual([
      { url: 'http://prometheus:9090/api/v1/write', send_exemplars: true },
    ]);
    expect(gen.storage.path.startsWith('/var/tempo/')).toBe(true); // on the tempo-data volume
    const overrides = tempo.overrides as {
      defaults: { metrics_generator: { processors: string[] } };
    };
    expect(overrides.defaults.metrics_generator.processors).toContain('service-graphs');
    const p = parseYaml(readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8')) as {
      services: Record<string, { command?: string[] }>;
    };
    expect(p.services.prometheus!.command).toContain('--web.enable-remote-write-receiver');
  });

  it('has no Tempo 2.x blocks that 3.x refuses', () => {
    for (const key of ['ingester', 'ingester_client', 'compactor', 'metrics_generator_client'])
      expect(tempo[key], key).toBeUndefined();
  });
});
