import {
  registerCache,
  snapshot,
  type CacheMember,
  type CacheStats,
  type CacheStatsSnapshot,
} from './cache-registry.js';
// Loaded with the public cache API, so a cache made without our preload still finds the global
// meter provider (cache-metrics.ts registers itself on the registry).
import './cache-metrics.js';

/**
 * `createCache`: an exact LRU with optional TTL whose hits, misses, evictions, entries and
 * capacity are metrics (counted in cache-registry.ts, exported by cache-metrics.ts). The other
 * cache modules are re-exported here for the modules and tests that import them from cache.js.
 */

export { instrumentCache } from './cache-instrument.js';
export { setupCacheMetrics, CACHE_COMPONENT } from './cache-metrics.js';
export { registerCache, resetCacheRegistry } from './cache-registry.js';
export type { CacheMember, CacheStats, CacheStatsSnapshot } from './cache-registry.js';

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

/** A bounded LRU cache with optional TTL whose hits, misses, evictions, entries and capacity are metrics. */
export function createCache<K, V>(opts: CacheOptions): BoundedCache<K, V> {
  return new LruTtlCache<K, V>(opts);
}
