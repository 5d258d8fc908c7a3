import { createRequire } from 'node:module';
import type * as Fs from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { diag, trace } from '@opentelemetry/api';

/**
 * Warns, once, when the app's own `@opentelemetry/api` cannot see the providers we registered.
 *
 * A copy of the API accepts a registered global only from a copy of the same major whose minor is
 * the same or newer than its own (its `isCompatible`). We register through the newest 1.x there is
 * (scripts/bundle.mjs, docs/api-compat.md), so every older copy accepts it; a copy newer than ours
 * (an app that upgraded before we did) silently gets no-op providers: spans not recording, an
 * all-zero trace id, nothing exported. Two cheap checks find such a copy:
 *
 * - every CommonJS copy, as Node loads its main file (`require`, and an ESM import of a 1.0-1.9
 *   copy, which Node loads through the CommonJS loader): `Module._extensions['.js']` is wrapped, so
 *   the cost for every other file is one string test; the verdict is the copy's own (does its
 *   `trace.getTracerProvider()` return ours?);
 * - the copy the app's entry resolves (for an ESM app on 1.10+, whose `dist/index.mjs` never
 *   passes the CommonJS loader): resolved and its version compared once, after startup, by the
 *   API's own rule. A nested ESM-only copy elsewhere, or an API inlined by the app's bundler, is
 *   not seen.
 */

const require = createRequire(import.meta.url);

/** A copy's main file, in the layouts of 1.0-1.9 (`build/src`) and 1.10 (`dist`). */
const MAIN_FILE =
  /^(.*[\\/]node_modules[\\/]@opentelemetry[\\/]api)[\\/](?:build[\\/]src[\\/]index\.js|dist[\\/]index\.cjs)$/;
const SEMVER = /^(\d+)\.(\d+)\.(\d+)(-(.+))?$/;

/**
 * Whether an API copy of `ownVersion` accepts a global registered by `globalVersion`: the rule of
 * `@opentelemetry/api`'s internal/semver.ts (same major; a 0.x or prerelease copy only its exact
 * version; otherwise a global of the same or a newer minor).
 */
export function apiAccepts(ownVersion: string, globalVersion: string): boolean {
  if (ownVersion === globalVersion) return true;
  const own = SEMVER.exec(ownVersion);
  const global = SEMVER.exec(globalVersion);
  if (own === null || global === null) return false;
  if (own[4] !== undefined || global[4] !== undefined) return false;
  if (own[1] !== global[1]) return false;
  if (own[1] === '0') return false;
  return Number(own[2]) <= Number(global[2]);
}

/** The version of the API global that copies of `major` read (undefined: none registered). */
function registeredVersion(major = '1'): string | undefined {
  const g = (globalThis as Record<symbol, { version?: unknown } | undefined>)[
    Symbol.for(`opentelemetry.js.api.${major}`)
  ];
  return typeof g?.version === 'string' ? g.version : undefined;
}

function packageVersion(dir: string): string | undefined {
  try {
    const { readFileSync } = require('node:fs') as typeof Fs;
    const v = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: unknown })
      .version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface ApiCompatCheck {
  /** Checks a copy's exports (any layout): warns if its `trace` does not return our provider. */
  checkExports(exports: unknown, dir: string): void;
  /** Checks the copy `entry` (a file path) would load, by version; false when there is none. */
  checkResolved(entry: string | undefined): boolean;
  /** Whether the warning was printed. */
  readonly warned: boolean;
}

export function createApiCompatCheck(
  warn: (message: string) => void = (m) => diag.warn(m),
): ApiCompatCheck {
  let warned = false;
  const checked = new Set<string>();
  const report = (dir: string, appVersion: string | undefined): void => {
    if (warned) return;
    warned = true;
    const major = appVersion?.split('.')[0] ?? '1';
    const ours = registeredVersion('1') ?? 'unknown';
    const app = appVersion ?? 'of an unknown version';
    warn(
      `echoes-otel: the app's @opentelemetry/api ${app} (${dir}) cannot see the providers echoes-otel registered through @opentelemetry/api ${ours}` +
        `${major !== '1' ? ' (another major version)' : ''}: an API copy accepts only a provider registered by the same or a newer minor version, ` +
        `so its spans are not recording and its metrics are not exported. ` +
        `Install @opentelemetry/api@${ours} (or any 1.x up to it) in the app, or upgrade echoes-otel to a release that bundles ${app} or newer`,
    );
  };
  return {
    checkExports(exports, dir) {
      if (warned || checked.has(dir)) return;
      const appTrace = (exports as { trace?: { getTracerProvider?: () => unknown } } | undefined)
        ?.trace;
      if (typeof appTrace?.getTracerProvider !== 'function') return;
      checked.add(dir);
      // Nothing registered (started disabled, or another SDK's global under ours): not our case.
      if (registeredVersion() === undefined) return;
      if (appTrace.getTracerProvider() !== trace.getTracerProvider()) {
        report(dir, packageVersion(dir));
      }
    },
    checkResolved(entry) {
      let file: string;
      try {
        const from = entry !== undefined ? resolve(entry) : join(process.cwd(), 'noop.js');
        file = createRequire(pathToFileURL(from)).resolve('@opentelemetry/api');
      } catch {
        return false; // the app has no copy: nothing to say
      }
      const at = file.lastIndexOf(`${sep}@opentelemetry${sep}api${sep}`);
      if (at < 0) return false;
      const dir = file.slice(0, at + `${sep}@opentelemetry${sep}api`.length);
      if (warned || checked.has(dir)) return true;
      checked.add(dir);
      const appVersion = packageVersion(dir);
      const major = appVersion?.split('.')[0];
      const globalVersion = registeredVersion(major);
      if (registeredVersion() === undefined || appVersion === undefined) return true;
      if (globalVersion === undefined || !apiAccepts(appVersion, globalVersion)) {
        report(dir, appVersion);
      }
      return true;
    },
    get warned() {
      return warned;
    },
  };
}

type LoadFn = (module: { exports: unknown }, filename: string) => unknown;
interface ModuleStatics {
  _extensions: Record<string, LoadFn>;
}

let installed: (() => void) | undefined;

/**
 * Installs both checks (idempotent): the CommonJS load hook now, the entry's copy once the
 * current startup is over (an unref'd timer: never holds the process). Returns the uninstall.
 */
export function setupApiCompat(
  check: ApiCompatCheck = createApiCompatCheck(),
  entry: string | undefined = process.argv[1],
): () => void {
  if (installed !== undefined) return installed;
  const Module = require('node:module') as ModuleStatics;
  const original = Module._extensions['.js'];
  if (typeof original !== 'function') return () => undefined;
  const wrapped: LoadFn = function echoesOtelApiCheck(this: unknown, module, filename) {
    const result = original.call(this, module, filename);
    // Only the API's main files (a `.cjs` file loads through this '.js' handler too); every
    // other file costs this one test.
    if (typeof filename === 'string' && filename.includes('@opentelemetry')) {
      const m = MAIN_FILE.exec(filename);
      if (m !== null) {
        try {
          check.checkExports(module.exports, m[1]!);
        } catch {
          // a check must never break the app's require
        }
      }
    }
    return result;
  };
  Module._extensions['.js'] = wrapped;
  const timer = setTimeout(() => {
    try {
      check.checkResolved(entry);
    } catch {
      // best effort
    }
  }, 0);
  timer.unref();
  installed = () => {
    clearTimeout(timer);
    if (Module._extensions['.js'] === wrapped) Module._extensions['.js'] = original;
    installed = undefined;
  };
  return installed;
}
