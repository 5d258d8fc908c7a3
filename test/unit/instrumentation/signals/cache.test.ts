import { diag, metrics } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { captureDiagWarnings } from '../../../helpers/diag.js';
import {
  createCache,
  instrumentCache,
  resetCacheRegistry,
  setupCacheMetrics,
} from '../../../../instrumentation/signals/cache.js';
import type { SetupContext } from '../../../../instrumentation/feature.js';
import {
  createTestMetrics,
  pointsOf,
  valueOf,
  type TestMetrics,
} from '../../../fixtures/metrics/collect.js';

function ctxFor(t: TestMetrics): SetupContext {
  return {
    meterProvider: t.provider,
    meter: t.provider.getMeter('test'),
  } as unknown as SetupContext;
}

describe('createCache', () => {
  let t: TestMetrics;
  let feature: { shutdown(): unknown };
  beforeEach(() => {
    resetCacheRegistry();
    t = createTestMetrics();
    feature = setupCacheMetrics(ctxFor(t));
  });
  afterEach(async () => {
    await feature.shutdown();
    await t.shutdown();
    vi.useRealTimers();
  });

  it('counts hits and misses exactly', async () => {
    const c = createCache<string, number>({ name: 'emb', maxEntries: 10 });
    c.set('a', 1).set('b', 2);
    expect(c.get('a')).toBe(1);
    expect(c.get('b')).toBe(2);
    expect(c.get('a')).toBe(1);
    expect(c.get('zz')).toBeUndefined();
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'emb', 'cache.result': 'hit' }),
    ).toBe(3);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'emb', 'cache.result': 'miss' }),
    ).toBe(1);
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'emb' })).toBe(2);
    expect(valueOf(m, 'echoes.cache.capacity', { 'cache.name': 'emb' })).toBe(10);
  });

  it('evicts the least recently used entry beyond capacity and counts it', async () => {
    const c = createCache<string, number>({ name: 'lru', maxEntries: 2 });
    c.set('a', 1).set('b', 2);
    c.get('a'); // b is now the least recently used
    c.set('c', 3);
    expect(c.has('b')).toBe(false);
    expect(c.has('a')).toBe(true);
    expect(c.size).toBe(2);
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.evictions', {
        'cache.name': 'lru',
        'cache.eviction.reason': 'capacity',
      }),
    ).toBe(1);
    expect(
      valueOf(m, 'echoes.cache.evictions', {
        'cache.name': 'lru',
        'cache.eviction.reason': 'manual',
      }),
    ).toBe(0);
  });

  it('expires entries after ttlMs: a miss and a ttl eviction', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const c = createCache<string, string>({ name: 'sess', maxEntries: 5, ttlMs: 100 });
    c.set('k', 'v');
    vi.advanceTimersByTime(99);
    expect(c.get('k')).toBe('v');
    vi.advanceTimersByTime(1);
    expect(c.get('k')).toBeUndefined();
    expect(c.size).toBe(0);
    c.set('x', '1').set('y', '2');
    vi.advanceTimersByTime(100);
    expect(c.purgeStale()).toBe(2);
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'sess', 'cache.result': 'hit' }),
    ).toBe(1);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'sess', 'cache.result': 'miss' }),
    ).toBe(1);
    expect(
      valueOf(m, 'echoes.cache.evictions', {
        'cache.name': 'sess',
        'cache.eviction.reason': 'ttl',
      }),
    ).toBe(3);
  });

  it('counts delete and clear as manual evictions; has and peek are not requests', async () => {
    const c = createCache<number, number>({ name: 'man', maxEntries: 5 });
    c.set(1, 1).set(2, 2).set(3, 3);
    expect(c.delete(1)).toBe(true);
    expect(c.delete(1)).toBe(false);
    expect(c.peek(2)).toBe(2);
    expect(c.has(3)).toBe(true);
    c.clear();
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.evictions', {
        'cache.name': 'man',
        'cache.eviction.reason': 'manual',
      }),
    ).toBe(3);
    expect(valueOf(m, 'echoes.cache.requests', { 'cache.name': 'man' })).toBe(0);
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'man' })).toBe(0);
  });

  it('re-setting a key replaces it without an eviction', async () => {
    const c = createCache<string, number>({ name: 'rep', maxEntries: 1 });
    c.set('a', 1).set('a', 2);
    expect(c.get('a')).toBe(2);
    expect(c.stats().evictions).toEqual({ capacity: 0, ttl: 0, manual: 0 });
  });

  it('sums caches that share a name', async () => {
    const a = createCache<string, number>({ name: 'shared', maxEntries: 3 });
    const b = createCache<string, number>({ name: 'shared', maxEntries: 4 });
    a.set('x', 1);
    b.set('y', 1).set('z', 2);
    a.get('x');
    b.get('nope');
    const m = await t.collect();
    expect(valueOf(m, 'echoes.cache.capacity', { 'cache.name': 'shared' })).toBe(7);
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'shared' })).toBe(3);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'shared', 'cache.result': 'hit' }),
    ).toBe(1);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'shared', 'cache.result': 'miss' }),
    ).toBe(1);
  });

  it('behaves exactly like a reference LRU over 20 000 random operations', () => {
    const c = createCache<number, number>({ name: 'ref', maxEntries: 7 });
    const ref = new Map<number, number>(); // insertion order = recency
    let seed = 42;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    let evicted = 0;
    let manual = 0;
    for (let i = 0; i < 20_000; i++) {
      const k = rnd(12);
      const op = rnd(10);
      if (op < 5) {
        const want = ref.get(k);
        if (want !== undefined) {
          ref.delete(k);
          ref.set(k, want);
        }
        expect(c.get(k)).toBe(want);
      } else if (op < 9) {
        if (ref.has(k)) ref.delete(k);
        else if (ref.size >= 7) {
          ref.delete(ref.keys().next().value!);
          evicted++;
        }
        ref.set(k, i);
        c.set(k, i);
      } else {
        if (ref.delete(k)) manual++;
        c.delete(k);
      }
      expect(c.size).toBe(ref.size);
    }
    expect([...c.keys()]).toEqual([...ref.keys()]);
    expect(c.stats().evictions).toEqual({ capacity: evicted, ttl: 0, manual });
  });

  it('reuses slots after delete and clear', () => {
    const c = createCache<string, number>({ name: 'slots', maxEntries: 2 });
    c.set('a', 1).set('b', 2);
    c.delete('a');
    c.set('c', 3);
    expect([...c.keys()]).toEqual(['b', 'c']);
    c.clear();
    c.set('d', 4).set('e', 5).set('f', 6);
    expect([...c.keys()]).toEqual(['e', 'f']);
    expect(c.get('d')).toBeUndefined();
  });

  it('rejects a missing or non-positive capacity', () => {
    expect(() => createCache({ name: 'bad', maxEntries: 0 })).toThrow(RangeError);
    expect(() => createCache({ name: 'bad', maxEntries: Number.NaN })).toThrow(RangeError);
    expect(() => createCache({ name: 'bad', maxEntries: 1, ttlMs: -5 })).toThrow(RangeError);
  });

  it('stops reporting after the feature shuts down', async () => {
    createCache({ name: 'gone', maxEntries: 1 });
    await feature.shutdown();
    const m = await t.collect();
    expect(pointsOf(m, 'echoes.cache.entries')).toHaveLength(0);
  });
});

describe('instrumentCache', () => {
  let t: TestMetrics;
  let feature: { shutdown(): unknown };
  beforeEach(() => {
    resetCacheRegistry();
    t = createTestMetrics();
    feature = setupCacheMetrics(ctxFor(t));
  });
  afterEach(async () => {
    await feature.shutdown();
    await t.shutdown();
  });

  it('counts a Map cache and marks it unbounded (no capacity series)', async () => {
    const map = new Map<string, unknown>([
      ['a', 1],
      ['u', undefined],
    ]);
    const same = instrumentCache(map, 'sessions');
    expect(same).toBe(map);
    map.get('a');
    map.get('u'); // a stored undefined is still a hit
    map.get('missing');
    map.set('b', 2);
    map.delete('a');
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'sessions', 'cache.result': 'hit' }),
    ).toBe(2);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'sessions', 'cache.result': 'miss' }),
    ).toBe(1);
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'sessions' })).toBe(2);
    expect(
      valueOf(m, 'echoes.cache.evictions', {
        'cache.name': 'sessions',
        'cache.eviction.reason': 'manual',
      }),
    ).toBe(1);
    expect(pointsOf(m, 'echoes.cache.capacity', { 'cache.name': 'sessions' })).toHaveLength(0);
  });

  it('does not double-count a Map instrumented twice', async () => {
    const map = new Map([['a', 1]]);
    instrumentCache(map, 'twice');
    instrumentCache(map, 'twice');
    map.get('a');
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'twice', 'cache.result': 'hit' }),
    ).toBe(1);
  });

  it('counts property reads of a plain-object cache through the returned proxy', async () => {
    const obj: Record<string, unknown> = { a: 1 };
    const cache = instrumentCache(obj, 'obj');
    void cache['a'];
    void cache['b'];
    cache['b'] = 2;
    void cache['b'];
    delete cache['a'];
    JSON.stringify(cache);
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'obj', 'cache.result': 'hit' }),
    ).toBe(2 + 1); // JSON.stringify reads b
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'obj', 'cache.result': 'miss' }),
    ).toBe(1);
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'obj' })).toBe(1);
    expect(pointsOf(m, 'echoes.cache.capacity', { 'cache.name': 'obj' })).toHaveLength(0);
  });

  it('a cache whose size throws: one warning, the error counted, NaN entries instead of a stale value', async () => {
    const warnings = captureDiagWarnings();
    let broken = false;
    class Fragile extends Map<string, number> {
      override get size(): number {
        if (broken) throw new RangeError('boom');
        return super.size;
      }
    }
    const map = instrumentCache(new Fragile([['a', 1]]), 'fragile');
    expect(valueOf(await t.collect(), 'echoes.cache.entries', { 'cache.name': 'fragile' })).toBe(1);
    broken = true;
    await t.collect();
    const m = await t.collect();
    expect(valueOf(m, 'echoes.cache.entries', { 'cache.name': 'fragile' })).toBeNaN();
    expect(
      valueOf(m, 'echoes.monitor.errors', {
        'echoes.component': 'cache-metrics',
        'error.type': 'RangeError',
      }),
    ).toBe(2);
    expect(warnings.filter((w) => w.includes('fragile'))).toHaveLength(1);
    // the app still works with its cache
    expect(map.get('a')).toBe(1);
    diag.disable();
  });

  it('returns a non-object untouched', () => {
    expect(instrumentCache(null as unknown as Map<string, string>, 'x')).toBeNull();
  });
});

describe('cache metrics without the preload', () => {
  afterEach(() => {
    metrics.disable();
    vi.useRealTimers();
  });

  it('reach the global meter provider once an SDK registers it, even for caches made before', async () => {
    resetCacheRegistry();
    vi.useFakeTimers();
    const early = createCache<string, number>({ name: 'early', maxEntries: 4 }); // global provider is a no-op now
    early.set('a', 1);
    early.get('a');
    const t = createTestMetrics();
    metrics.setGlobalMeterProvider(t.provider);
    vi.advanceTimersByTime(1000); // the unref'd re-check notices the real provider
    vi.useRealTimers();
    expect(valueOf(await t.collect(), 'echoes.cache.entries', { 'cache.name': 'early' })).toBe(1);
    const late = instrumentCache(new Map([['k', 1]]), 'late');
    late.get('nope');
    const m = await t.collect();
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'early', 'cache.result': 'hit' }),
    ).toBe(1);
    expect(valueOf(m, 'echoes.cache.capacity', { 'cache.name': 'early' })).toBe(4);
    expect(
      valueOf(m, 'echoes.cache.requests', { 'cache.name': 'late', 'cache.result': 'miss' }),
    ).toBe(1);
    // the preload's setup on the same provider reuses that registration: nothing counted twice
    const f = setupCacheMetrics({
      meterProvider: t.provider,
      meter: t.provider.getMeter('echoes-otel'),
    } as unknown as SetupContext);
    const again = await t.collect();
    expect(
      pointsOf(again, 'echoes.cache.requests', { 'cache.name': 'early', 'cache.result': 'hit' }),
    ).toHaveLength(1);
    await f.shutdown();
    await t.shutdown();
  });
});
