/**
 * What register does once it has decided to instrument this process (register.ts makes that
 * decision on its config alone): diag logger, the ESM import hook, the SDK, exit handling. One
 * module with the public API in the bundle (core.ts), so the preload and `import ... from
 * 'echoes-otel'` share one SDK.
 */
import * as nodeModule from 'node:module';
import {
  entryProbe,
  formatProblem,
  markPreloadParent,
  type LoadedConfig,
} from './config/config.js';
import { diag, setupDiag } from './export/diag.js';
import { libraryModules } from './signals/library-table.js';
import * as sdkModule from './sdk.js';
import type { EsmHookMode } from './types.js';

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
 * the message channel, their messages wait in it), `activate` after, so nothing the SDK loads
 * passes through the hook (unbundled, ~200 modules, each a round trip to Node 20's loader
 * thread); the app's modules, loaded after this preload, all do.
 */
interface EsmHook {
  /** Registers the hook; resolves once the loader has acknowledged the modules to patch. */
  activate(): Promise<void>;
}

async function prepareEsmHook(include: readonly string[]): Promise<EsmHook | undefined> {
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
async function wantsEsmHook(mode: EsmHookMode, include: readonly string[]): Promise<boolean> {
  if (include.length === 0 || mode === 'off') return false;
  if (mode === 'on') return true;
  const { entryFormat } = await import('./config/entry-format.js');
  const entry = entryFormat(entryProbe());
  if (entry.format !== 'commonjs') return true;
  diag.debug(
    `echoes-otel: no ESM import hook (${entry.why}): require() of ${include.join(' and ')} is instrumented, import() of them is not unless ECHOES_ESM_HOOK=on`,
  );
  return false;
}

/** `afterShutdown` runs once the exit's shutdown has settled, before the process ends. */
function installExitHandling(
  { currentEchoes, shutdownEchoes }: typeof sdkModule,
  afterShutdown: () => void,
): void {
  const settled = (): void => {
    try {
      afterShutdown();
    } catch {
      // never in the way of the exit
    }
  };
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
      settled();
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
      settled();
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

export async function runRegister(
  loaded: LoadedConfig,
  isMainThread: boolean,
  afterShutdown: () => void = () => {},
): Promise<void> {
  const { config } = loaded;
  setupDiag(loaded.diagLogLevel);
  for (const p of loaded.problems) diag.warn(formatProblem(p));
  // Children inherit NODE_OPTIONS (and so this preload): tell them they are children.
  markPreloadParent();

  // The modules the winston and lru-cache instrumentations hook (they name them in Hook()), and
  // the client libraries instrumented on their first load (library-table.ts).
  const hooked = [
    ...(config.instrumentations.winston ? ['winston'] : []),
    ...(config.instrumentations.lruCache ? ['lru-cache'] : []),
    // Route hooks (http-frameworks.ts); fastify needs none, it publishes a diagnostics channel.
    ...(config.instrumentations.http && config.instrumentations.express ? ['express'] : []),
    ...(config.instrumentations.http && config.instrumentations.koa ? ['koa'] : []),
    ...libraryModules(config),
  ];
  const esmHook =
    isMainThread && (await wantsEsmHook(config.esmHook, hooked))
      ? await prepareEsmHook(hooked)
      : undefined;
  try {
    await sdkModule.startFromConfig(config, loaded.problems);
  } catch (err) {
    sdkModule.disableGlobals();
    throw err;
  }
  await esmHook?.activate();
  installExitHandling(sdkModule, afterShutdown);
}
