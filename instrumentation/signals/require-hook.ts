import { createRequire, isBuiltin } from 'node:module';
import { sep } from 'node:path';

/**
 * The require hook that every upstream instrumentation registers with
 * (`@opentelemetry/instrumentation`'s RequireInTheMiddleSingleton), narrowed to the packages
 * registered with it.
 *
 * Upstream's singleton is a require-in-the-middle hook for every module (`new Hook(null, {
 * internals: true })`): each file the app loads, of any package, is parsed into package and path,
 * and each file that is not its package's main is resolved once more with `require.resolve(name,
 * { paths: [basedir] })` (new lookup-path arrays, package.json reads), only for a name table to
 * find nothing. In an app that loads express, pg and openai that was 265 extra resolutions at
 * startup, and about 0.9 MB of their path strings promoted to the old generation before they died
 * (docs/performance.md, "Startup memory on Node 20", the shared require hook).
 *
 * Here the singleton's hook is a require-in-the-middle hook with a whitelist: the package names of
 * what is registered, kept in the very array the hook reads at each require (require-in-the-middle
 * checks `modules.includes(...)` per call), so a later `register` widens it. For a registered
 * package, the hook does what upstream's does (same names, same basedir, the same name-table
 * search); every other file returns after the package check.
 */

const require = createRequire(import.meta.url);

type OnRequire = (exports: unknown, name: string, basedir?: string) => unknown;

interface Trie {
  search(
    name: string,
    options: { maintainInsertionOrder: boolean; fullOnly: boolean },
  ): { onRequire: OnRequire }[];
}

interface SingletonProto {
  _moduleNameTrie: Trie;
  _initialize(): void;
  register(moduleName: string, onRequire: OnRequire): unknown;
}

interface SingletonClass {
  prototype: SingletonProto;
  _instance?: unknown;
  getInstance(): SharedRequireHook;
}

/** What an instrumentation of ours registers with: one module name and its hook. */
export interface SharedRequireHook {
  register(moduleName: string, onRequire: OnRequire): unknown;
}

function singletonClass(): SingletonClass {
  return (
    require('@opentelemetry/instrumentation/build/src/platform/node/RequireInTheMiddleSingleton.js') as {
      RequireInTheMiddleSingleton: SingletonClass;
    }
  ).RequireInTheMiddleSingleton;
}

/** The shared require hook every InstrumentationBase registers with, narrowed first. */
export function sharedRequireHook(): SharedRequireHook {
  narrowRequireHook();
  return singletonClass().getInstance();
}

/** The whitelist entry for a registered name: a builtin as it is, a package's name otherwise. */
export function packageOf(moduleName: string): string {
  if (isBuiltin(moduleName))
    return moduleName.startsWith('node:') ? moduleName.slice(5) : moduleName;
  const parts = moduleName.split('/');
  return moduleName.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? moduleName);
}

let narrowed: boolean | undefined;

/**
 * Narrows the singleton's hook before anything creates it. True when done (now or before); false
 * when the singleton already exists or its shape is not the one this knows (then upstream's hook
 * stays as it is).
 */
export function narrowRequireHook(): boolean {
  if (narrowed !== undefined) return narrowed;
  narrowed = false;
  try {
    const Singleton = singletonClass();
    const { Hook } = require('require-in-the-middle') as {
      Hook: new (modules: string[], options: { internals: boolean }, fn: OnRequire) => unknown;
    };
    const proto = Singleton.prototype;
    const register = proto.register;
    if (
      Singleton._instance !== undefined ||
      typeof proto._initialize !== 'function' ||
      typeof register !== 'function'
    ) {
      return false;
    }
    const packages = new WeakMap<SingletonProto, string[]>();
    proto._initialize = function initialize(this: SingletonProto): void {
      const names: string[] = [];
      packages.set(this, names);
      new Hook(names, { internals: true }, (exports, name, basedir) => {
        // As upstream's: a Windows path's separators as the name table's, and a builtin matched
        // on its whole name only (basedir is undefined for builtins).
        const normalized = sep === '/' ? name : name.split(sep).join('/');
        const matches = this._moduleNameTrie.search(normalized, {
          maintainInsertionOrder: true,
          fullOnly: basedir === undefined,
        });
        let out = exports;
        for (const { onRequire } of matches) out = onRequire(out, name, basedir);
        return out;
      });
    };
    proto.register = function registerNarrowed(
      this: SingletonProto,
      moduleName: string,
      onRequire: OnRequire,
    ): unknown {
      const names = packages.get(this);
      const name = packageOf(moduleName);
      if (names !== undefined && !names.includes(name)) names.push(name);
      return register.call(this, moduleName, onRequire);
    };
    narrowed = true;
  } catch {
    // A version without these internals: upstream's hook, unchanged.
  }
  return narrowed;
}
