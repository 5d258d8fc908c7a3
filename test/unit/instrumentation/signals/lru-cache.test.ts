import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LRUCache as LRU11 } from 'lru-cache';
import { LRUCache as LRU10 } from 'lru-cache-10';
import {
  resetCacheRegistry,
  setupCacheMetrics,
} from '../../../../instrumentation/signals/cache.js';
import type { Feature, SetupContext } from '../../../../instrumentation/feature.js';
import {
  callSiteName,
  createLruCacheInstrumentation,
  instrumentLruCacheClass,
  patchLruCacheExports,
  unpatchLruCacheExports,
} from '../../../../instrumentation/signals/lru-cache.js';
import type { EchoesConfig } from '../../../../instrumentation/types.js';
import {
  createTestMetrics,
  pointsOf,
  valueOf,
  type TestMetrics,
} from '../../../fixtures/metrics/collect.js';

const require = createRequire(import.meta.url);
// lru-cache 7: module.exports is the class itself (CJS), `export default` (ESM)
const LRU7 = require('lru-cache-7') as new (o: object) => {
  get(k: unknown): unknown;
  set(k: unknown, v: unknown): unknown;
  delete(k: unknown): boolean;
  size: number;
};

type AnyLru = new (o: Record<string, unknown>) => {
  get(k: unknown): unknown;
  set(k: unknown, v: unknown): unknown;
  delete(k: unknown): boolean;
  size: number;
};

describe('lru-cache instrumentation', () => {
  let t: TestMetrics;
  let feature: Feature;
  beforeEach(() => {
    resetCacheRegistry();
    t = createTestMetrics();
    feature = setupCacheMetrics({
      meterProvider: t.provider,
      meter: t.provider.getMeter('t'),
    } as unknown as SetupContext);
  });
  afterEach(async () => {
    await feature.shutdown();
    await t.shutdown();
  });

  const versions: [string, AnyLru][] = [
    ['11', LRU11 as unknown as AnyLru],
    ['10', LRU10 as unknown as AnyLru],
    ['7', LRU7 as unknown as AnyLru],
  ];

  for (const [version, Base] of versions) {
    describe(`version ${version}`, () => {
      it('counts hits, misses, capacity evictions, manual deletes, entries and capacity exactly', async () => {
        const Cls = instrumentLruCacheClass(Base);
        const c = new Cls({ max: 2, name: `v${version}` });
        expect(c).toBeInstanceOf(Base);
        c.set('a', 1);
        c.set('b', 2);
        expect(c.get('a')).toBe(1);
        expect(c.get('zz')).toBeUndefined();
        c.set('c', 3); // evicts b (a was used more recently)
        expect(c.get('b')).toBeUndefined();
        c.delete('a');
        const m = await t.collect();
        const name = { 'cache.name': `v${version}` };
        expect(valueOf(m, 'echoes.cache.requests', { ...name, 'cache.result': 'hit' })).toBe(1);
        expect(valueOf(m, 'echoes.cache.requests', { ...name, 'cache.result': 'miss' })).toBe(2);
        expect(
          valueOf(m, 'echoes.cache.evictions', { ...name, 'cache.eviction.reason': 'capacity' }),
        ).toBe(1);
        expect(
          valueOf(m, 'echoes.cache.evictions', { ...name, 'cache.eviction.reason': 'manual' }),
        ).toBe(1);
        expect(valueOf(m, 'echoes.cache.entries', name)).toBe(1);
        expect(valueOf(m, 'echoes.cache.capacity', name)).toBe(2);
      });

      it("keeps the app's own dispose, and names an unnamed cache by its call site", async () => {
        const Cls = instrumentLruCacheClass(Base);
        const disposed: unknown[] = [];
        const c = new Cls({ max: 1, dispose: (v: unknown, k: unknown) => disposed.push([k, v]) });
        c.set('a', 1);
        c.set('b', 2);
        expect(disposed).toEqual([['a', 1]]);
        const m = await t.collect();
        const names = pointsOf(m, 'echoes.cache.entries').map((p) => p.attributes['cache.name']);
        expect(names).toHaveLength(1);
        expect(names[0]).toMatch(/^test\/unit\/instrumentation\/signals\/lru-cache\.test\.ts:\d+$/);
      });

      it('counts fetch() with a fetchMethod: a cached value is a hit, a fetched one a miss', async () => {
        const Cls = instrumentLruCacheClass(Base) as unknown as new (o: object) => {
          fetch(k: string, o?: object): Promise<unknown>;
        };
        const c = new Cls({
          max: 5,
          name: `fetch${version}`,
          fetchMethod: async (k: string) => `v:${k}`,
        });
        expect(await c.fetch('a')).toBe('v:a');
        expect(await c.fetch('a')).toBe('v:a');
        const status: { fetch?: string } = {};
        expect(await c.fetch('a', { status })).toBe('v:a');
        expect(status.fetch).toBe('hit'); // the app's own status object still filled
        const m = await t.collect();
        expect(
          valueOf(m, 'echoes.cache.requests', {
            'cache.name': `fetch${version}`,
            'cache.result': 'hit',
          }),
        ).toBe(2);
        expect(
          valueOf(m, 'echoes.cache.requests', {
            'cache.name': `fetch${version}`,
            'cache.result': 'miss',
          }),
        ).toBe(1);
      });

      it('memoises one subclass per class and leaves a subclass alone', () => {
        const a = instrumentLruCacheClass(Base);
        expect(instrumentLruCacheClass(Base)).toBe(a);
        expect(instrumentLruCacheClass(a)).toBe(a);
      });
    });
  }

  it('counts ttl expiry (lru-cache 10+) as a ttl eviction and a miss', async () => {
    const Cls = instrumentLruCacheClass(LRU11 as unknown as AnyLru);
    let now = 1000;
    const c = new Cls({
      max: 10,
      ttl: 50,
      name: 'ttl',
      perf: { now: () => now },
      ttlAutopurge: false,
    });
    c.set('k', 1);
    now += 51;
    expect(c.get('k')).toBeUndefined();
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.evictions', { 'cache.name': 'ttl', 'cache.eviction.reason': 'ttl' }),
    ).toBe(1);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'ttl', 'cache.result': 'miss' }),
    ).toBe(1);
  });

  it('reports no capacity series for a cache bounded only by maxSize or ttl', async () => {
    const Cls = instrumentLruCacheClass(LRU11 as unknown as AnyLru);
    const c = new Cls({ maxSize: 100, sizeCalculation: () => 1, name: 'sized' });
    c.set('a', 1);
    const m = await t.collect();
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'sized' })).toBe(1);
    expect(pointsOf(m, 'echoes.cache.capacity', { 'cache.name': 'sized' })).toHaveLength(0);
  });

  it('a throwing app dispose still reaches the app exactly as without instrumentation', () => {
    const Cls = instrumentLruCacheClass(LRU11 as unknown as AnyLru);
    const c = new Cls({
      max: 1,
      name: 'boom',
      dispose: () => {
        throw new Error('user dispose');
      },
    });
    c.set('a', 1);
    const bare = new (LRU11 as unknown as AnyLru)({
      max: 1,
      dispose: () => {
        throw new Error('user dispose');
      },
    });
    bare.set('a', 1);
    expect(() => bare.set('b', 2)).toThrow('user dispose');
    expect(() => c.set('b', 2)).toThrow('user dispose');
  });

  it('patches and unpatches module exports of each shape', () => {
    const cjs7 = patchLruCacheExports(LRU7);
    expect(cjs7).not.toBe(LRU7);
    expect(unpatchLruCacheExports(cjs7)).toBe(LRU7);
    const ns = { LRUCache: LRU10, default: LRU10 } as Record<string, unknown>;
    patchLruCacheExports(ns);
    expect(ns['LRUCache']).not.toBe(LRU10);
    expect(ns['default']).toBe(ns['LRUCache']);
    unpatchLruCacheExports(ns);
    expect(ns['LRUCache']).toBe(LRU10);
    expect(patchLruCacheExports(undefined)).toBeUndefined();
  });

  it('patches require("lru-cache") through the module hook while enabled', async () => {
    const inst = createLruCacheInstrumentation({
      instrumentations: { lruCache: true },
    } as unknown as EchoesConfig);
    try {
      const mod = require('lru-cache') as { LRUCache: AnyLru };
      const c = new mod.LRUCache({ max: 3, name: 'hooked' });
      c.set('x', 1);
      c.get('x');
      c.get('y');
    } finally {
      inst.disable();
    }
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'hooked', 'cache.result': 'hit' }),
    ).toBe(1);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'hooked', 'cache.result': 'miss' }),
    ).toBe(1);
    expect(valueOf(m, 'echoes.cache.capacity', { 'cache.name': 'hooked' })).toBe(3);
  });

  it('derives a relative file:line name from a stack, skipping lru-cache and Node frames', () => {
    const stack = [
      'Error',
      '    at new InstrumentedLRUCache (/srv/app/node_modules/echoes-otel/dist/instrumentation/signals/lru-cache.js:70:20)',
      '    at Object.<anonymous> (/srv/app/node_modules/lru-cache/dist/commonjs/index.js:3:1)',
      '    at file:///srv/app/src/caches.mjs:12:15',
      '    at ModuleJob.run (node:internal/modules/esm/module_job:195:25)',
    ].join('\n');
    expect(callSiteName(stack, '/srv/app')).toBe('src/caches.mjs:12');
    expect(callSiteName('Error\n    at node:internal/x:1:1', '/srv/app')).toBe('lru-cache');
  });
});
