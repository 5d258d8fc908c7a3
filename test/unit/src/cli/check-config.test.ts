import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkConfig,
  flatten,
  isSecretKey,
  maskProblem,
  maskSecrets,
} from '../../../../src/cli/check-config.js';

const dir = mkdtempSync(join(tmpdir(), 'echoes-check-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('maskSecrets', () => {
  it('masks every header value, secret-looking keys and URL passwords, and nothing else', () => {
    const masked = maskSecrets({
      serviceName: 'api',
      traces: {
        otlp: {
          url: 'https://user:hunter2@collector:4318/v1/traces',
          headers: { 'x-scope-orgid': 'tenant-1', authorization: 'Bearer abc' },
        },
      },
      apiKey: 'k-123',
      password: '',
      redaction: { keys: ['token', 'password'] },
      port: 9464,
    });
    expect(masked).toEqual({
      serviceName: 'api',
      traces: {
        otlp: {
          url: 'https://user:****@collector:4318/v1/traces',
          headers: { 'x-scope-orgid': '****', authorization: '****' },
        },
      },
      apiKey: '****',
      password: '',
      redaction: { keys: ['token', 'password'] },
      port: 9464,
    });
  });
});

describe('maskProblem', () => {
  it('hides a rejected header value in the problem and its message', () => {
    const p = maskProblem({
      source: 'OTEL_EXPORTER_OTLP_HEADERS',
      value: 'authorization',
      fallback: '(none)',
      message: 'OTEL_EXPORTER_OTLP_HEADERS="authorization" is not key=value',
      severity: 'error',
    });
    expect(p.value).toBe('****');
    expect(p.message).toBe('OTEL_EXPORTER_OTLP_HEADERS="****" is not key=value');
    const other = {
      source: 'OTEL_METRIC_EXPORT_INTERVAL',
      value: 'often',
      fallback: '60000',
      message: 'x "often"',
      severity: 'error' as const,
    };
    expect(maskProblem(other)).toBe(other);
  });
});

describe('flatten', () => {
  it('gives one dotted key per leaf', () => {
    expect(flatten({ a: { b: 1, c: [], d: {} }, e: ['x', 'y'], f: undefined })).toEqual([
      ['a.b', '1'],
      ['a.c', '[]'],
      ['a.d', '{}'],
      ['e', 'x, y'],
      ['f', '(unset)'],
    ]);
  });
});

describe('isSecretKey', () => {
  it('names a secret by the redaction rule: equal to, or ending with, a listed key', () => {
    for (const k of [
      'authorization',
      'apiKey',
      'X-API-KEY',
      'client_secret',
      'accessToken',
      'set-cookie',
    ])
      expect(isSecretKey(k), k).toBe(true);
    for (const k of ['maxTokens', 'serviceName', 'url', 'keys', ''])
      expect(isSecretKey(k), k).toBe(false);
    expect(isSecretKey('ssn', ['ssn'])).toBe(true);
  });
});

describe('checkConfig', () => {
  it('exits 1 on an unknown config.yaml key and names it with the key it probably meant', () => {
    mkdirSync(join(dir, 'config'), { recursive: true });
    writeFileSync(join(dir, 'config', 'config.yaml'), 'logging:\n  levle: DEBUG\n');
    const r = checkConfig('text', {}, dir);
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain(
      'echoes-otel: config error: config/config.yaml: logging.levle="DEBUG" is not a logging setting (did you mean level?); the key is ignored',
    );
    expect(r.output).toMatch(/logs\.level\s+info/);
  });

  it('masks values under the configured redaction keys too', () => {
    const r = checkConfig(
      'json',
      { ECHOES_REDACT_KEYS: 'x-tenant', OTEL_RESOURCE_ATTRIBUTES: 'x-tenant=acme,team=search' },
      dir,
    );
    const body = JSON.parse(r.output) as { config: { resourceAttributes: Record<string, string> } };
    expect(body.config.resourceAttributes).toEqual({ 'x-tenant': '****', team: 'search' });
  });
});
