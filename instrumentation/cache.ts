import { diag, metrics } from '@opentelemetry/api';
import type { BatchObservableCallback, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { catalogEntry, METRIC } from './catalog.js';
import type { Feature, SetupContext } from './feature.js';

/**
 * Cache metrics. Every cache (ours, instrumented lru-cache instances, instrumented Maps) owns a
 * stats record with plain number counters: the hot path is one `++`, no attribute hashing. The
 * observable instruments registered by `setupCacheMetrics` read the registry at collect time.
 *
 * Caches are held weakly: a cache the app drops is garbage-collected, its counters stay (they are
 * monotonic) and its entries stop counting. Caches with the same name share one record.
 */

export interface CacheOptions {
  /** Low-cardinality `cache.name`, e.g. `embeddings`, `sessions`. */
  name: string;
  /** Capacity; the least recently used entry is evicted beyond it. */
  maxEntries: number;
  /** Entries older than this (since set) are treated as absent and removed. */
  ttlMs?: number;
}

export interface BoundedCache<K, V> {
  readonly name: string;
  readonly maxEntries: number;
  readonly ttlMs: number | undefined;
  /** Entries currently stored (expired ones count until touched or purged). */
  readonly size: number;
  /** Counts a hit or a miss; an expired entry is a miss and a ttl eviction. */
  get(key: K): V | undefined;
  /** Does not count as a request and does not refresh recency. */
  has(key: K): boolean;
  /** Does not count as a request and does not refresh recency. */
  peek(key: K): V | undefined;
  set(key: K, value: V): this;
  /** Counts a manual eviction when the key was present. */
  delete(key: K): boolean;
  /** Counts every removed entry as a manual eviction. */
  clear(): void;
  /** Removes expired entries (ttl evictions); returns how many. */
  purgeStale(): number;
  keys(): IterableIterator<K>;
  stats(): CacheStatsSnapshot;
}

export interface CacheStatsSnapshot {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: { readonly capacity: number; readonly ttl: number; readonly manual: number };
}

/** Where each cache's counters live; exported for lru-cache.ts, not part of the public API. */
export interface CacheStats {
  readonly name: string;
  hits: number;
  misses: number;
  evictCapacity: number;
  evictTtl: number;
  evictManual: number;
  /** Live caches under this name, held weakly. */
  readonly members: Set<WeakRef<CacheMember>>;
}

export interface CacheMember {
  /** Entries now; must not throw (callers guard it anyway). */
  entryCount(): number;
  /** Capacity in entries, or undefined for an unbounded cache (no capacity series). */
  capacity(): number | undefined;
}

const registry = new Map<string, CacheStats>();
const members = new WeakMap<object, CacheMember>();
const finalizer = new FinalizationRegistry<{ stats: CacheStats; ref: WeakRef<CacheMember> }>(
  ({ stats, ref }) => stats.members.delete(ref),
);

/** Registers a cache under `name` (shared stats when the name repeats). */
export function registerCache(name: string, member: CacheMember): CacheStats {
  let stats = registry.get(name);
  if (stats === undefined) {
    stats = {
      name,
      hits: 0,
      misses: 0,
      evictCapacity: 0,
      evictTtl: 0,
      evictManual: 0,
      members: new Set(),
    };
    registry.set(name, stats);
  }
  const ref = new WeakRef(member);
  stats.members.add(ref);
  finalizer.register(member, { stats, ref });
  ensureGlobalObservers();
  return stats;
}

/** For tests: forget every registered cache. */
export function resetCacheRegistry(): void {
  registry.clear();
}

const NONE = -1;

/**
 * Exact LRU with optional TTL, laid out like lru-cache: a key → slot Map plus a doubly linked list
 * of slots in typed arrays, so a hit moves its slot to the tail with a few array writes instead of
 * a Map delete + set (measured: 71 ns → see bench/results/cache.md). The clock is only read when a
 * ttl is set.
 */
class LruTtlCache<K, V> implements BoundedCache<K, V>, CacheMember {
  readonly name: string;
  readonly maxEntries: number;
  readonly ttlMs: number | undefined;
  readonly #index = new Map<K, number>();
  readonly #keys: (K | undefined)[];
  readonly #values: (V | undefined)[];
  readonly #expires: Float64Array | undefined;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  /** Least recently used slot. */
  #head = NONE;
  /** Most recently used slot. */
  #tail = NONE;
  /** Slots never used yet: 0..#fresh-1 are or were in use. */
  #fresh = 0;
  readonly #free: number[] = [];
  readonly #stats: CacheStats;

  constructor(opts: CacheOptions) {
    this.name = String(opts.name || 'unnamed');
    const max = Math.floor(Number(opts.maxEntries));
    if (!Number.isFinite(max) || max < 1 || max > 2 ** 30) {
      throw new RangeError(
        `createCache(${this.name}): maxEntries must be a positive integer, got ${String(opts.maxEntries)}`,
      );
    }
    this.maxEntries = max;
    const ttl = opts.ttlMs === undefined ? undefined : Number(opts.ttlMs);
    if (ttl !== undefined && !(ttl > 0)) {
      throw new RangeError(
        `createCache(${this.name}): ttlMs must be a positive number, got ${String(opts.ttlMs)}`,
      );
    }
    this.ttlMs = ttl;
    // Typed arrays are allocated up front, sized to capacity (8 bytes per slot, 16 with ttl).
    this.#keys = [];
    this.#values = [];
    this.#next = new Int32Array(max);
    this.#prev = new Int32Array(max);
    this.#expires = ttl === undefined ? undefined : new Float64Array(max);
    this.#stats = registerCache(this.name, this);
  }

  get size(): number {
    return this.#index.size;
  }

  entryCount(): number {
    return this.#index.size;
  }

  capacity(): number {
    return this.maxEntries;
  }

  #expired(slot: number, now: number): boolean {
    const ex = this.#expires;
    return ex !== undefined && ex[slot]! <= now;
  }

  /** `#expired` at this instant; the clock is read only when entries have a ttl. */
  #expiredNow(slot: number): boolean {
    const ex = this.#expires;
    return ex !== undefined && ex[slot]! <= Date.now();
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot]!;
    const n = this.#next[slot]!;
    if (p === NONE) this.#head = n;
    else this.#next[p] = n;
    if (n === NONE) this.#tail = p;
    else this.#prev[n] = p;
  }

  #append(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  #remove(slot: number): void {
    this.#unlink(slot);
    this.#index.delete(this.#keys[slot] as K);
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    this.#free.push(slot);
  }

  get(key: K): V | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    if (this.#expiredNow(slot)) {
      this.#remove(slot);
      this.#stats.evictTtl++;
      this.#stats.misses++;
      return undefined;
    }
    if (slot !== this.#tail) {
      this.#unlink(slot);
      this.#append(slot);
    }
    this.#stats.hits++;
    return this.#values[slot];
  }

  has(key: K): boolean {
    const slot = this.#index.get(key);
    return slot !== undefined && !this.#expiredNow(slot);
  }

  peek(key: K): V | undefined {
    const slot = this.#index.get(key);
    if (slot === undefined || this.#expiredNow(slot)) return undefined;
    return this.#values[slot];
  }

  set(key: K, value: V): this {
    const expires = this.#expires;
    let slot = this.#index.get(key);
    if (slot !== undefined) {
      this.#values[slot] = value;
      if (expires !== undefined) expires[slot] = Date.now() + this.ttlMs!;
      if (slot !== this.#tail) {
        this.#unlink(slot);
        this.#append(slot);
      }
      return this;
    }
    if (this.#index.size >= this.maxEntries) {
      const oldest = this.#head;
      const ttlExpired = this.#expiredNow(oldest);
      this.#remove(oldest);
      if (ttlExpired) this.#stats.evictTtl++;
      else this.#stats.evictCapacity++;
    }
    slot = this.#free.length > 0 ? this.#free.pop()! : this.#fresh++;
    this.#keys[slot] = key;
    this.#values[slot] = value;
    if (expires !== undefined) expires[slot] = Date.now() + this.ttlMs!;
    this.#index.set(key, slot);
    this.#append(slot);
    return this;
  }

  delete(key: K): boolean {
    const slot = this.#index.get(key);
    if (slot === undefined) return false;
    const ttlExpired = this.#expiredNow(slot);
    this.#remove(slot);
    if (ttlExpired) this.#stats.evictTtl++;
    else this.#stats.evictManual++;
    return true;
  }

  clear(): void {
    const now = this.#expires === undefined ? 0 : Date.now();
    for (const slot of this.#index.values()) {
      if (this.#expired(slot, now)) this.#stats.evictTtl++;
      else this.#stats.evictManual++;
    }
    this.#index.clear();
    this.#keys.length = 0;
    this.#values.length = 0;
    this.#free.length = 0;
    this.#fresh = 0;
    this.#head = NONE;
    this.#tail = NONE;
  }

  purgeStale(): number {
    if (this.#expires === undefined) return 0;
    const now = Date.now();
    let n = 0;
    for (let slot = this.#head; slot !== NONE;) {
      const next = this.#next[slot]!;
      if (this.#expired(slot, now)) {
        this.#remove(slot);
        n++;
      }
      slot = next;
    }
    this.#stats.evictTtl += n;
    return n;
  }

  /** Keys from least to most recently used. */
  *keys(): IterableIterator<K> {
    for (let slot = this.#head; slot !== NONE; slot = this.#next[slot]!)
      yield this.#keys[slot] as K;
  }

  stats(): CacheStatsSnapshot {
    return snapshot(this.#stats);
  }
}

function snapshot(s: CacheStats): CacheStatsSnapshot {
  return {
    hits: s.hits,
    misses: s.misses,
    evictions: { capacity: s.evictCapacity, ttl: s.evictTtl, manual: s.evictManual },
  };
}

/** A bounded LRU cache with optional TTL whose hits, misses, evictions, entries and capacity are metrics. */
export function createCache<K, V>(opts: CacheOptions): BoundedCache<K, V> {
  return new LruTtlCache<K, V>(opts);
}

/**
 * Counts hits and misses of an existing Map or plain-object cache under `name`, and reports its
 * entries. It is marked unbounded (no capacity series), which is what the audit's alert looks for.
 *
 * A Map is patched in place (`get` counts a hit when the key is present); an object is wrapped in a
 * Proxy whose property reads count (use the returned object). Never throws: on failure the cache is
 * returned untouched with one warning.
 */
export function instrumentCache<T extends Map<unknown, unknown> | Record<string, unknown>>(
  cache: T,
  name: string,
): T {
  try {
    if (cache instanceof Map) return instrumentMap(cache, name) as T;
    if (cache !== null && typeof cache === 'object') return instrumentObject(cache, name) as T;
  } catch (err) {
    warnOnce(
      'instrumentCache',
      `instrumentCache(${name}) failed (${String(err)}); the cache is left uninstrumented`,
    );
  }
  return cache;
}

const instrumentedMaps = new WeakSet<object>();

function instrumentMap<M extends Map<unknown, unknown>>(map: M, name: string): M {
  if (instrumentedMaps.has(map)) return map;
  const member: CacheMember = { entryCount: () => map.size, capacity: () => undefined };
  // The member must live as long as the map: attach it via a WeakMap keyed by the map.
  members.set(map, member);
  const stats = registerCache(name, member);
  const origGet = map.get;
  const origDelete = map.delete;
  const origClear = map.clear;
  const origHas = map.has;
  Object.defineProperties(map, {
    get: {
      configurable: true,
      writable: true,
      value: function get(this: M, key: unknown) {
        const v = origGet.call(this, key);
        // undefined can be a stored value; `has` settles it only then, keeping the common path one lookup.
        if (v !== undefined || origHas.call(this, key)) stats.hits++;
        else stats.misses++;
        return v;
      },
    },
    delete: {
      configurable: true,
      writable: true,
      value: function del(this: M, key: unknown) {
        const removed = origDelete.call(this, key);
        if (removed) stats.evictManual++;
        return removed;
      },
    },
    clear: {
      configurable: true,
      writable: true,
      value: function clear(this: M) {
        stats.evictManual += this.size;
        origClear.call(this);
      },
    },
  });
  instrumentedMaps.add(map);
  return map;
}

// Probes made by JSON.stringify, await and inspection are not cache lookups.
const IGNORED_PROPS = new Set([
  'toJSON',
  'then',
  'inspect',
  'asymmetricMatch',
  '$$typeof',
  'nodeType',
]);

function instrumentObject<O extends Record<string, unknown>>(obj: O, name: string): O {
  const member: CacheMember = {
    entryCount: () => Object.keys(obj).length,
    capacity: () => undefined,
  };
  const proxy = new Proxy(obj, {
    get(target, prop, receiver) {
      if (typeof prop === 'string') {
        if (Object.prototype.hasOwnProperty.call(target, prop)) stats.hits++;
        else if (!(prop in Object.prototype) && !IGNORED_PROPS.has(prop)) stats.misses++;
      }
      return Reflect.get(target, prop, receiver);
    },
    deleteProperty(target, prop) {
      const had = Object.prototype.hasOwnProperty.call(target, prop);
      const ok = Reflect.deleteProperty(target, prop);
      if (had && ok) stats.evictManual++;
      return ok;
    },
  });
  members.set(proxy, member);
  const stats = registerCache(name, member);
  return proxy;
}

// ---------------------------------------------------------------------------------------------
// Observable instruments

const EVICTION_REASONS = ['capacity', 'ttl', 'manual'] as const;

function describe(name: string): string {
  return catalogEntry(name)?.description ?? name;
}

interface Registration {
  readonly meter: Meter;
  readonly observables: Observable[];
  readonly callback: BatchObservableCallback;
}

/** Where a cache whose size could not be read is counted (`echoes.monitor.errors`). */
export const CACHE_COMPONENT = 'cache-metrics';

function registerObservers(meter: Meter): Registration {
  const requests = meter.createObservableCounter(METRIC.cacheRequests, {
    unit: '{request}',
    description: describe(METRIC.cacheRequests),
  });
  const evictions = meter.createObservableCounter(METRIC.cacheEvictions, {
    unit: '{entry}',
    description: describe(METRIC.cacheEvictions),
  });
  const entries = meter.createObservableGauge(METRIC.cacheEntries, {
    unit: '{entry}',
    description: describe(METRIC.cacheEntries),
  });
  const capacity = meter.createObservableGauge(METRIC.cacheCapacity, {
    unit: '{entry}',
    description: describe(METRIC.cacheCapacity),
  });
  const errors = meter.createCounter(METRIC.monitorErrors, {
    unit: '{error}',
    description: describe(METRIC.monitorErrors),
  });
  const onMemberError = (name: string, err: unknown): void => {
    const code = (err as { code?: unknown } | null)?.code;
    const type = typeof code === 'string' ? code : String((err as Error | null)?.name ?? 'Error');
    try {
      errors.add(1, { 'echoes.component': CACHE_COMPONENT, 'error.type': type });
    } catch {
      // never reaches the app
    }
    warnOnce(
      `member:${name}`,
      `the size of cache "${name}" could not be read (${String(err)}); its entries and capacity are not reported while that lasts, counted in ${METRIC.monitorErrors}`,
    );
  };
  const seen = new Set<string>();
  const callback: BatchObservableCallback = (result) => {
    try {
      observeAll(result, requests, evictions, entries, capacity, onMemberError, seen);
    } catch (err) {
      warnOnce(
        'observe',
        `cache metrics collection failed (${String(err)}); this collection is skipped`,
      );
    }
  };
  const observables = [requests, evictions, entries, capacity];
  meter.addBatchObservableCallback(callback, observables);
  return { meter, observables, callback };
}

function observeAll(
  result: { observe(o: Observable, v: number, a?: Record<string, string>): void },
  requests: Observable,
  evictions: Observable,
  entries: Observable,
  capacity: Observable,
  onMemberError: (name: string, err: unknown) => void,
  seen: Set<string>,
): void {
  for (const s of registry.values()) {
    const attrs = { 'cache.name': s.name };
    result.observe(requests, s.hits, { 'cache.name': s.name, 'cache.result': 'hit' });
    result.observe(requests, s.misses, { 'cache.name': s.name, 'cache.result': 'miss' });
    const counts = [s.evictCapacity, s.evictTtl, s.evictManual];
    for (let i = 0; i < EVICTION_REASONS.length; i++) {
      result.observe(evictions, counts[i]!, {
        'cache.name': s.name,
        'cache.eviction.reason': EVICTION_REASONS[i]!,
      });
    }
    let live = 0;
    let n = 0;
    let cap = 0;
    let bounded = true;
    let failed = false;
    for (const ref of s.members) {
      const m = ref.deref();
      if (m === undefined) {
        s.members.delete(ref);
        continue;
      }
      live++;
      try {
        const count = m.entryCount();
        if (typeof count !== 'number' || !(count >= 0))
          throw new TypeError(`size is ${String(count)}`);
        n += count;
        const c = m.capacity();
        if (c === undefined) bounded = false;
        else cap += c;
      } catch (err) {
        failed = true;
        onMemberError(s.name, err);
      }
    }
    if (live === 0) continue;
    if (failed) {
      // A sum missing a member would be a false figure. The SDK keeps re-exporting a gauge's last
      // value once seen, so after a first report "unknown" has to be NaN, not silence.
      if (seen.has(s.name)) {
        result.observe(entries, Number.NaN, attrs);
        if (bounded) result.observe(capacity, Number.NaN, attrs);
      }
      continue;
    }
    seen.add(s.name);
    result.observe(entries, n, attrs);
    // A name with any unbounded member has no capacity series: that is the signal for the alert.
    if (bounded) result.observe(capacity, cap, attrs);
  }
}

const registrations = new Map<MeterProvider, Registration>();
let pollTimer: NodeJS.Timeout | undefined;

/**
 * Without our preload (createCache used in a plain app with its own SDK), the metrics go to the
 * global meter provider. A meter taken before the SDK registers is a no-op forever, so the global
 * provider is re-checked on each new cache and, until a real one appears, on an unref'd timer.
 */
function ensureGlobalObservers(): void {
  if (registrations.size > 0) return;
  try {
    const provider = metrics.getMeterProvider();
    if (isNoop(provider)) {
      if (pollTimer === undefined) {
        pollTimer = setInterval(() => {
          if (registrations.size > 0 || !isNoop(metrics.getMeterProvider())) {
            clearInterval(pollTimer);
            pollTimer = undefined;
            ensureGlobalObservers();
          }
        }, 1000);
        pollTimer.unref();
      }
      return;
    }
    registrations.set(provider, registerObservers(provider.getMeter('echoes-otel/cache')));
  } catch (err) {
    warnOnce('global', `cache metrics could not use the global meter provider (${String(err)})`);
  }
}

function isNoop(provider: MeterProvider): boolean {
  return provider.constructor?.name === 'NoopMeterProvider';
}

/**
 * Registers the cache instruments on the SDK's meter (all caches, present and future). Idempotent
 * per meter provider; also replaces an earlier registration on the global provider when it is the
 * same provider, so nothing is counted twice.
 */
export function setupCacheMetrics(ctx: SetupContext): Feature {
  if (pollTimer !== undefined) {
    clearInterval(pollTimer);
    pollTimer = undefined;
  }
  let reg = registrations.get(ctx.meterProvider);
  if (reg === undefined) {
    reg = registerObservers(ctx.meter);
    registrations.set(ctx.meterProvider, reg);
  }
  const mine = reg;
  return {
    name: 'cache',
    shutdown() {
      try {
        mine.meter.removeBatchObservableCallback(mine.callback, mine.observables);
      } catch {
        // shutdown never throws
      }
      registrations.delete(ctx.meterProvider);
    },
  };
}

const warned = new Set<string>();
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  diag.warn(`echoes-otel: ${message}`);
}
