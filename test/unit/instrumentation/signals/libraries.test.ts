import { createRequire } from 'node:module';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import {
  createLazyLibrary,
  deliverLoad,
  packageOf,
  type Built,
  type UpstreamPart,
} from '../../../../instrumentation/signals/libraries.js';

const require = createRequire(import.meta.url);

/** A stand-in for an upstream instrumentation: records what it is handed. */
function fakeUpstream(names: string[]): Built & { loads: string[] } {
  const loads: string[] = [];
  const part: UpstreamPart = {
    getModuleDefinitions: () =>
      names.map((name) => ({ name, supportedVersions: ['*'], files: [] }) as never),
    _onRequire: (_def, exports, name) => {
      loads.push(name);
      return exports;
    },
  };
  const instrumentation = { enable() {}, disable() {} } as unknown as Instrumentation;
  return { instrumentation, parts: [part], loads };
}

const disposers: Array<() => void> = [];
afterEach(() => {
  for (const d of disposers.splice(0)) d();
});

describe('packageOf', () => {
  it('names the package of a module or of one of its files', () => {
    expect(packageOf('pg')).toBe('pg');
    expect(packageOf('pg/lib/client.js')).toBe('pg');
    expect(packageOf('@redis/client/dist/lib/client/index.js')).toBe('@redis/client');
  });
});

describe('deliverLoad', () => {
  it('hands a load only to the definitions of its package', () => {
    const f = fakeUpstream(['pg', 'pg-pool']);
    deliverLoad(f.parts, {}, 'pg/lib/client.js', '/x/node_modules/pg');
    deliverLoad(f.parts, {}, 'mysql2', '/x/node_modules/mysql2');
    expect(f.loads).toEqual(['pg/lib/client.js']);
  });
});

describe('createLazyLibrary', () => {
  it('builds its instrumentation at the first load of its library, once, and hands it that load', () => {
    const { config } = loadConfig({}, { env: {}, cwd: process.cwd() });
    const f = fakeUpstream(['pg']);
    let builds = 0;
    const lazy = createLazyLibrary('pg', config, () => {
      builds++;
      return f;
    });
    expect(lazy.getConfig().enabled).toBe(false);
    lazy.enable();
    disposers.push(() => lazy.disable());
    expect(builds).toBe(0);
    require('pg');
    expect(builds).toBe(1);
    // The first of pg's files to finish loading; the later ones are the upstream's own hooks'.
    expect(f.loads).toHaveLength(1);
    expect(f.loads[0]).toMatch(/^pg\//);
  });

  it('hands the hot-path metrics to its builder with the providers', () => {
    const { config } = loadConfig({}, { env: {}, cwd: process.cwd() });
    const fast = createFastMetrics({ cardinalityLimit: 10 });
    let handed: unknown;
    const lazy = createLazyLibrary(
      'mysql2',
      config,
      (_c, p) => {
        handed = p.fastMetrics;
        return fakeUpstream(['mysql2']);
      },
      fast,
    );
    lazy.enable();
    disposers.push(() => lazy.disable());
    require('mysql2');
    expect(handed).toBe(fast);
  });

  it('warns and leaves the library alone when its instrumentation cannot be built', () => {
    const { config } = loadConfig({}, { env: {}, cwd: process.cwd() });
    const lazy = createLazyLibrary('ioredis', config, () => {
      throw new Error('broken upstream');
    });
    lazy.enable();
    disposers.push(() => lazy.disable());
    expect(() => require('ioredis')).not.toThrow();
  });
});
