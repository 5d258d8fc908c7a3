import { describe, expect, it } from 'vitest';
import { flatten, maskProblem, maskSecrets } from '../../../../src/cli/check-config.js';

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
