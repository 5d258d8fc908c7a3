/**
 * `node --import echoes-otel/register app.js`: the only module that acts at import time.
 *
 * It loads the config once and decides whether this thread/process should start at all (main
 * thread only, not in a child that inherited the preload, unless config says so); only then does
 * it load the core (core.ts: register-main.ts, the SDK and the public API, one bundle in
 * dist/bundle) and run it. If anything throws, the app runs uninstrumented with one warning.
 */
// Only type imports are static: a module that fails to load must end up in the catch below,
// not abort the application before its first line runs.
import type * as CoreModule from './core.js';

type Core = typeof CoreModule;

const DISABLED = (why: string): string =>
  `echoes-otel: telemetry disabled: ${why}; your application is running without instrumentation`;

async function main(): Promise<void> {
  const { inheritedPreloadParent, loadConfig } = await import('./config/config.js');
  const loaded = loadConfig();
  const { config } = loaded;
  // Decided before anything else loads: a process we do not instrument (disabled, or a child or
  // worker that inherited the preload) pays for reading its config only, not for the OTel API
  // and core (about 12 MiB and 40 ms, bench/results/startup.md).
  if (!config.enabled) return;
  if (inheritedPreloadParent() !== undefined && !config.inChildren) return;
  const { isMainThread } = await import('node:worker_threads');
  if (!isMainThread && !config.inWorkers) return;
  // In the bundle, core.js compiles core.cjs with a V8 code cache (compile-cache.ts): told where
  // it lives before the import, written once the SDK has started (what startup compiled is in it).
  const codeCache = await import('./compile-cache.js');
  codeCache.configureCodeCache(config.codeCacheDir || undefined);
  core = await import('./core.js');
  // Once more when the exit's flush is done, if this process wrote the cache: see
  // saveCodeCacheAtExit.
  await core.runRegister(loaded, isMainThread, () => codeCache.saveCodeCacheAtExit());
  codeCache.saveCodeCache();
}

let core: Core | undefined;
try {
  await main();
} catch (err) {
  const message = DISABLED(err instanceof Error ? err.message : String(err));
  try {
    if (core === undefined) throw new Error('core not loaded');
    core.warnDisabled(message);
  } catch {
    // The core itself failed to load, or the OTel API is unusable: say it directly, once.
    process.stderr.write(`${message}\n`);
  }
}
