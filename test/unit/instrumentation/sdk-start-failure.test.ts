import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diag, metrics } from '@opentelemetry/api';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { QUIET_SDK_ENV } from '../../helpers/sdk-env.js';
import { shutdownEchoes, startEchoes } from '../../../instrumentation/sdk.js';

// One feature that throws while starting, one whose module fails to load, one instrumentation
// that throws while being made: each must cost only itself.
vi.mock('../../../instrumentation/signals/http.js', () => ({
  setupHttp: () => {
    throw new Error('http hook refused');
  },
}));
vi.mock('../../../instrumentation/signals/dirs.js', () => {
  throw new Error('dirs module failed to load');
});
vi.mock('../../../instrumentation/signals/lru-cache.js', () => ({
  createLruCacheInstrumentation: () => {
    throw new TypeError('lru-cache patch failed');
  },
}));

describe('startEchoes when a part fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'echoes-sdk-fail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warns once per failed part, naming it and why, and starts everything else', async () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    try {
      const env = {
        ...QUIET_SDK_ENV,
        ECHOES_DIRS: `data=${dir}`,
        ECHOES_INSTRUMENTATIONS: 'http,runtime,winston,lru-cache,cache,dirs',
      };
      const handle = await startEchoes({}, { env, cwd: dir });
      const warnings = warn.mock.calls.map((c) => String(c[0]));
      expect(warnings.filter((w) => w.includes('did not start'))).toEqual([
        'echoes-otel: the http feature did not start (http hook refused); everything else runs',
        expect.stringMatching(
          // vitest words a failed mocked import its own way
          /^echoes-otel: the dirs feature did not start \(.+\); everything else runs$/,
        ),
        'echoes-otel: the lru-cache instrumentation did not start (lru-cache patch failed); everything else runs',
      ]);
      expect(handle.started).toEqual(
        expect.arrayContaining(['logging', 'cache', 'runtime', 'winston']),
      );
      expect(handle.started).not.toContain('http');
      expect(handle.started).not.toContain('dirs');
      expect(handle.started).not.toContain('lru-cache');
      // The SDK itself is up: the global meter provider is the real one, not the API's no-op.
      const provider = metrics.getMeterProvider() as { constructor: { name: string } };
      expect(provider.constructor.name).toBe('MeterProvider');
    } finally {
      await shutdownEchoes();
      warn.mockRestore();
    }
  });
});
