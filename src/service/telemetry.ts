/**
 * What the service uses of echoes-otel: the logger, bounded caches and the HTTP route setter, typed
 * by the package's own declarations, so `tsc` checks the public API this service showcases.
 *
 * main.ts imports them as an application does, `from 'echoes-otel'`. That bare specifier is
 * type-checked against instrumentation/index.ts (the `paths` entry in tsconfig.json) and stays as
 * written in the emitted JS, where Node resolves it through the package's own `exports` (a package
 * may import itself by name) to dist/bundle/index.js: the very module the `--import
 * echoes-otel/register` preload runs, so the service logs through the preload's logger and its
 * caches report to the preload's meter provider. (It used to be computed, `['echoes', 'otel']
 * .join('-')`, so that tsc would not look for the package's types while building them; the types
 * then had to be declared again here and nothing checked them against the package. docs/notes.md.)
 *
 * Only types are imported here, so server.ts and its unit tests never load the bundle.
 */
import type * as Echoes from 'echoes-otel';
import type { BoundedCache, CacheOptions, EchoesLogger } from 'echoes-otel';

/** The part of the package's API the service uses. */
export type EchoesApi = Pick<typeof Echoes, 'logger' | 'createCache' | 'setHttpRoute'>;

/** The package's logger, narrowed to the levels the service logs at (so a test can stand in). */
export type ServiceLogger = Pick<EchoesLogger, 'info' | 'warn' | 'error' | 'debug'>;

/** One of the package's bounded caches, keyed by string. */
export type ServiceCache<V> = BoundedCache<string, V>;

/** The options of the package's `createCache`. */
export type CacheSpec = CacheOptions;

export interface ServiceTelemetry {
  readonly logger: ServiceLogger;
  createCache<V>(spec: CacheSpec): ServiceCache<V>;
  setHttpRoute: EchoesApi['setHttpRoute'];
  /** Where each piece came from (shown by /healthz): the package, or a test's stand-in. */
  readonly sources: Readonly<Record<'logger' | 'cache' | 'http', 'echoes-otel' | 'fallback'>>;
}

/**
 * The service's telemetry from the package's API. The package's calls never throw into the app
 * (its logger and route setter catch their own failures), so nothing is wrapped here.
 */
export function createServiceTelemetry(echoes: EchoesApi): ServiceTelemetry {
  return {
    logger: echoes.logger,
    createCache: <V>(spec: CacheSpec) => echoes.createCache<string, V>(spec),
    setHttpRoute: echoes.setHttpRoute,
    sources: { logger: 'echoes-otel', cache: 'echoes-otel', http: 'echoes-otel' },
  };
}
