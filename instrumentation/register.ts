/**
 * `node --import echoes-otel/register app.js`: the only module that acts at import time.
 *
 * In order: load config once; decide whether this thread/process should start at all (main
 * thread only, not in a child that inherited the preload, unless config says so); install the diag
 * logger (WARN by default, so problems reach stderr); register import-in-the-middle's ESM hook on the
 * main thread (as elastic-otel-node's import.mjs does) so ESM apps get the winston and lru-cache
 * hooks from this one flag; start the SDK; wait for the hook to acknowledge the modules to patch;
 * then install exit handling. If anything throws, the app runs uninstrumented with one warning.
 */
import * as nodeModule from 'node:module';
// Only type imports are static: a module that fails to load must end up in the catch below,
// not abort the application before its first line runs.
import type { DiagLogger } from '@opentelemetry/api';
import type * as Sdk from './sdk.js';
import type { EsmHookMode } from './types.js';

const DISABLED = (why: string): string =>
  `echoes-otel: telemetry disabled: ${why}; your application is running without instrumentation`;

function supportsModuleRegister(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return (
    typeof (nodeModule as { register?: unknown }).register === 'function' &&
    (major > 20 || (major === 20 && minor >= 6))
  );
}

/**
 * The ESM import hook, only for the modules our instrumentations patch (an ESM app's
 * `import ... from 'lru-cache'` never passes through require). Where Node can run it in-thread
 * (`module.registerHooks`, iitm's `supportsSyncHooks()`: >= 22.22.3 / 24.11.1), no loader thread
 * is started; elsewhere the off-thread loader as in elastic-otel-node's import.mjs.
 *
 * Two steps: `prepare` runs before the SDK starts (the instrumentations' Hook() calls must find
 * the message channel, their messages wait in it), `activate` after, so the SDK's own ~200
 * modules load without passing through the hook (on Node 20 each would be a round trip to the
 * loader thread); the app's modules, loaded after this preload, all do.
 */
interface EsmHook {
  /** Registers the hook; resolves once the loader has acknowledged the modules to patch. */
  activate(): Promise<void>;
}

async function prepareEsmHook(
  diag: DiagLogger,
  include: readonly string[],
): Promise<EsmHook | undefined> {
  if (include.length === 0) return undefined;
  if (typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function') {
    const sync = await import('import-in-the-middle/register-hooks.mjs');
    if (sync.supportsSyncHooks()) {
      return { activate: async () => sync.register({ include: [...include] }) };
    }
  }
  if (!supportsModuleRegister()) {
    diag.warn(
      `echoes-otel: Node ${process.versions.node} has no module.register (needs >= 20.6): ESM imports of ${include.join(' and ')} are not instrumented; CommonJS ones are`,
    );
    return undefined;
  }
  const { createAddHookMessageChannel } = await import('import-in-the-middle');
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  return {
    activate: () => {
      nodeModule.register(
        'import-in-the-middle/hook.mjs',
        import.meta.url,
        registerOptions as nodeModule.RegisterOptions<unknown>,
      );
      return waitForAllMessagesAcknowledged();
    },
  };
}

/**
 * ECHOES_ESM_HOOK: `auto` leaves the hook out for a CommonJS entry (entry-format.ts), whose
 * `require` calls require-in-the-middle sees without it; said at debug level, with the reason.
 */
async function wantsEsmHook(
  diag: DiagLogger,
  mode: EsmHookMode,
  include: readonly string[],
): Promise<boolean> {
  if (include.length === 0 || mode === 'off') return false;
  if (mode === 'on') return true;
  const [{ entryFormat }, { entryProbe }] = await Promise.all([
    import('./entry-format.js'),
    import('./config.js'),
  ]);
  const entry = entryFormat(entryProbe());
  if (entry.format !== 'commonjs') return true;
  diag.debug(
    `echoes-otel: no ESM import hook (${entry.why}): require() of ${include.join(' and ')} is instrumented, import() of them is not unless ECHOES_ESM_HOOK=on`,
  );
  return false;
}

function installExitHandling({ currentEchoes, shutdownEchoes }: typeof Sdk): void {
  const flushOnSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
    // Decided when the signal arrives: the app may have added its own handler after we loaded.
    const appHandles = process.listenerCount(signal) > 1;
    if (appHandles) {
      // The app decides when to exit and may drain for a while (finish requests, log, call out):
      // flush what we hold now but keep instrumenting; the final shutdown runs at beforeExit,
      // when the drained app's loop empties. A collector that does not answer within the
      // deadline is cut off here, so its pending requests cannot hold that exit.
      void currentEchoes()?.flushForExit();
      return;
    }
    void shutdownEchoes().finally(() => {
      process.removeListener(signal, handlers[signal]);
      // Re-raise with no listener left: the default action ends the process exactly as it
      // would have ended without us (killed by the signal, same exit status).
      process.kill(process.pid, signal);
    });
  };
  const handlers = {
    SIGTERM: () => flushOnSignal('SIGTERM'),
    SIGINT: () => flushOnSignal('SIGINT'),
  } as const;
  process.on('SIGTERM', handlers.SIGTERM);
  process.on('SIGINT', handlers.SIGINT);

  process.once('beforeExit', () => {
    const h = currentEchoes();
    if (h === undefined) return;
    const started = Date.now();
    void h.shutdown().then((results) => {
      // An export still retrying against a dead collector would hold the loop open past the
      // deadline: end the process the way it was about to end.
      if (
        results.some((r) => r.outcome === 'timeout') ||
        Date.now() - started >= h.config.shutdownTimeoutMs
      ) {
        process.exit(process.exitCode ?? 0);
      }
    });
  });
}

async function main(): Promise<void> {
  const { formatProblem, inheritedPreloadParent, loadConfig, markPreloadParent } =
    await import('./config.js');
  const loaded = loadConfig();
  const { config } = loaded;
  // Decided before anything else loads: a process we do not instrument (disabled, or a child or
  // worker that inherited the preload) pays for reading its config only, not for the OTel API
  // and core (about 12 MiB and 40 ms, bench/results/startup.md).
  if (!config.enabled) return;
  if (inheritedPreloadParent() !== undefined && !config.inChildren) return;
  const { isMainThread } = await import('node:worker_threads');
  if (!isMainThread && !config.inWorkers) return;

  const { setupDiag } = await import('./diag.js');
  const { diag } = await import('@opentelemetry/api');
  setupDiag(loaded.diagLogLevel);
  for (const p of loaded.problems) diag.warn(formatProblem(p));
  // Children inherit NODE_OPTIONS (and so this preload): tell them they are children.
  markPreloadParent();

  // The modules the winston and lru-cache instrumentations hook (they name them in Hook()).
  const hooked = [
    ...(config.instrumentations.winston ? ['winston'] : []),
    ...(config.instrumentations.lruCache ? ['lru-cache'] : []),
  ];
  const esmHook =
    isMainThread && (await wantsEsmHook(diag, config.esmHook, hooked))
      ? await prepareEsmHook(diag, hooked)
      : undefined;
  const sdk = await import('./sdk.js');
  try {
    await sdk.startFromConfig(config, loaded.problems);
  } catch (err) {
    sdk.disableGlobals();
    throw err;
  }
  await esmHook?.activate();
  installExitHandling(sdk);
}

try {
  await main();
} catch (err) {
  const message = DISABLED(err instanceof Error ? err.message : String(err));
  try {
    const { diag, DiagConsoleLogger, DiagLogLevel } = await import('@opentelemetry/api');
    diag.setLogger(new DiagConsoleLogger(), {
      logLevel: DiagLogLevel.WARN,
      suppressOverrideMessage: true,
    });
    diag.warn(message);
  } catch {
    // Even the OTel API is unusable: say it directly, once.
    process.stderr.write(`${message}\n`);
  }
}
