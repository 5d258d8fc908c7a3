import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { Attributes } from '@opentelemetry/api';
import type { EchoesConfig } from '../types.js';

/**
 * The resource every signal carries. Built synchronously from what the process already knows:
 * no detectors (cloud detectors make network calls at startup, and async attributes delay every
 * first export), so startup stays cheap.
 */

/** One per process, stable for its lifetime: tells two replicas of the same service apart.
 * Made on first use, not at import: importing a module must have no effects. */
let instanceId: string | undefined;
function processInstanceId(): string {
  return (instanceId ??= randomUUID());
}

/** semconv `host.arch` values differ from Node's `process.arch` for the common cases. */
const HOST_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: 'x86',
  arm: 'arm32',
  ppc64: 'ppc64',
  s390x: 's390x',
};

export function resourceAttributes(config: EchoesConfig): Attributes {
  const attrs: Attributes = {
    // OTEL_RESOURCE_ATTRIBUTES first, so the explicit settings below win where they overlap.
    ...config.resourceAttributes,
    'service.name': config.serviceName,
    'service.instance.id': config.resourceAttributes['service.instance.id'] ?? processInstanceId(),
    'deployment.environment.name': config.environment,
    'host.name': safe(() => hostname()) ?? 'unknown',
    'host.arch': HOST_ARCH[process.arch] ?? process.arch,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'process.runtime.description': 'Node.js',
  };
  if (config.serviceVersion !== '') attrs['service.version'] = config.serviceVersion;
  return attrs;
}

export function createResource(config: EchoesConfig): Resource {
  // defaultResource() carries telemetry.sdk.{name,language,version}.
  return defaultResource().merge(resourceFromAttributes(resourceAttributes(config)));
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
