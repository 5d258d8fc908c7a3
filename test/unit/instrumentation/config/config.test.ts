import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_REDACT_KEYS,
  ENV_VARIABLES,
  INSTRUMENTATION_NAMES,
  inheritedPreloadParent,
  loadConfig,
  signalUrl,
} from '../../../../instrumentation/config/config.js';

let dir: string;
let emptyDir: string;

function withYaml(text: string): string {
  const d = mkdtempSync(join(dir, 'y-'));
  mkdirSync(join(d, 'config'));
  writeFileSync(join(d, 'config', 'config.yaml'), text);
  return d;
}

function load(env: Record<string, string> = {}, cwd = emptyDir, options = {}) {
  return loadConfig(options, { env, cwd });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'echoes-config-'));
  emptyDir = mkdtempSync(join(dir, 'empty-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig defaults', () => {
  it('gives the documented defaults with an empty environment and no files', () => {
    const { config: c, problems } = load();
    expect(problems).toEqual([]);
    expect(c.enabled).toBe(true);
    expect(c.serviceName).toBe('unknown_service:node');
    expect(c.environment).toBe('development');
    expect(c.production).toBe(false);
    expect(c.logs.level).toBe('info');
    expect(c.logs.console).toBe(true);
    expect(c.logs.file).toEqual({
      enabled: true,
      dir: join(emptyDir, 'logs'),
      name: 'app',
      maxBytes: 10 * 1024 * 1024,
      backupCount: 5,
      gzip: true,
    });
    expect(c.logs.maxMessageBytes).toBe(65536);
    expect(c.traces.exporter).toBe('otlp');
    expect(c.traces.sampler).toBe('parentbased_always_on');
    expect(c.traces.otlp).toEqual({
      url: 'http://localhost:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      timeoutMs: 10000,
      compression: 'none',
    });
    expect(c.metrics.otlp.url).toBe('http://localhost:4318/v1/metrics');
    expect(c.logs.otlp.url).toBe('http://localhost:4318/v1/logs');
    expect(c.metrics.exportIntervalMs).toBe(60000);
    expect(c.metrics.prometheus).toEqual({ enabled: true, host: '127.0.0.1', port: 9464 });
    expect(c.metrics.cardinalityLimit).toBe(2000);
    expect(c.shutdownTimeoutMs).toBe(2000);
    expect(c.inWorkers).toBe(false);
    expect(c.inChildren).toBe(false);
    expect(c.esmHook).toBe('auto');
    expect(Object.values(c.instrumentations).every((on) => on)).toBe(true);
    expect(Object.keys(c.instrumentations)).toHaveLength(INSTRUMENTATION_NAMES.length);
    expect(c.propagators).toEqual(['tracecontext', 'baggage']);
    expect(c.http.ignorePaths).toEqual([]);
    expect(c.genai.captureContent).toBe(false);
    expect(c.fs.pathGroups.map((g) => [g.name, g.prefix])).toEqual([
      ['logs', join(emptyDir, 'logs')],
      ['config', join(emptyDir, 'config')],
    ]);
    // Neutral library defaults: no directory of the reference service's layout.
    expect(c.dirs.watched.map((w) => [w.name, w.path])).toEqual([['logs', join(emptyDir, 'logs')]]);
    expect(c.dirs.intervalMs).toBe(30000);
    expect(c.redaction.keys).toEqual(DEFAULT_REDACT_KEYS);
  });

  it('takes service name and version from package.json in the working directory', () => {
    const d = mkdtempSync(join(dir, 'pkg-'));
    writeFileSync(
      join(d, 'package.json'),
      JSON.stringify({ name: '@acme/echoes-api', version: '1.2.3' }),
    );
    const { config: c } = load({}, d);
    expect(c.serviceName).toBe('@acme/echoes-api');
    expect(c.serviceVersion).toBe('1.2.3');
    expect(c.logs.file.name).toBe('acme-echoes-api');
  });

  it('logs at warn and not to the console in production', () => {
    const { config: c } = load({ NODE_ENV: 'production' });
    expect(c.production).toBe(true);
    expect(c.environment).toBe('production');
    expect(c.logs.level).toBe('warn');
    expect(c.logs.console).toBe(false);
  });

  it('treats deployment.environment.name=production as production', () => {
    const { config: c } = load({
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=production',
    });
    expect(c.environment).toBe('production');
    expect(c.production).toBe(true);
    expect(c.logs.level).toBe('warn');
  });

  it('returns a deeply frozen object', () => {
    const { config: c } = load();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.logs.file)).toBe(true);
    expect(Object.isFrozen(c.fs.pathGroups[0])).toBe(true);
  });
});

describe('loadConfig precedence', () => {
  it('prefers code options over env over config.yaml over defaults', () => {
    const cwd = withYaml(
      'logging:\n  level: DEBUG\n  file_rotation:\n    max_bytes: 2048\n    backup_count: 2\n  console_output: false\n',
    );
    const yamlOnly = load({}, cwd).config;
    expect(yamlOnly.logs.level).toBe('debug');
    expect(yamlOnly.logs.file.maxBytes).toBe(2048);
    expect(yamlOnly.logs.file.backupCount).toBe(2);
    expect(yamlOnly.logs.console).toBe(false);

    const env = {
      ECHOES_LOG_LEVEL: 'error',
      ECHOES_LOG_MAX_BYTES: '4096',
      ECHOES_LOG_BACKUP_COUNT: '3',
      ECHOES_LOG_CONSOLE: 'on',
    };
    const envOver = load(env, cwd).config;
    expect(envOver.logs.level).toBe('error');
    expect(envOver.logs.file.maxBytes).toBe(4096);
    expect(envOver.logs.file.backupCount).toBe(3);
    expect(envOver.logs.console).toBe(true);

    const code = load(env, cwd, { logs: { level: 'silly', file: { backupCount: 9 } } }).config;
    expect(code.logs.level).toBe('silly');
    expect(code.logs.file.backupCount).toBe(9);
    expect(code.logs.file.maxBytes).toBe(4096);
  });

  it('uses the code log dir for the logs path group and watched dir', () => {
    const { config: c } = load({ ECHOES_LOG_DIR: '/var/env-logs' }, emptyDir, {
      logs: { file: { dir: '/srv/code-logs' } },
    });
    expect(c.logs.file.dir).toBe('/srv/code-logs');
    expect(c.fs.pathGroups[0]).toEqual({ name: 'logs', prefix: '/srv/code-logs' });
    expect(c.dirs.watched[0]).toEqual({ name: 'logs', path: '/srv/code-logs' });
  });

  it('prefers OTEL_SERVICE_NAME over resource attributes over package.json', () => {
    const d = mkdtempSync(join(dir, 'pkg-'));
    writeFileSync(join(d, 'package.json'), JSON.stringify({ name: 'from-pkg' }));
    expect(
      load({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }, d).config.serviceName,
    ).toBe('from-attrs');
    expect(
      load(
        { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs', OTEL_SERVICE_NAME: 'from-env' },
        d,
      ).config.serviceName,
    ).toBe('from-env');
    expect(
      load({ OTEL_SERVICE_NAME: 'from-env' }, d, { serviceName: 'from-code' }).config.serviceName,
    ).toBe('from-code');
  });

  it('treats blank variables as unset', () => {
    const { config: c, problems } = load({
      ECHOES_LOG_LEVEL: '  ',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      ECHOES_LOG_MAX_BYTES: '',
    });
    expect(problems).toEqual([]);
    expect(c.logs.level).toBe('info');
    expect(c.traces.otlp.url).toBe('http://localhost:4318/v1/traces');
  });

  it('maps the audit config.yaml Python level names to winston levels', () => {
    for (const [py, level] of [
      ['CRITICAL', 'error'],
      ['ERROR', 'error'],
      ['WARNING', 'warn'],
      ['INFO', 'info'],
      ['DEBUG', 'debug'],
    ]) {
      expect(load({}, withYaml(`logging:\n  level: "${py}"\n`)).config.logs.level).toBe(level);
    }
  });

  it('reads the audit file as shipped: its text format is noted, unknown keys ignored', () => {
    const cwd = withYaml(
      'logging:\n  level: "INFO"\n  format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"\n  file_rotation:\n    max_bytes: 10485760  # 10MB\n    backup_count: 5\n  console_output: true\n  rich_formatting: true\nmonitoring:\n  interval_seconds: 60\n',
    );
    const { config: c, problems } = load({}, cwd);
    expect(c.logs.file.maxBytes).toBe(10485760);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      source: 'config/config.yaml: logging.format',
      severity: 'warning',
    });
  });
});

describe('loadConfig problems', () => {
  it('turns a malformed config.yaml into one problem and uses the defaults', () => {
    const cwd = withYaml('logging:\n  level: [unclosed\n   file_rotation: {\n');
    const { config: c, problems } = load({}, cwd);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      source: 'config/config.yaml',
      fallback: 'defaults for every logging setting',
      severity: 'error',
    });
    expect(c.logs.level).toBe('info');
  });

  it('names variable, value and fallback for a bad value and never throws', () => {
    const cases: [string, string, string][] = [
      ['ECHOES_LOG_MAX_BYTES', 'lots', '10485760'],
      ['ECHOES_LOG_BACKUP_COUNT', '-1', '5'],
      ['ECHOES_LOG_LEVEL', 'loud', 'info'],
      ['ECHOES_LOG_CONSOLE', 'maybe', 'on'],
      ['ECHOES_LOG_FILE', 'perhaps', 'on'],
      ['ECHOES_LOG_GZIP', 'x', 'on'],
      ['ECHOES_LOG_MAX_MESSAGE_BYTES', '1', '65536'],
      ['ECHOES_PROMETHEUS', '2', 'on'],
      ['ECHOES_SHUTDOWN_TIMEOUT_MS', 'soon', '2000'],
      ['ECHOES_IN_WORKERS', 'y', 'off'],
      ['ECHOES_IN_CHILDREN', 'n', 'off'],
      ['ECHOES_ESM_HOOK', 'sometimes', 'auto'],
      ['ECHOES_FS_SPANS', 'si', 'off'],
      ['ECHOES_DIR_INTERVAL_MS', '5', '30000'],
      ['ECHOES_DIR_MAX_ENTRIES', '0', '10000'],
      ['ECHOES_CARDINALITY_LIMIT', '0', '2000'],
      ['ECHOES_ENABLED', 'sure', 'on'],
      ['OTEL_SDK_DISABLED', 'nah', 'off'],
      ['OTEL_METRIC_EXPORT_INTERVAL', '1m', '60000'],
      ['OTEL_METRIC_EXPORT_TIMEOUT', 'x', '30000'],
      ['OTEL_EXPORTER_PROMETHEUS_PORT', '70000', '9464'],
      ['OTEL_EXPORTER_OTLP_TIMEOUT', '-5', '10000'],
      ['OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', 'x', '10000'],
      ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zstd', 'none'],
      ['OTEL_EXPORTER_OTLP_PROTOCOL', 'thrift', 'http/protobuf'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not a url', 'http://localhost:4318'],
      ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://x', 'http://localhost:4318/v1/traces'],
      ['OTEL_TRACES_SAMPLER', 'jaeger_remote', 'parentbased_always_on'],
      ['OTEL_TRACES_SAMPLER_ARG', '1.5', '1'],
      ['OTEL_TRACES_EXPORTER', 'zipkin', 'otlp'],
      ['OTEL_LOG_LEVEL', 'chatty', 'warn'],
      ['ECHOES_INSTRUMENTATIONS', 'jquery', 'the entry is ignored'],
      ['OTEL_NODE_ENABLED_INSTRUMENTATIONS', 'jquery', 'the entry is ignored'],
      ['OTEL_NODE_DISABLED_INSTRUMENTATIONS', 'jquery', 'the entry is ignored'],
      ['OTEL_PROPAGATORS', 'jaeger', 'the entry is skipped'],
      ['ECHOES_HTTP_IGNORE_PATHS', 'healthz', 'the entry is skipped'],
      ['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', 'maybe', 'off'],
    ];
    for (const [name, value, fallback] of cases) {
      const { problems } = load({ [name]: value });
      expect(problems, name).toHaveLength(1);
      expect(problems[0], name).toMatchObject({ source: name, value, fallback });
      expect(problems[0]?.message, name).toContain(name);
      expect(problems[0]?.message, name).toContain(JSON.stringify(value));
      expect(problems[0]?.message, name).toContain(
        fallback.startsWith('the entry is ') ? `; ${fallback}` : `; using ${fallback}`,
      );
    }
  });

  it('falls back to the config.yaml value, and says so, when the env value is bad', () => {
    const { config: c, problems } = load(
      { ECHOES_LOG_LEVEL: 'loud' },
      withYaml('logging:\n  level: WARNING\n'),
    );
    expect(c.logs.level).toBe('warn');
    expect(problems[0]?.fallback).toBe('warn');
  });

  it('reports a bad config.yaml value under its key', () => {
    const { config: c, problems } = load(
      {},
      withYaml('logging:\n  file_rotation:\n    backup_count: many\n'),
    );
    expect(c.logs.file.backupCount).toBe(5);
    expect(problems).toEqual([
      expect.objectContaining({
        source: 'config/config.yaml: logging.file_rotation.backup_count',
        value: 'many',
        fallback: '5',
      }),
    ]);
  });

  it('reports a missing explicit ECHOES_CONFIG_FILE but not a missing default file', () => {
    expect(load({ ECHOES_CONFIG_FILE: 'nope.yaml' }).problems[0]).toMatchObject({
      source: 'ECHOES_CONFIG_FILE',
      value: join(emptyDir, 'nope.yaml'),
    });
    expect(load().problems).toEqual([]);
  });

  it('reports a generic variable once although three signals read it', () => {
    expect(load({ OTEL_EXPORTER_OTLP_TIMEOUT: 'x' }).problems).toHaveLength(1);
  });
});

describe('loadConfig OTLP variables', () => {
  it('appends /v1/<signal> to the base endpoint and uses per-signal endpoints as is', () => {
    const { config: c } = load({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://loki:3100/otlp/v1/logs',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://prom:9090/api/v1/otlp',
    });
    expect(c.traces.otlp.url).toBe('http://collector:4318/v1/traces');
    expect(c.metrics.otlp.url).toBe('http://prom:9090/api/v1/otlp');
    expect(c.logs.otlp.url).toBe('http://loki:3100/otlp/v1/logs');
    expect(signalUrl('http://a:1/base', 'logs')).toBe('http://a:1/base/v1/logs');
  });

  it('merges generic and per-signal headers, percent-decoding values', () => {
    const { config: c } = load({
      OTEL_EXPORTER_OTLP_HEADERS: 'a=1,Authorization=Basic%20eA==',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=2',
    });
    expect(c.traces.otlp.headers).toEqual({ a: '2', Authorization: 'Basic eA==' });
    expect(c.logs.otlp.headers).toEqual({ a: '1', Authorization: 'Basic eA==' });
  });

  it('reads protocol, timeout and compression generically and per signal', () => {
    const { config: c, problems } = load({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
      OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '700',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'none',
    });
    expect(problems).toEqual([]);
    expect([c.traces.otlp.protocol, c.metrics.otlp.protocol, c.logs.otlp.protocol]).toEqual([
      'http/json',
      'http/protobuf',
      'http/json',
    ]);
    expect([c.traces.otlp.timeoutMs, c.metrics.otlp.timeoutMs, c.logs.otlp.timeoutMs]).toEqual([
      5000, 5000, 700,
    ]);
    expect([
      c.traces.otlp.compression,
      c.metrics.otlp.compression,
      c.logs.otlp.compression,
    ]).toEqual(['none', 'gzip', 'gzip']);
  });

  it('selects exporters per signal, with prometheus alone meaning no OTLP metrics', () => {
    const a = load({
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_LOGS_EXPORTER: 'none',
    }).config;
    expect([a.traces.exporter, a.metrics.exporter, a.logs.exporter]).toEqual([
      'console',
      'none',
      'none',
    ]);
    expect(a.metrics.prometheus.enabled).toBe(true);
    const b = load({ OTEL_METRICS_EXPORTER: 'otlp,prometheus', ECHOES_PROMETHEUS: 'off' }).config;
    expect(b.metrics.exporter).toBe('otlp');
    expect(b.metrics.prometheus.enabled).toBe(false);
    expect(load({ OTEL_METRICS_EXPORTER: 'none' }).config.metrics.prometheus.enabled).toBe(false);
  });

  it('reads sampler, intervals and the Prometheus endpoint', () => {
    const { config: c, problems } = load({
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_METRIC_EXPORT_TIMEOUT: '5000',
      OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    });
    expect(c.traces.sampler).toBe('parentbased_traceidratio');
    expect(c.traces.samplerArg).toBe(0.25);
    expect(c.metrics.exportIntervalMs).toBe(1000);
    expect(c.metrics.exportTimeoutMs).toBe(1000);
    expect(problems).toEqual([
      expect.objectContaining({
        source: 'OTEL_METRIC_EXPORT_TIMEOUT',
        severity: 'warning',
        fallback: '1000',
      }),
    ]);
    expect(c.metrics.prometheus).toEqual({ enabled: true, host: '0.0.0.0', port: 0 });
  });

  it('turns everything off with OTEL_SDK_DISABLED or ECHOES_ENABLED=false', () => {
    expect(load({ OTEL_SDK_DISABLED: 'true' }).config.enabled).toBe(false);
    expect(load({ ECHOES_ENABLED: 'false' }).config.enabled).toBe(false);
  });

  it('reads OTEL_LOG_LEVEL for diagnostics', () => {
    expect(load({ OTEL_LOG_LEVEL: 'DEBUG' }).diagLogLevel).toBe('debug');
    expect(load().diagLogLevel).toBeUndefined();
  });

  it('parses OTEL_RESOURCE_ATTRIBUTES and skips bad entries with a problem', () => {
    const { config: c, problems } = load({
      OTEL_RESOURCE_ATTRIBUTES: 'team=search,region=eu%2Dwest,broken',
    });
    expect(c.resourceAttributes).toEqual({ team: 'search', region: 'eu-west' });
    expect(problems).toEqual([
      expect.objectContaining({ source: 'OTEL_RESOURCE_ATTRIBUTES', value: 'broken' }),
    ]);
  });
});

describe('loadConfig ECHOES_ variables', () => {
  it('reads every logging variable', () => {
    const { config: c, problems } = load({
      ECHOES_LOG_DIR: '/tmp/x-logs',
      ECHOES_LOG_FILE_NAME: 'api',
      ECHOES_LOG_MAX_BYTES: '5m',
      ECHOES_LOG_BACKUP_COUNT: '0',
      ECHOES_LOG_FILE: 'off',
      ECHOES_LOG_GZIP: 'false',
      ECHOES_LOG_MAX_MESSAGE_BYTES: '1024',
      ECHOES_SHUTDOWN_TIMEOUT_MS: '500',
      ECHOES_IN_WORKERS: 'true',
      ECHOES_IN_CHILDREN: '1',
      ECHOES_ESM_HOOK: ' ON ',
      ECHOES_CARDINALITY_LIMIT: '50',
    });
    expect(problems).toEqual([]);
    expect(c.logs.file).toEqual({
      enabled: false,
      dir: '/tmp/x-logs',
      name: 'api',
      maxBytes: 5 * 1024 * 1024,
      backupCount: 0,
      gzip: false,
    });
    expect(c.logs.maxMessageBytes).toBe(1024);
    expect(c.shutdownTimeoutMs).toBe(500);
    expect(c.inWorkers).toBe(true);
    expect(c.inChildren).toBe(true);
    expect(c.esmHook).toBe('on');
    expect(c.metrics.cardinalityLimit).toBe(50);
  });

  it('selects instrumentations by list and by exclusion', () => {
    const onOf = (env: Record<string, string>): string[] =>
      Object.entries(load(env).config.instrumentations)
        .filter(([, on]) => on)
        .map(([name]) => name);
    expect(onOf({ ECHOES_INSTRUMENTATIONS: 'http,winston' })).toEqual(['http', 'winston']);
    const all = onOf({});
    expect(onOf({ ECHOES_DISABLED_INSTRUMENTATIONS: 'fs, lru-cache' })).toEqual(
      all.filter((n) => n !== 'fs' && n !== 'lruCache'),
    );
  });

  it('reads the upstream instrumentation lists, which win over the ECHOES_ aliases', () => {
    const on = (env: Record<string, string>) => load(env).config.instrumentations;
    const c = on({
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,@opentelemetry/instrumentation-pg,runtime-node',
      ECHOES_INSTRUMENTATIONS: 'fs',
    });
    expect([c.http, c.pg, c.runtime, c.fs, c.express]).toEqual([true, true, true, false, false]);
    // Both disabled lists apply; `runtime` and `fetch` are accepted spellings.
    const d = on({
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg,fetch',
      ECHOES_DISABLED_INSTRUMENTATIONS: 'runtime',
    });
    expect([d.pg, d.undici, d.runtime, d.http, d.openai]).toEqual([
      false,
      false,
      false,
      true,
      true,
    ]);
  });

  it('takes OTLP/gRPC with its own default endpoint and no signal path', () => {
    const g = load({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).config;
    expect(g.traces.otlp).toMatchObject({ protocol: 'grpc', url: 'http://localhost:4317' });
    const h = load({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:5317',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc',
    }).config;
    expect(h.logs.otlp).toMatchObject({ protocol: 'grpc', url: 'http://127.0.0.1:5317' });
    expect(h.traces.otlp).toMatchObject({
      protocol: 'http/protobuf',
      url: 'http://127.0.0.1:5317/v1/traces',
    });
  });

  it('reads OTEL_PROPAGATORS, the ignored paths and GenAI content capture', () => {
    expect(load({ OTEL_PROPAGATORS: 'b3, tracecontext,b3' }).config.propagators).toEqual([
      'b3',
      'tracecontext',
    ]);
    expect(load({ OTEL_PROPAGATORS: 'none' }).config.propagators).toEqual([]);
    expect(load({ ECHOES_HTTP_IGNORE_PATHS: '/healthz, /internal/*' }).config.http).toEqual({
      ignorePaths: ['/healthz', '/internal/*'],
    });
    expect(
      load({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }).config.genai,
    ).toEqual({ captureContent: true });
  });

  it('reads path groups, watched dirs, scan limits, fs spans and redaction keys', () => {
    const { config: c } = load({
      ECHOES_FS_PATH_GROUPS: 'db=data/db,tmp=/tmp',
      ECHOES_DIRS: 'db=data/db',
      ECHOES_DIR_INTERVAL_MS: '1000',
      ECHOES_DIR_MAX_ENTRIES: '99',
      ECHOES_FS_SPANS: 'on',
      ECHOES_REDACT_KEYS: 'X-Session,ssn',
    });
    expect(c.fs.pathGroups).toEqual([
      { name: 'db', prefix: join(emptyDir, 'data/db') },
      { name: 'tmp', prefix: '/tmp' },
    ]);
    expect(c.dirs).toEqual({
      enabled: true,
      intervalMs: 1000,
      maxEntriesPerTick: 99,
      watched: [{ name: 'db', path: join(emptyDir, 'data/db') }],
    });
    expect(c.fs.spans).toBe(true);
    expect(c.redaction.keys).toEqual([...DEFAULT_REDACT_KEYS, 'x-session', 'ssn']);
    expect(load({ ECHOES_DIRS: 'none' }).config.dirs.enabled).toBe(false);
  });

  it('recognises a child process that inherited the preload', () => {
    expect(inheritedPreloadParent({ ECHOES_PRELOAD_PARENT_PID: String(process.pid + 1) })).toBe(
      process.pid + 1,
    );
    expect(
      inheritedPreloadParent({ ECHOES_PRELOAD_PARENT_PID: String(process.pid) }),
    ).toBeUndefined();
    expect(inheritedPreloadParent({})).toBeUndefined();
  });

  it('documents every variable it reads with a default and a meaning', () => {
    const names = ENV_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const v of ENV_VARIABLES) {
      expect(v.default, v.name).not.toBe('');
      expect(v.description, v.name).not.toBe('');
    }
  });
});
