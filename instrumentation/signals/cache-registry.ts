/**
 * The registry every cache counts into: ours (cache.ts), instrumented Maps and objects
 * (cache-instrument.ts) and instrumented lru-cache instances (lru-cache.ts). Each name owns one
 * stats record of plain number counters (the hot path is one `++`); cache-metrics.ts reads them
 * at collect time. Caches are held weakly: a cache the app drops is garbage-collected, its
 * counters stay (they are monotonic) and its entries stop counting.
 */

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

/** Keeps a member alive as long as the object it describes (an instrumented Map or Proxy). */
const members = new WeakMap<object, CacheMember>();
export function keepMember(owner: object, member: CacheMember): void {
  members.set(owner, member);
}

const listeners: Array<() => void> = [];
/** Called on every registration (cache-metrics.ts finds the global meter provider then). */
export function onCacheRegistered(listener: () => void): void {
  listeners.push(listener);
}

const registry = new Map<string, CacheStats>();
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
  for (const l of listeners) l();
  return stats;
}

/** For tests: forget every registered cache. */
export function resetCacheRegistry(): void {
  registry.clear();
}

/** Every registered name's stats, for the observable instruments. */
export function registeredCaches(): IterableIterator<CacheStats> {
  return registry.values();
}

export function snapshot(s: CacheStats): CacheStatsSnapshot {
  return {
    hits: s.hits,
    misses: s.misses,
    evictions: { capacity: s.evictCapacity, ttl: s.evictTtl, manual: s.evictManual },
  };
}
