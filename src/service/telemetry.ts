/**
 * The service's only door to echoes-otel: the logger, bounded caches and the HTTP route setter.
 *
 * Loaded by package name (`echoes-otel`, the bundle the `--import` preload runs: one logger, one
 * meter provider). Each piece is looked up separately and degrades on its own: a service that
 * cannot load the package, or finds a piece missing, still serves.
 */

export interface ServiceLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
}

export interface ServiceCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): unknown;
}

export interface CacheSpec {
  readonly name: string;
  readonly maxEntries: number;
  readonly ttlMs?: number;
}

export interface ServiceTelemetry {
  readonly logger: ServiceLogger;
  createCache<V>(spec: CacheSpec): ServiceCache<V>;
  setHttpRoute(route: string): void;
  /** Which pieces came from echoes-otel and which are local stand-ins (shown at startup). */
  readonly sources: Readonly<Record<'logger' | 'cache' | 'http', 'echoes-otel' | 'fallback'>>;
}

type AnyFn = (...args: unknown[]) => unknown;

/** The package's API, or undefined when it cannot be loaded (the service must still start). */
async function tryImportEchoes(): Promise<Record<string, unknown> | undefined> {
  try {
    // By package name: the very module the `--import echoes-otel/register` preload runs
    // (dist/bundle/index.js), so the service logs through the preload's logger and its caches
    // reach the preload's meter provider. A computed specifier, so tsc does not resolve the
    // package's own types while building them; at run time a missing bundle (a partial build)
    // lands in the catch.
    const specifier = ['echoes', 'otel'].join('-');
    return (await import(specifier)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const silentLogger: ServiceLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};

/** A small LRU with TTL, used only when echoes-otel's `createCache` cannot be loaded. */
export function createLocalCache<V>(spec: CacheSpec): ServiceCache<V> {
  const map = new Map<string, { value: V; expires: number }>();
  return {
    get(key) {
      const e = map.get(key);
      if (!e) return undefined;
      if (e.expires <= Date.now()) {
        map.delete(key);
        return undefined;
      }
      map.delete(key);
      map.set(key, e);
      return e.value;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, { value, expires: spec.ttlMs ? Date.now() + spec.ttlMs : Infinity });
      while (map.size > spec.maxEntries) {
        const oldest = map.keys().next().value as string;
        map.delete(oldest);
      }
    },
  };
}

function wrapLogger(candidate: unknown): ServiceLogger | undefined {
  if (!candidate || typeof candidate !== 'object') return undefined;
  const l = candidate as Record<string, unknown>;
  if (typeof l.info !== 'function' || typeof l.error !== 'function') return undefined;
  const call = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    try {
      const fn = (typeof l[level] === 'function' ? l[level] : l.info) as AnyFn;
      fn.call(l, message, meta ?? {});
    } catch {
      // A logging failure must never fail a request.
    }
  };
  return { info: call('info'), warn: call('warn'), error: call('error'), debug: call('debug') };
}

export async function loadServiceTelemetry(): Promise<ServiceTelemetry> {
  const echoes = await tryImportEchoes();
  const logger = wrapLogger(echoes?.logger);
  const createCacheFn =
    typeof echoes?.createCache === 'function' ? (echoes.createCache as AnyFn) : undefined;
  const setRouteFn =
    typeof echoes?.setHttpRoute === 'function' ? (echoes.setHttpRoute as AnyFn) : undefined;

  return {
    logger: logger ?? silentLogger,
    createCache<V>(spec: CacheSpec): ServiceCache<V> {
      if (createCacheFn) {
        try {
          const c = createCacheFn({
            name: spec.name,
            maxEntries: spec.maxEntries,
            ttlMs: spec.ttlMs,
          }) as ServiceCache<V>;
          if (c && typeof c.get === 'function' && typeof c.set === 'function') return c;
        } catch {
          // Fall through to the local cache.
        }
      }
      return createLocalCache<V>(spec);
    },
    setHttpRoute(route: string) {
      try {
        setRouteFn?.(route);
      } catch {
        // Route naming is telemetry; never fail the request for it.
      }
    },
    sources: {
      logger: logger ? 'echoes-otel' : 'fallback',
      cache: createCacheFn ? 'echoes-otel' : 'fallback',
      http: setRouteFn ? 'echoes-otel' : 'fallback',
    },
  };
}
