import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { DOC_GROUPS, SETTINGS } from '../../../../instrumentation/config/config-schema.js';
import type { EchoesOptions } from '../../../../instrumentation/types.js';

const dir = mkdtempSync(join(tmpdir(), 'echoes-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(options: EchoesOptions = {}, env: Record<string, string> = {}, cwd = dir) {
  return loadConfig(options, { env, cwd });
}

function withYaml(text: string): string {
  const d = mkdtempSync(join(dir, 'y-'));
  mkdirSync(join(d, 'config'));
  writeFileSync(join(d, 'config', 'config.yaml'), text);
  return d;
}

/** Dotted paths of the config's leaves; arrays and string maps count as one leaf. */
function leaves(o: object, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    const record = v !== null && typeof v === 'object' && !Array.isArray(v);
    const stringMap = record && Object.values(v as object).every((x) => typeof x === 'string');
    return record && !stringMap ? leaves(v as object, key) : [key];
  });
}

describe('the configuration schema', () => {
  it('has one row per setting and one row per variable', () => {
    const keys = SETTINGS.map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
    const names = SETTINGS.flatMap((s) =>
      (s.env ?? []).map((e) => (typeof e === 'string' ? e : e.name)),
    );
    expect(new Set(names).size).toBe(names.length);
    // Ours, OpenTelemetry's, and two standard ones: NODE_ENV, and the XDG base directory of the
    // code cache (ECHOES_CODE_CACHE_DIR's default).
    for (const n of names) expect(n, n).toMatch(/^(OTEL_|ECHOES_|NODE_ENV$|XDG_CACHE_HOME$)/);
  });

  it('keeps its rows in the order of the docs sections', () => {
    const order = DOC_GROUPS.map((g) => g.id);
    const groups = SETTINGS.map((s) => order.indexOf(s.group));
    expect(groups).toEqual([...groups].sort((a, b) => a - b));
  });

  it('has a row for every field of EchoesConfig, and no row outside it', () => {
    const rows = SETTINGS.map((s) => s.key).filter((k) => !k.startsWith('_'));
    // resourceAttributes and the OTLP headers are empty by default: string maps, one leaf each.
    expect(leaves(load().config).sort()).toEqual([...rows].sort());
  });

  it('gives every row a doc line, and a shown default where the default is computed', () => {
    for (const s of SETTINGS) {
      expect(s.doc, s.key).not.toBe('');
      expect(s.type.accepts, s.key).not.toBe('');
      if (typeof s.default === 'function') expect(s.shownDefault, s.key).toBeDefined();
    }
  });
});

describe('code options', () => {
  it('are validated by the same rows, the value below them kept', () => {
    const { config: c, problems } = load(
      { metrics: { exportIntervalMs: 0 }, logs: { level: 'loud' as never } },
      { ECHOES_LOG_LEVEL: 'debug' },
    );
    expect(c.metrics.exportIntervalMs).toBe(60000);
    expect(c.logs.level).toBe('debug');
    expect(problems).toEqual([
      expect.objectContaining({
        source: 'options.metrics.exportIntervalMs',
        value: '0',
        fallback: '60000',
        severity: 'error',
      }),
      expect.objectContaining({ source: 'options.logs.level', value: 'loud', fallback: 'debug' }),
    ]);
  });

  it('check each entry of a list as the variable does', () => {
    const { config: c, problems } = load({
      propagators: ['b3', 7 as never, 'jaeger' as never],
      http: { ignorePaths: ['/healthz', 'internal'] },
    });
    expect(c.propagators).toEqual(['b3']);
    expect(c.http.ignorePaths).toEqual(['/healthz']);
    expect(problems.map((p) => [p.source, p.value, p.fallback])).toEqual([
      ['options.propagators', '7', 'the entry is skipped'],
      ['options.propagators', 'jaeger', 'the entry is skipped'],
      ['options.http.ignorePaths', 'internal', 'the entry is skipped'],
    ]);
  });

  it('report a key that is no setting, and ignore it', () => {
    const { config: c, problems } = load({
      metrics: { exportIntervalMS: 5 } as never,
      tracing: true,
    } as EchoesOptions);
    expect(c.metrics.exportIntervalMs).toBe(60000);
    expect(problems.map((p) => [p.source, p.fallback])).toEqual([
      ['options.metrics.exportIntervalMS', 'the option is ignored'],
      ['options.tracing', 'the option is ignored'],
    ]);
  });

  it('feed the values derived from them, as the environment does', () => {
    const { config: c, problems } = load({
      serviceName: 'billing',
      production: true,
      traces: { otlp: { protocol: 'grpc' } },
      fs: { pathGroups: [{ name: 'db', prefix: 'data/db' }] },
      dirs: { watched: [] },
      metrics: { exportIntervalMs: 5000, exportTimeoutMs: 9000 },
    });
    expect(c.logs.file.name).toBe('billing');
    expect([c.logs.level, c.logs.console]).toEqual(['warn', false]);
    expect(c.traces.otlp.url).toBe('http://localhost:4317');
    expect(c.metrics.otlp.url).toBe('http://localhost:4318/v1/metrics');
    expect(c.fs.pathGroups).toEqual([{ name: 'db', prefix: join(dir, 'data/db') }]);
    expect(c.dirs.enabled).toBe(false);
    expect(c.metrics.exportTimeoutMs).toBe(5000);
    expect(problems).toEqual([
      expect.objectContaining({
        source: 'options.metrics.exportTimeoutMs',
        value: '9000',
        fallback: '5000',
        severity: 'warning',
      }),
    ]);
  });

  it('merge headers over the variables, and replace lists', () => {
    const { config: c } = load(
      { logs: { otlp: { headers: { b: '2' } } }, redaction: { keys: ['ssn'] } },
      { OTEL_EXPORTER_OTLP_HEADERS: 'a=1', ECHOES_REDACT_KEYS: 'x-session' },
    );
    expect(c.logs.otlp.headers).toEqual({ a: '1', b: '2' });
    expect(c.traces.otlp.headers).toEqual({ a: '1' });
    expect(c.redaction.keys).toEqual(['ssn']);
  });
});

describe('config.yaml keys', () => {
  it('reports an unknown logging key once, with the key it probably meant', () => {
    const { config: c, problems } = load({}, {}, withYaml('logging:\n  levle: DEBUG\n'));
    expect(c.logs.level).toBe('info');
    expect(problems).toEqual([
      {
        source: 'config/config.yaml: logging.levle',
        value: 'DEBUG',
        fallback: 'the key is ignored',
        severity: 'error',
        message:
          'config/config.yaml: logging.levle="DEBUG" is not a logging setting (did you mean level?); the key is ignored',
      },
    ]);
  });

  it('checks the keys under file_rotation too, and leaves other sections to the app', () => {
    const { problems } = load(
      {},
      {},
      withYaml('api:\n  workers: 4\nlogging:\n  file_rotation:\n    max_byte: 10\n'),
    );
    expect(problems.map((p) => p.source)).toEqual([
      'config/config.yaml: logging.file_rotation.max_byte',
    ]);
    expect(problems[0]?.message).toContain('did you mean file_rotation.max_bytes?');
  });
});
