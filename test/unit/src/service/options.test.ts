import { describe, expect, it } from 'vitest';
import { readServiceSettings } from '../../../../src/service/options.js';

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
