import { createRequire } from 'node:module';
import { isAbsolute, parse as parsePath } from 'node:path';
import { diag, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import type { LoggerProvider } from '@opentelemetry/api-logs';
import type {
  Instrumentation,
  InstrumentationConfig,
  InstrumentationModuleDefinition,
} from '@opentelemetry/instrumentation';
import { describeSql, redisQueryText } from './db-query.js';
import { withDbClientMetrics } from './db-metrics.js';
import { LIBRARIES, type LibraryName } from './library-table.js';
import { sharedRequireHook } from './require-hook.js';
import type { FastMetrics } from '../feature.js';
import type { EchoesConfig } from '../types.js';
import type * as DbPgModule from './db-pg.js';
import type * as DbIoredisModule from './db-ioredis.js';
import type * as DbClientModule from './db-client.js';
import type * as GenAiModule from './genai.js';
import type * as Mysql2Module from '@opentelemetry/instrumentation-mysql2';
import type * as RedisModule from '@opentelemetry/instrumentation-redis';
import type * as MongodbModule from '@opentelemetry/instrumentation-mongodb';

/**
 * Pay only for what the app loads (issue 11.6). Each client library of library-table.ts gets a
 * stand-in instrumentation at startup that costs one entry in the require hook's name table (the
 * RequireInTheMiddleSingleton every upstream instrumentation already shares) and one name in the
 * ESM import hook's list; no upstream instrumentation package is evaluated (bundled CommonJS is
 * evaluated at its first require, scripts/bundle.mjs).
 *
 * On the first load of one of its packages (the first of its files to finish loading, CommonJS;
 * or its ESM namespace), the stand-in requires the upstream package, constructs it, hands it our
 * providers, and hands it this very load through InstrumentationBase's `_onRequire` (the function
 * its own hooks call): an upstream instrumentation only sees modules loaded after it was enabled,
 * and this one was loading already. Every later file and package load reaches the upstream's own
 * hooks, registered by its constructor, and the stand-in steps aside.
 */

const require = createRequire(import.meta.url);

type OnRequire = (exports: unknown, name: string, baseDir?: string) => unknown;

/** The parts of InstrumentationBase we call: public, plus `_onRequire` (private, stable since 0.50). */
export interface UpstreamPart {
  getModuleDefinitions(): InstrumentationModuleDefinition[];
  _onRequire(
    def: InstrumentationModuleDefinition,
    exports: unknown,
    name: string,
    baseDir?: string,
  ): unknown;
}

export interface Providers {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  loggerProvider?: LoggerProvider;
  /** Hot-path metrics: openai's GenAI histograms are recorded through it, with exemplars. */
  fastMetrics?: FastMetrics;
}

export interface Built {
  readonly instrumentation: Instrumentation;
  /** The instances whose module definitions patch (RedisInstrumentation wraps two). */
  readonly parts: readonly UpstreamPart[];
}

export type Builder = (config: EchoesConfig, providers: Providers) => Built;

const single = (i: Instrumentation): Built => ({
  instrumentation: i,
  parts: [i as unknown as UpstreamPart],
});

/**
 * Upstream instrumentations, each required only here, when its library loads. `duplicates` pairs
 * the builders: one per library, each with its own class, options and literal `require` (so the
 * bundle carries the package and loads it only then).
 */
const BUILDERS: Record<LibraryName, Builder> = {
  // pg and ioredis: our own lean instrumentations (db-pg.ts, db-ioredis.ts; why in
  // docs/performance.md), modules of ours required here so they too run only when the app loads
  // the library (bundled, a require of our module is a lazy init).
  pg: (_config, p) => {
    const { PgInstrumentation } = require('./db-pg.js') as typeof DbPgModule;
    const { createDbDurationMetric } = require('./db-client.js') as typeof DbClientModule;
    const i = new PgInstrumentation(createDbDurationMetric(p));
    setProviders(i, p);
    return single(i);
  },
  mysql2: (_config, p) => {
    const { MySQL2Instrumentation } =
      require('@opentelemetry/instrumentation-mysql2') as typeof Mysql2Module;
    // Unmasked, mysql2's instrumentation formats the values INTO the text.
    const i = new MySQL2Instrumentation({
      maskStatement: true,
      maskStatementHook: (sql: string) => describeSql(sql).text,
    });
    setProviders(i, p, 'sql');
    return single(i);
  },
  ioredis: (_config, p) => {
    const { IoredisInstrumentation } = require('./db-ioredis.js') as typeof DbIoredisModule;
    const { createDbDurationMetric } = require('./db-client.js') as typeof DbClientModule;
    const i = new IoredisInstrumentation(createDbDurationMetric(p));
    setProviders(i, p);
    return single(i);
  },
  redis: (_config, p) => {
    const { RedisInstrumentation } =
      require('@opentelemetry/instrumentation-redis') as typeof RedisModule;
    const i = new RedisInstrumentation({
      dbStatementSerializer: (cmd, args) => redisQueryText(cmd, args),
    });
    setProviders(i, p, 'redis');
    const inner = i as unknown as {
      instrumentationV2_V3?: UpstreamPart;
      instrumentationV4_V5?: UpstreamPart;
    };
    const parts = [inner.instrumentationV2_V3, inner.instrumentationV4_V5].filter(
      (x): x is UpstreamPart => x !== undefined,
    );
    return { instrumentation: i, parts };
  },
  mongodb: (_config, p) => {
    const { MongoDBInstrumentation } =
      require('@opentelemetry/instrumentation-mongodb') as typeof MongodbModule;
    // Its default statement serializer already replaces every value with '?'.
    const i = new MongoDBInstrumentation({});
    setProviders(i, p, 'none');
    return single(i);
  },
  // openai: our own lean instrumentation too (genai-openai.ts, through genai.ts; why in
  // docs/performance.md), required only when the app loads `openai`.
  openai: (config, p) => {
    const { createGenAiInstrumentation } = require('./genai.js') as typeof GenAiModule;
    return single(createGenAiInstrumentation(config, p));
  },
};

/**
 * Hands the instrumentation our providers. `dbMetrics`: the library records no
 * db.client.operation.duration of its own, so its tracer is wrapped to record it from each
 * client span (db-metrics.ts), into the histogram pg and ioredis record into (fast-metrics,
 * with exemplars); `sql`/`redis` also derive operation and collection from the text.
 */
function setProviders(
  i: Instrumentation,
  p: Providers,
  dbMetrics?: 'sql' | 'redis' | 'none',
): void {
  if (p.tracerProvider !== undefined) {
    let tp = p.tracerProvider;
    if (dbMetrics !== undefined && (p.fastMetrics !== undefined || p.meterProvider !== undefined)) {
      // Required here, as the pg builder does: only once a database library loads.
      const { createDbDurationMetric } = require('./db-client.js') as typeof DbClientModule;
      tp = withDbClientMetrics(tp, createDbDurationMetric(p), dbMetrics);
    }
    i.setTracerProvider(tp);
  }
  if (p.meterProvider !== undefined) i.setMeterProvider(p.meterProvider);
  if (p.loggerProvider !== undefined) i.setLoggerProvider?.(p.loggerProvider);
}

/** `pg` from `pg/lib/client.js`, `@redis/client` from `@redis/client/dist/index.js`. */
export function packageOf(name: string): string {
  const parts = name.split(/[\\/]/);
  return name.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Hands one module load to the upstream parts whose definitions name its package. */
export function deliverLoad(
  parts: readonly UpstreamPart[],
  exports: unknown,
  name: string,
  baseDir: string | undefined,
): unknown {
  const pkg = packageOf(name);
  let out = exports;
  for (const part of parts) {
    for (const def of part.getModuleDefinitions()) {
      if (def.name === pkg) out = part._onRequire(def, out, name, baseDir);
    }
  }
  return out;
}

function importHook(modules: readonly string[], fn: OnRequire): void {
  const { Hook } = require('import-in-the-middle') as {
    Hook: new (m: string[], o: { internals: boolean }, f: OnRequire) => unknown;
  };
  new Hook([...modules], { internals: true }, fn);
}

/**
 * The stand-in for one library: an Instrumentation the SDK registers like any other, which builds
 * the real one on the first load of its library.
 */
class LazyLibraryInstrumentation implements Instrumentation {
  readonly instrumentationName: string;
  readonly instrumentationVersion = '0.1.0';
  private enabled = false;
  private hooked = false;
  private failed = false;
  private real: Built | undefined;
  private readonly providers: Providers = {};

  constructor(
    private readonly library: LibraryName,
    private readonly modules: readonly string[],
    private readonly config: EchoesConfig,
    private readonly build: Builder,
    fastMetrics: FastMetrics | undefined,
  ) {
    this.instrumentationName = `echoes-otel/lazy-${library}`;
    if (fastMetrics !== undefined) this.providers.fastMetrics = fastMetrics;
  }

  setTracerProvider(tp: TracerProvider): void {
    this.providers.tracerProvider = tp;
    this.real?.instrumentation.setTracerProvider(tp);
  }
  setMeterProvider(mp: MeterProvider): void {
    this.providers.meterProvider = mp;
    this.real?.instrumentation.setMeterProvider(mp);
  }
  setLoggerProvider(lp: LoggerProvider): void {
    this.providers.loggerProvider = lp;
  }
  setConfig(): void {}
  getConfig(): InstrumentationConfig {
    return { enabled: this.enabled };
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    if (this.real !== undefined) {
      this.real.instrumentation.enable();
      return;
    }
    if (this.hooked) return;
    this.hooked = true;
    const ritm = sharedRequireHook();
    for (const m of this.modules)
      ritm.register(m, (exports, name, baseDir) => this.onLoad(exports, name, baseDir));
    importHook(this.modules, (exports, name, baseDir) => {
      // As InstrumentationBase does: import-in-the-middle names a file outside node_modules by path.
      if (baseDir === undefined && isAbsolute(name)) {
        const parsed = parsePath(name);
        return this.onLoad(exports, parsed.name, parsed.dir);
      }
      return this.onLoad(exports, name, baseDir);
    });
  }

  disable(): void {
    this.enabled = false;
    this.real?.instrumentation.disable();
  }

  /** The first load constructs; later ones are the upstream hooks' (they are registered by then). */
  private onLoad(exports: unknown, name: string, baseDir: string | undefined): unknown {
    if (!this.enabled || this.real !== undefined || this.failed) return exports;
    try {
      this.real = this.build(this.config, this.providers);
      diag.debug(`echoes-otel: ${this.library} loaded (${name}): its instrumentation starts`);
    } catch (err) {
      this.failed = true;
      diag.warn(
        `echoes-otel: the ${this.library} instrumentation did not start (${reason(err)}); the app runs, ${this.library} is not traced`,
      );
      return exports;
    }
    try {
      return deliverLoad(this.real.parts, exports, name, baseDir);
    } catch (err) {
      // Its own hooks are registered: later files are still patched; this one is left as loaded.
      diag.warn(
        `echoes-otel: the ${this.library} instrumentation could not patch ${name} (${reason(err)}); the app runs`,
      );
      return exports;
    }
  }
}

const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The stand-in instrumentation of one library (sdk.ts' INSTRUMENTATIONS rows). `fastMetrics` is
 * handed to its builder with the providers (openai records its GenAI metrics through it).
 */
export function createLazyLibrary(
  library: LibraryName,
  config: EchoesConfig,
  build: Builder = BUILDERS[library],
  fastMetrics?: FastMetrics,
): Instrumentation {
  const row = LIBRARIES.find((l) => l.name === library);
  if (row === undefined) throw new Error(`unknown library ${library}`);
  return new LazyLibraryInstrumentation(library, row.modules, config, build, fastMetrics);
}
