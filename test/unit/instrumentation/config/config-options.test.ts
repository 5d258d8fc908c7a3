import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QUIET_SDK_ENV } from '../../../helpers/sdk-env.js';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { shutdownEchoes, startEchoes } from '../../../../instrumentation/sdk.js';

const dir = mkdtempSync(join(tmpdir(), 'echoes-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('code options', () => {
  it('cap the default metric export timeout at an interval set in code', () => {
    const { config: c, problems } = loadConfig(
      { metrics: { exportIntervalMs: 1000 } },
      { env: {}, cwd: dir },
    );
    expect(c.metrics.exportIntervalMs).toBe(1000);
    expect(c.metrics.exportTimeoutMs).toBe(1000);
    expect(problems).toEqual([]);
  });

  it('let startEchoes start with a metric interval shorter than the default timeout', async () => {
    // An OTLP metric reader is what validates interval >= timeout; the endpoint refuses at once.
    const env = {
      ...QUIET_SDK_ENV,
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:9/v1/metrics',
      ECHOES_DIRS: 'none',
      ECHOES_INSTRUMENTATIONS: 'http',
    };
    try {
      const handle = await startEchoes({ metrics: { exportIntervalMs: 1000 } }, { env, cwd: dir });
      expect(handle.config.metrics.exportTimeoutMs).toBe(1000);
    } finally {
      await shutdownEchoes();
    }
  });

  it('resolve a relative log dir against the working directory, with its path group and watched dir', () => {
    const { config: c } = loadConfig(
      { logs: { file: { dir: 'var/app-logs' } } },
      { env: {}, cwd: dir },
    );
    const abs = join(dir, 'var/app-logs');
    expect(c.logs.file.dir).toBe(abs);
    expect(c.fs.pathGroups[0]).toEqual({ name: 'logs', prefix: abs });
    expect(c.dirs.watched[0]).toEqual({ name: 'logs', path: abs });
  });
});
