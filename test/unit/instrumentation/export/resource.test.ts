import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createResource, resourceAttributes } from '../../../../instrumentation/export/resource.js';

const config = (env: Record<string, string> = {}) =>
  loadConfig({}, { env, cwd: '/nonexistent-echoes' }).config;

describe('resource', () => {
  it('carries service, deployment, host, process and SDK attributes', () => {
    const r = createResource(
      config({
        OTEL_SERVICE_NAME: 'api',
        NODE_ENV: 'staging',
        OTEL_RESOURCE_ATTRIBUTES: 'service.version=2.0.0',
      }),
    );
    expect(r.attributes).toMatchObject({
      'service.name': 'api',
      'service.version': '2.0.0',
      'deployment.environment.name': 'staging',
      'host.name': hostname(),
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
    });
    expect(r.asyncAttributesPending).toBeFalsy();
  });

  it('keeps one service.instance.id per process', () => {
    const a = resourceAttributes(config())['service.instance.id'];
    const b = resourceAttributes(config())['service.instance.id'];
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(b).toBe(a);
  });

  it('adds OTEL_RESOURCE_ATTRIBUTES but lets explicit settings win', () => {
    const attrs = resourceAttributes(
      config({
        OTEL_RESOURCE_ATTRIBUTES: 'team=search,service.name=from-attrs',
        OTEL_SERVICE_NAME: 'from-env',
      }),
    );
    expect(attrs.team).toBe('search');
    expect(attrs['service.name']).toBe('from-env');
  });
});
