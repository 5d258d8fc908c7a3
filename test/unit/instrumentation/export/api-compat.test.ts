import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import type * as Api from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  apiAccepts,
  createApiCompatCheck,
  setupApiCompat,
} from '../../../../instrumentation/export/api-compat.js';
import { REPO_ROOT } from '../../../helpers/paths.js';

// Here the "bundled" API is the repository's own @opentelemetry/api (1.9.1, what these unit tests
// import), and the app copies are real packages (npm aliases otel-api-1-9 / otel-api-1-10, copied
// into app folders, as an app installs them): 1.10.0 is newer than the registered 1.9.1, so it
// refuses our provider, exactly as an app on a future 1.11 would refuse the bundle's 1.10.0.

let tmp: string;
const apps: Record<string, string> = {};

function makeApp(name: string, alias: string): string {
  const dir = join(tmp, name);
  const api = join(dir, 'node_modules/@opentelemetry/api');
  mkdirSync(api, { recursive: true });
  cpSync(join(REPO_ROOT, 'node_modules', alias), api, { recursive: true, dereference: true });
  writeFileSync(join(dir, 'app.js'), "module.exports = require('@opentelemetry/api');\n");
  return dir;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'echoes-api-compat-unit-'));
  apps.old = makeApp('old', 'otel-api-1-9');
  apps.newer = makeApp('newer', 'otel-api-1-10');
  apps.none = join(tmp, 'none');
  mkdirSync(apps.none);
  trace.setGlobalTracerProvider(new BasicTracerProvider());
});

afterAll(() => {
  trace.disable();
  rmSync(tmp, { recursive: true, force: true });
});

describe('apiAccepts', () => {
  it('follows the API rule: same major, and the global of the same or a newer minor', () => {
    expect(apiAccepts('1.9.1', '1.10.0')).toBe(true);
    expect(apiAccepts('1.3.0', '1.10.0')).toBe(true);
    expect(apiAccepts('1.10.0', '1.10.0')).toBe(true);
    expect(apiAccepts('1.10.1', '1.10.0')).toBe(true);
    expect(apiAccepts('1.10.0', '1.9.1')).toBe(false);
    expect(apiAccepts('1.11.0', '1.10.0')).toBe(false);
    expect(apiAccepts('2.0.0', '1.10.0')).toBe(false);
    expect(apiAccepts('1.11.0-rc.1', '1.10.0')).toBe(false);
    expect(apiAccepts('1.9.0', '1.11.0-rc.1')).toBe(false);
    expect(apiAccepts('0.18.0', '0.18.1')).toBe(false);
  });
});

describe('setupApiCompat', () => {
  let uninstall: (() => void) | undefined;
  afterEach(() => uninstall?.());

  it('warns once, naming both versions, when a newer app copy is required', () => {
    const warnings: string[] = [];
    const check = createApiCompatCheck((m) => warnings.push(m));
    uninstall = setupApiCompat(check, join(apps.none!, 'app.js'));
    const appApi = createRequire(join(apps.newer!, 'app.js'))('./app.js') as typeof Api;
    // The symptom is real: the 1.10.0 copy refuses the 1.9.1 global.
    expect(appApi.trace.getTracer('t').startSpan('s').isRecording()).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("the app's @opentelemetry/api 1.10.0");
    expect(warnings[0]).toContain(join(apps.newer!, 'node_modules/@opentelemetry/api'));
    expect(warnings[0]).toContain('registered through @opentelemetry/api 1.9.1');
    expect(warnings[0]).toContain('Install @opentelemetry/api@1.9.1');
    // Said once: the resolved-copy check finds the same copy again and stays quiet.
    expect(check.checkResolved(join(apps.newer!, 'app.js'))).toBe(true);
    expect(warnings).toHaveLength(1);
  });

  it('stays silent for a copy that sees our providers', () => {
    const warnings: string[] = [];
    uninstall = setupApiCompat(
      createApiCompatCheck((m) => warnings.push(m)),
      join(apps.none!, 'app.js'),
    );
    const appApi = createRequire(join(apps.old!, 'app.js'))('./app.js') as typeof Api;
    expect(appApi.trace.getTracerProvider()).toBe(trace.getTracerProvider());
    expect(warnings).toEqual([]);
  });

  it('finds a too-new copy by resolving it from the entry, without loading it', () => {
    const warnings: string[] = [];
    const check = createApiCompatCheck((m) => warnings.push(m));
    expect(check.checkResolved(join(apps.none!, 'app.js'))).toBe(false);
    expect(check.checkResolved(join(apps.old!, 'app.js'))).toBe(true);
    expect(warnings).toEqual([]);
    expect(check.checkResolved(join(apps.newer!, 'app.mjs'))).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/api 1\.10\.0 .*registered through @opentelemetry\/api 1\.9\.1/);
  });

  it('restores the CommonJS loader on uninstall', () => {
    const Module = createRequire(import.meta.url)('node:module') as {
      _extensions: Record<string, unknown>;
    };
    const before = Module._extensions['.js'];
    const undo = setupApiCompat(
      createApiCompatCheck(() => undefined),
      undefined,
    );
    expect(Module._extensions['.js']).not.toBe(before);
    expect(setupApiCompat()).toBe(undo);
    undo();
    expect(Module._extensions['.js']).toBe(before);
  });
});
