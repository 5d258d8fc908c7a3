import { context, diag, metrics, propagation, trace } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { setupApiCompat } from './export/api-compat.js';
import {
  formatProblem,
  loadConfig,
  type ConfigProblem,
  type ConfigSource,
} from './config/config.js';
import { createExportControl } from './export/export-transport.js';
import { createFastMetrics } from './signals/fast-metrics.js';
import type { Feature, SetupContext } from './feature.js';
import { createLoggerProvider } from './export/logs-sdk.js';
import { createMeterProvider } from './export/metrics.js';
import { prepareOtlpExporters } from './export/otlp-exporters.js';
import { createPropagator } from './export/propagators.js';
import { createRedactor } from './redact.js';
import { createResource } from './export/resource.js';
import { once, runPhases, type Phase, type StepResult } from './export/shutdown.js';
import { LIBRARIES } from './signals/library-table.js';
import { narrowRequireHook } from './signals/require-hook.js';
import { createTracerProvider } from './export/traces.js';
import type { EchoesConfig, EchoesOptions } from './types.js';

/**
 * Composes resource, traces, metrics and logs, sets the OTel globals, starts the feature modules
 * (each on its own: one failing warns once and the others still start), and owns one idempotent
 * shutdown raced against `config.shutdownTimeoutMs`. Built from the SDK's pieces rather than
 * NodeSDK, which reads the environment itself and loads far more than we use.
 */

export interface EchoesHandle {
  readonly config: EchoesConfig;
  readonly problems: readonly ConfigProblem[];
  /** Names of the features and instrumentations that started. */
  readonly started: readonly string[];
  /** Port of the embedded Prometheus endpoint, once bound (undefined: disabled or port taken). */
  readonly prometheusPort: Promise<number | undefined>;
  /** Flushes traces, metrics, logs and log files; never rejects. */
  flush(): Promise<void>;
  /**
   * The app got a termination signal and drains on its own: flush within the shutdown deadline,
   * and if the collector did not answer in time, stop exporting (open export sockets destroyed),
   * so a silent collector cannot hold the app's exit. Log files are not affected. Never rejects.
   */
  flushForExit(): Promise<void>;
  /** Idempotent; settles within the shutdown deadline; never rejects. */
  shutdown(): Promise<StepResult[]>;
}

let current: EchoesHandle | undefined;

/** A module loaded on demand, so a switched-off one costs nothing at startup. */
type Loader<A, R> = {
  name: string;
  when: (c: EchoesConfig) => boolean;
  /** Resolves to its start function. */
  load: () => Promise<(arg: A) => R>;
};

// `duplicates` pairs the rows of FEATURES and INSTRUMENTATIONS: data, one row per module, each
// `import()` a literal so that the bundle finds the module and the module loads only when wanted.
const FEATURES: readonly Loader<SetupContext, Feature>[] = [
  // fs first: the log file sink opens its file while starting, and fs.ts learns an fd's path group
  // from its open; started later, every log write would be counted under `other`.
  {
    name: 'fs',
    when: (c) => c.instrumentations.fs,
    load: async () => (await import('./signals/fs.js')).setupFsMetrics,
  },
  {
    name: 'logging',
    when: () => true,
    load: async () => (await import('./logging/logger.js')).setupLogging,
  },
  {
    name: 'http',
    when: (c) => c.instrumentations.http,
    load: async () => (await import('./signals/http.js')).setupHttp,
  },
  {
    name: 'undici',
    when: (c) => c.instrumentations.undici,
    load: async () => (await import('./signals/http-undici.js')).setupUndici,
  },
  {
    name: 'fastify',
    when: (c) => c.instrumentations.http && c.instrumentations.fastify,
    load: async () => (await import('./signals/http-frameworks.js')).setupFastifyRoutes,
  },
  {
    name: 'cache',
    when: (c) => c.instrumentations.cache,
    load: async () => (await import('./signals/cache.js')).setupCacheMetrics,
  },
  {
    name: 'dirs',
    when: (c) => c.dirs.enabled && c.instrumentations.dirs,
    load: async () => (await import('./signals/dirs.js')).setupDirMonitor,
  },
  {
    name: 'runtime',
    when: (c) => c.instrumentations.runtime,
    load: async () => (await import('./signals/runtime.js')).setupRuntimeMetrics,
  },
];

const INSTRUMENTATIONS: readonly Loader<SetupContext, Instrumentation>[] = [
  {
    name: 'winston',
    when: (c) => c.instrumentations.winston,
    load: async () => {
      const { createWinstonInstrumentation } = await import('./logging/winston.js');
      return (ctx) => createWinstonInstrumentation(ctx.config);
    },
  },
  {
    name: 'lru-cache',
    when: (c) => c.instrumentations.lruCache,
    load: async () => {
      const { createLruCacheInstrumentation } = await import('./signals/lru-cache.js');
      return (ctx) => createLruCacheInstrumentation(ctx.config);
    },
  },
  {
    name: 'express',
    when: (c) => c.instrumentations.http && c.instrumentations.express,
    load: async () => {
      const { createExpressInstrumentation } = await import('./signals/http-frameworks.js');
      return (ctx) => createExpressInstrumentation(ctx.config);
    },
  },
  {
    name: 'koa',
    when: (c) => c.instrumentations.http && c.instrumentations.koa,
    load: async () => {
      const { createKoaInstrumentation } = await import('./signals/http-frameworks.js');
      return (ctx) => createKoaInstrumentation(ctx.config);
    },
  },
  // Client libraries (library-table.ts): a stand-in each, which builds the upstream
  // instrumentation only when the app loads the library (libraries.ts). The hot-path metrics go
  // along: openai's GenAI histograms are recorded through them, with exemplars.
  ...LIBRARIES.map((l): Loader<SetupContext, Instrumentation> => ({
    name: l.name,
    when: (c) => c.instrumentations[l.name],
    load: async () => {
      const { createLazyLibrary } = await import('./signals/libraries.js');
      return (ctx) => createLazyLibrary(l.name, ctx.config, undefined, ctx.fastMetrics);
    },
  })),
];

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Starts the wanted modules in order, each on its own: one that failed to load or to start warns
 * once and the others still start. Names of those that started are appended to `started`.
 */
function startEach<A, R>(
  kind: 'feature' | 'instrumentation',
  wanted: readonly Loader<A, R>[],
  loaded: readonly Settled<(arg: A) => R>[],
  arg: A,
  started: string[],
): R[] {
  const out: R[] = [];
  wanted.forEach((w, n) => {
    const loadedModule = loaded[n]!;
    try {
      if (!loadedModule.ok) throw loadedModule.error;
      out.push(loadedModule.value(arg));
      started.push(w.name);
    } catch (err) {
      diag.warn(
        `echoes-otel: the ${w.name} ${kind} did not start (${reason(err)}); everything else runs`,
      );
    }
  });
  return out;
}

/** Loads config (printing its problems once via diag) and starts. Returns the running handle if already started. */
export async function startEchoes(
  options?: EchoesOptions,
  src?: ConfigSource,
): Promise<EchoesHandle> {
  if (current !== undefined) return current;
  const loaded = loadConfig(options, src);
  for (const p of loaded.problems) diag.warn(formatProblem(p));
  return startFromConfig(loaded.config, loaded.problems);
}

/** Starts from an already loaded config (register loads it first to decide whether to start at all). */
export async function startFromConfig(
  config: EchoesConfig,
  problems: readonly ConfigProblem[] = [],
): Promise<EchoesHandle> {
  if (current !== undefined) return current;
  if (!config.enabled) {
    const noop: EchoesHandle = {
      config,
      problems,
      started: [],
      prometheusPort: Promise.resolve(undefined),
      flush: async () => {},
      flushForExit: async () => {},
      shutdown: async () => [],
    };
    return noop;
  }

  // The gRPC exporters are a separate bundle file, loaded only when a signal uses OTLP/gRPC.
  await prepareOtlpExporters(config);
  const redactor = createRedactor(config.redaction.keys);
  const resource = createResource(config);
  // One per start, before the readers: both readers export its hot-path data.
  const fastMetrics = createFastMetrics({ cardinalityLimit: config.metrics.cardinalityLimit });
  // Shared by the three OTLP exporters: lets shutdown stop retries and free their sockets.
  const exportControl = createExportControl();
  const tracerProvider = createTracerProvider(config, resource, redactor, exportControl);
  const { meterProvider, prometheus, readBeforeShutdown } = createMeterProvider(
    config,
    resource,
    fastMetrics.producer,
    exportControl,
  );
  const { provider: loggerProvider, otlpDrops } = createLoggerProvider(
    config,
    resource,
    exportControl,
  );

  const shutdownProviders = (): Promise<unknown> =>
    Promise.allSettled([
      tracerProvider.shutdown(),
      meterProvider.shutdown(),
      loggerProvider.shutdown(),
      prometheus?.close(),
    ]);

  try {
    // Context manager (AsyncLocalStorage) and the OTEL_PROPAGATORS propagators (null: none).
    tracerProvider.register({ propagator: createPropagator(config.propagators) });
    metrics.setGlobalMeterProvider(meterProvider);
    logs.setGlobalLoggerProvider(loggerProvider);
  } catch (err) {
    // Leave no half-registered globals behind: the app runs as if we were never loaded.
    disableGlobals();
    void shutdownProviders();
    throw err;
  }

  // One warning if the app's own @opentelemetry/api is too new to see what we just registered.
  try {
    setupApiCompat();
  } catch (err) {
    diag.debug(`echoes-otel: the API version check is off (${reason(err)})`);
  }

  const ctx: SetupContext = {
    config,
    meterProvider,
    meter: meterProvider.getMeter('echoes-otel'),
    tracerProvider,
    tracer: tracerProvider.getTracer('echoes-otel'),
    loggerProvider,
    otlpLogDrops: otlpDrops,
    fastMetrics,
  };

  // Modules load in parallel (their file reads overlap), then features start in a fixed order.
  const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  const wantedFeatures = FEATURES.filter((f) => f.when(config));
  const wantedInstrumentations = INSTRUMENTATIONS.filter((i) => i.when(config));
  const [featureModules, instrumentationModules] = await Promise.all([
    Promise.all(wantedFeatures.map((f) => settle(f.load()))),
    Promise.all(wantedInstrumentations.map((i) => settle(i.load()))),
  ]);

  const started: string[] = [];
  const features = startEach('feature', wantedFeatures, featureModules, ctx, started);
  // Before the instrumentations (each an InstrumentationBase) create upstream's require hook: ours
  // hooks only the packages registered with it (require-hook.ts; runtime.ts narrows it too).
  if (wantedInstrumentations.length > 0) narrowRequireHook();
  const instrumentations = startEach(
    'instrumentation',
    wantedInstrumentations,
    instrumentationModules,
    ctx,
    started,
  );
  if (instrumentations.length > 0) {
    try {
      const { registerInstrumentations } = await import('./signals/instrumentations.js');
      registerInstrumentations({ instrumentations, tracerProvider, meterProvider, loggerProvider });
    } catch (err) {
      diag.warn(
        `echoes-otel: instrumentations could not be registered (${reason(err)}); everything else runs`,
      );
    }
  }

  // 1. Features write out what they buffer (the logger finishes its files and emits its last
  //    records into the logger provider). 2. The providers export it (at shutdown, metrics are
  //    only read here and exported once by the meter provider's shutdown: readBeforeShutdown).
  const flushPhases = (metrics: () => unknown): readonly Phase[] => [
    {
      name: 'flush-features',
      steps: features.map((f) => ({ name: f.name, run: () => f.flush?.() })),
    },
    {
      name: 'flush-providers',
      steps: [
        { name: 'traces', run: () => tracerProvider.forceFlush() },
        { name: 'metrics', run: metrics },
        { name: 'logs', run: () => loggerProvider.forceFlush() },
      ],
    },
  ];
  const flush = async (): Promise<StepResult[]> =>
    runPhases(
      flushPhases(() => meterProvider.forceFlush()),
      config.shutdownTimeoutMs,
    );

  const flushForExit = async (): Promise<void> => {
    exportControl.stopRetries();
    const results = await flush();
    if (results.some((r) => r.outcome !== 'done')) exportControl.release();
  };

  const shutdown = once(async (): Promise<StepResult[]> => {
    // One attempt per export from here on: no backoff waits inside the exit deadline.
    exportControl.stopRetries();
    const results = await runPhases(
      [
        // 1-2. Flush as above, while every feature is still live: observable instruments (cache
        //    sizes, directory sizes, runtime) lose their callbacks once their feature shuts down.
        ...flushPhases(readBeforeShutdown),
        // 3. Instrumentations and features stop.
        {
          name: 'features',
          steps: [
            ...instrumentations.map((i) => ({
              name: i.instrumentationName,
              run: () => i.disable(),
            })),
            ...features.map((f) => ({ name: f.name, run: () => f.shutdown() })),
          ],
        },
        // 4. Providers last: exports whatever the features emitted while shutting down, and the
        //    metrics, once (what step 2 read included).
        {
          name: 'providers',
          steps: [
            { name: 'traces', run: () => tracerProvider.shutdown() },
            { name: 'metrics', run: () => meterProvider.shutdown() },
            { name: 'logs', run: () => loggerProvider.shutdown() },
            ...(prometheus !== undefined
              ? [{ name: 'prometheus', run: () => prometheus.close() }]
              : []),
          ],
        },
      ],
      config.shutdownTimeoutMs,
    );
    // Whatever is still retrying or waiting on a silent collector must not hold the process.
    exportControl.release();
    const late = results.filter((r) => r.outcome !== 'done');
    if (late.length > 0) {
      diag.warn(
        `echoes-otel: shutdown within ${config.shutdownTimeoutMs} ms left ${late.map((r) => `${r.name} (${r.outcome}${r.error ? `: ${r.error}` : ''})`).join(', ')}`,
      );
    }
    if (current === handle) current = undefined;
    return results;
  });

  const handle: EchoesHandle = {
    config,
    problems,
    started,
    prometheusPort: prometheus?.ready ?? Promise.resolve(undefined),
    flush: () =>
      flush().then(
        () => undefined,
        () => undefined,
      ),
    flushForExit: () => flushForExit().catch(() => undefined),
    shutdown,
  };
  current = handle;
  return handle;
}

/**
 * Flushes and stops everything started by `startEchoes` (without it, the standalone logger's
 * files); idempotent, never rejects.
 */
export async function shutdownEchoes(): Promise<void> {
  const h = current;
  if (h === undefined) {
    // No SDK: the app used `logger` on its own; its files still need writing out and closing.
    try {
      await (await import('./logging/logger.js')).closeStandaloneLogging();
    } catch {
      // never rejects
    }
    return;
  }
  try {
    await h.shutdown();
  } catch {
    // shutdown never rejects; this is only a second fence
  }
}

/** The running handle, if any (register uses it for signals and beforeExit). */
export function currentEchoes(): EchoesHandle | undefined {
  return current;
}

export function disableGlobals(): void {
  for (const f of [
    () => trace.disable(),
    () => metrics.disable(),
    () => logs.disable(),
    () => propagation.disable(),
    () => context.disable(),
  ]) {
    try {
      f();
    } catch {
      // best effort
    }
  }
}
