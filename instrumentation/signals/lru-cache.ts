import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diag } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  type Instrumentation,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import { registerCache, type CacheMember, type CacheStats } from './cache.js';
import type { EchoesConfig } from '../types.js';

/**
 * Automatic cache metrics for `lru-cache` 7 to 11 (ESM and CJS). The module's class is replaced by
 * a subclass (so `instanceof`, statics and private fields keep working) that registers each
 * instance in the cache registry of cache.ts, counts `get` as a hit or a miss (lru-cache never
 * stores `undefined`, so `undefined` is a miss), and learns evictions from a `dispose` wrapper
 * (reasons evict → capacity, expire → ttl, delete → manual; lru-cache 7 reports expiry as delete).
 *
 * The instance name is the `name` option when the app gives one, else the constructor's call site
 * (`src/cache.mjs:12`, relative to the working directory): low-cardinality, stable across restarts.
 */

const ORIGINAL = Symbol('echoes.lru-cache.original');
// A string key, not a symbol: on Node 20 a symbol-keyed load in `get` measured +6 ns per call
// (about 1.45x a bare get); a non-enumerable string-keyed property costs nothing measurable.
const STATS = '__echoesCacheStats';
const MEMBER = Symbol('echoes.lru-cache.member');

// A class extended at runtime whose shape we do not know: TypeScript's mixin pattern needs any[] here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCtor = (new (...args: any[]) => any) & { [ORIGINAL]?: AnyCtor };

const subclasses = new WeakMap<AnyCtor, AnyCtor>();

interface LruOptions {
  name?: unknown;
  max?: unknown;
  dispose?: unknown;
  [k: string]: unknown;
}

/** `file:line` of the first stack frame outside this module, lru-cache and Node internals. */
export function callSiteName(stack: string | undefined, cwd: string = process.cwd()): string {
  if (stack === undefined) return 'lru-cache';
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^\s()]+):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (m === null) continue;
    let file = m[1]!;
    if (
      file.startsWith('node:') ||
      file.includes('/node_modules/lru-cache') ||
      /[/\\]lru-cache\.(?:js|ts)$/.test(file)
    ) {
      continue;
    }
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        continue;
      }
    }
    if (isAbsolute(file)) {
      const rel = relative(cwd, file);
      if (rel !== '' && !rel.startsWith('..')) file = rel;
    }
    return `${file.replace(/\\/g, '/')}:${m[2]}`;
  }
  return 'lru-cache';
}

/** The instrumented subclass of one lru-cache class (memoised per class). */
export function instrumentLruCacheClass<C extends AnyCtor>(Base: C): C {
  if (Base[ORIGINAL] !== undefined) return Base; // already ours
  const existing = subclasses.get(Base);
  if (existing !== undefined) return existing as C;

  class InstrumentedLRUCache extends (Base as AnyCtor) {
    declare __echoesCacheStats: CacheStats | undefined;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mixin constructor signature
    constructor(...args: any[]) {
      const opts = (args[0] ?? {}) as LruOptions;
      let name = 'lru-cache';
      let statsRef: { s?: CacheStats } = {};
      let patched = args;
      try {
        name =
          typeof opts.name === 'string' && opts.name !== ''
            ? opts.name
            : callSiteName(new Error().stack);
        if (opts !== null && typeof opts === 'object') {
          const userDispose =
            typeof opts.dispose === 'function'
              ? (opts.dispose as (...a: unknown[]) => unknown)
              : undefined;
          const ref = statsRef;
          const dispose = function (this: unknown, value: unknown, key: unknown, reason: unknown) {
            try {
              const s = ref.s;
              if (s !== undefined) {
                if (reason === 'evict') s.evictCapacity++;
                else if (reason === 'expire') s.evictTtl++;
                else if (reason === 'delete') s.evictManual++;
              }
            } catch {
              // counting never reaches the app
            }
            // The app's own dispose keeps its semantics, errors included.
            if (userDispose !== undefined) return userDispose.call(this, value, key, reason);
            return undefined;
          };
          patched = [{ ...opts, dispose }, ...args.slice(1)];
        }
      } catch (err) {
        diag.debug(`echoes-otel: lru-cache options not instrumented (${String(err)})`);
        patched = args;
        statsRef = {};
      }
      super(...patched);
      try {
        const self = this as unknown as { size: number };
        const max = typeof opts.max === 'number' && opts.max > 0 ? opts.max : undefined;
        const member: CacheMember = {
          entryCount: () => self.size,
          capacity: () => max,
        };
        // The member lives as long as the cache: the registry holds it weakly.
        Object.defineProperty(this, MEMBER, { value: member });
        const stats = registerCache(name, member);
        statsRef.s = stats;
        Object.defineProperty(this, STATS, { value: stats });
      } catch (err) {
        diag.debug(`echoes-otel: lru-cache instance not registered (${String(err)})`);
      }
    }

    get(key: unknown, options?: unknown): unknown {
      const v = super.get(key, options);
      const s = this.__echoesCacheStats;
      if (s !== undefined) {
        if (v === undefined) s.misses++;
        else s.hits++;
      }
      return v;
    }

    /**
     * `fetch` with a fetchMethod does not go through `get`: its outcome is read from the `status`
     * object lru-cache fills synchronously (hit; miss, stale, refresh and inflight count as misses;
     * `get` means no fetchMethod, already counted by `get`).
     */
    fetch(
      key: unknown,
      options?: { status?: { fetch?: unknown } } & Record<string, unknown>,
    ): unknown {
      const s = this.__echoesCacheStats;
      if (s === undefined) return super.fetch(key, options);
      const status: { fetch?: unknown } = options?.status ?? {};
      const p = super.fetch(key, options?.status !== undefined ? options : { ...options, status });
      const r = status.fetch;
      if (r === 'hit') s.hits++;
      else if (r === 'miss' || r === 'stale' || r === 'refresh' || r === 'inflight') s.misses++;
      return p;
    }
  }
  Object.defineProperty(InstrumentedLRUCache, 'name', { value: Base.name, configurable: true });
  Object.defineProperty(InstrumentedLRUCache, ORIGINAL, { value: Base });
  subclasses.set(Base, InstrumentedLRUCache);
  return InstrumentedLRUCache as unknown as C;
}

function isClass(v: unknown): v is AnyCtor {
  return (
    typeof v === 'function' &&
    typeof (v as { prototype?: { get?: unknown } }).prototype?.get === 'function'
  );
}

/** Replaces the LRUCache class in a module's exports (CJS object, CJS function, or ESM namespace). */
export function patchLruCacheExports(exports: unknown): unknown {
  if (isClass(exports)) {
    // lru-cache 7 CJS: module.exports is the class itself.
    return instrumentLruCacheClass(exports);
  }
  if (exports === null || typeof exports !== 'object') return exports;
  const ns = exports as Record<string, unknown>;
  for (const key of ['LRUCache', 'default']) {
    const v = ns[key];
    if (isClass(v) && v[ORIGINAL] === undefined) {
      try {
        ns[key] = instrumentLruCacheClass(v);
      } catch (err) {
        diag.warn(
          `echoes-otel: could not instrument lru-cache export ${key} (${String(err)}); its caches are not measured`,
        );
      }
    }
  }
  return exports;
}

export function unpatchLruCacheExports(exports: unknown): unknown {
  if (isClass(exports)) return exports[ORIGINAL] ?? exports;
  if (exports === null || typeof exports !== 'object') return exports;
  const ns = exports as Record<string, unknown>;
  for (const key of ['LRUCache', 'default']) {
    const v = ns[key];
    if (isClass(v) && v[ORIGINAL] !== undefined) {
      try {
        ns[key] = v[ORIGINAL];
      } catch {
        // unpatching never throws
      }
    }
  }
  return exports;
}

const VERSION = '0.1.0';

class LruCacheInstrumentation extends InstrumentationBase<InstrumentationConfig> {
  constructor(config: InstrumentationConfig = {}) {
    super('echoes-otel/lru-cache', VERSION, config);
  }

  protected init() {
    return [
      new InstrumentationNodeModuleDefinition(
        'lru-cache',
        ['>=7 <12'],
        (moduleExports: unknown) => patchLruCacheExports(moduleExports),
        (moduleExports: unknown) => unpatchLruCacheExports(moduleExports),
      ),
    ];
  }
}

/** The lru-cache instrumentation; the SDK registers it before the app loads (require and import hooks). */
export function createLruCacheInstrumentation(config: EchoesConfig): Instrumentation {
  return new LruCacheInstrumentation({ enabled: config.instrumentations.lruCache });
}
