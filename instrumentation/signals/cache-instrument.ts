import { diag } from '@opentelemetry/api';
import { keepMember, registerCache, type CacheMember } from './cache-registry.js';

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
  keepMember(map, member);
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
  keepMember(proxy, member);
  const stats = registerCache(name, member);
  return proxy;
}

const warned = new Set<string>();
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  diag.warn(`echoes-otel: ${message}`);
}
