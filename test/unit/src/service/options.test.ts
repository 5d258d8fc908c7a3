import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { readServiceSettings, serviceTelemetryEnv } from '../../../../src/service/options.js';
import { REPO_ROOT } from '../../../helpers/paths.js';

describe('readServiceSettings', () => {
  it('has defaults', () => {
    const { settings, warnings } = readServiceSettings({}, '/srv');
    expect(warnings).toEqual([]);
    expect(settings).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      dataDir: '/srv',
      sessionMode: 'batched',
      flushEvery: 100,
      flushIntervalMs: 1000,
      latencyScale: 1,
      failureRate: 0,
    });
  });
  it('reads every variable', () => {
    const { settings } = readServiceSettings(
      {
        ECHOES_SERVICE_PORT: '0',
        ECHOES_SERVICE_HOST: '0.0.0.0',
        ECHOES_SERVICE_DATA_DIR: '/data',
        ECHOES_SERVICE_SESSION_WRITES: 'immediate',
        ECHOES_SERVICE_FLUSH_EVERY: '5',
        ECHOES_SERVICE_FLUSH_MS: '250',
        ECHOES_SERVICE_LATENCY_SCALE: '0',
        ECHOES_SERVICE_FAILURE_RATE: '0.05',
        ECHOES_SERVICE_EMBEDDINGS_MAX_BYTES: '1000',
      },
      '/srv',
    );
    expect(settings).toEqual({
      port: 0,
      host: '0.0.0.0',
      dataDir: '/data',
      sessionMode: 'immediate',
      flushEvery: 5,
      flushIntervalMs: 250,
      latencyScale: 0,
      failureRate: 0.05,
      embeddingsMaxBytes: 1000,
    });
  });
  it('warns naming the variable, the value and the fallback, and never throws', () => {
    const { settings, warnings } = readServiceSettings(
      {
        ECHOES_SERVICE_PORT: 'eighty',
        ECHOES_SERVICE_FAILURE_RATE: '3',
        ECHOES_SERVICE_SESSION_WRITES: 'sometimes',
        ECHOES_SERVICE_FLUSH_MS: ' ',
      },
      '/srv',
    );
    expect(settings.port).toBe(8080);
    expect(settings.failureRate).toBe(0);
    expect(settings.sessionMode).toBe('batched');
    expect(settings.flushIntervalMs).toBe(1000);
    expect(warnings).toEqual([
      'ECHOES_SERVICE_SESSION_WRITES="sometimes" is not batched or immediate; using batched',
      'ECHOES_SERVICE_PORT="eighty" is not a number from 0 to 65535; using 8080',
      'ECHOES_SERVICE_FAILURE_RATE="3" is not a number from 0 to 1; using 0',
    ]);
  });
});

describe('serviceTelemetryEnv', () => {
  it('tells echoes-otel the service directories and path groups its dashboards name', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'echoes-service-env-'));
    try {
      const env = serviceTelemetryEnv('.', 'logs');
      const { config, problems } = loadConfig({}, { env, cwd });
      expect(problems).toEqual([]);
      expect(config.dirs.watched.map((w) => [w.name, w.path])).toEqual([
        ['logs', join(cwd, 'logs')],
        ['cache/embeddings', join(cwd, '.cache/embeddings')],
        ['sessions', join(cwd, 'data/memory')],
      ]);
      expect(config.fs.pathGroups.map((g) => [g.name, g.prefix])).toEqual([
        ['logs', join(cwd, 'logs')],
        ['sessions', join(cwd, 'data/memory')],
        ['cache', join(cwd, '.cache')],
        ['config', join(cwd, 'config')],
      ]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('places the data directories under ECHOES_SERVICE_DATA_DIR and keeps the log directory', () => {
    const env = serviceTelemetryEnv('/data', '/var/log/echoes');
    expect(env.ECHOES_DIRS).toBe(
      'logs=/var/log/echoes,cache/embeddings=/data/.cache/embeddings,sessions=/data/data/memory',
    );
    expect(env.ECHOES_FS_PATH_GROUPS).toBe(
      'logs=/var/log/echoes,sessions=/data/data/memory,cache=/data/.cache,config=config',
    );
  });

  it('is what the service image sets (docker/app.Dockerfile, run in /app)', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'docker/app.Dockerfile'), 'utf8');
    const value = (name: string) => new RegExp(`\\b${name}=(\\S+)`).exec(dockerfile)?.[1];
    const env = serviceTelemetryEnv('.', 'logs');
    expect(value('ECHOES_DIRS')).toBe(env.ECHOES_DIRS);
    expect(value('ECHOES_FS_PATH_GROUPS')).toBe(env.ECHOES_FS_PATH_GROUPS);
  });
});
