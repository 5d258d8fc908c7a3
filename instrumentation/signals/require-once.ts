import Module from 'node:module';

/**
 * Two costs every InstrumentationBase adds to each `require` of the app, made once instead:
 *
 * - **One resolution, not two.** require-in-the-middle (the hook all instrumentations share)
 *   resolves every required id itself, `Module._resolveFilename(id, parent)`, to find the file
 *   before it calls the `require` it wraps; Node's `Module._load` then resolves the same id for the
 *   same parent again, `Module._resolveFilename(id, parent, false)`. On the first load of each
 *   module both walk node_modules, read package.json files and stat candidates. Here the second
 *   call gets the first's answer: only the very next resolution, inside the same synchronous
 *   `require`, for the same id and parent, with no options; only Node's loader runs between the
 *   two (and on Node 24 a `module.require` diagnostics-channel subscriber, if the app has one).
 *   Any other resolution, and the end of that `require`, drop the answer, used or not. (On Node
 *   20 a `require.resolve(id)` in that window passes the arguments `Module._load` passes, and so
 *   gets the same answer Node would give it then.)
 * - **One package.json read per package.** InstrumentationBase's `_onRequire` reads and parses
 *   the package's package.json for its version on every file of a hooked package that loads:
 *   openai 5 loads ~100 files, so ~100 reads of a 20 KB file. The version of a directory is
 *   remembered (`memoizePackageVersions`).
 *
 * docs/performance.md, "require: one resolution, one package.json read".
 */

type ResolveFilename = (
  this: unknown,
  request: string,
  parent: unknown,
  isMain?: boolean,
  options?: unknown,
) => string;

interface ModuleInternals {
  _resolveFilename: ResolveFilename;
  prototype: { require: (this: unknown, id: string) => unknown };
}

let shared = false;

/**
 * Installs the shared resolution: after require-in-the-middle's hook (its `require` wrapper must be
 * the one this wraps), once. False when Node's internals are not as expected (nothing changed).
 */
export function setupResolveOnce(): boolean {
  if (shared) return true;
  const M = Module as unknown as ModuleInternals;
  const resolve = M._resolveFilename;
  const inner = M.prototype.require;
  if (typeof resolve !== 'function' || typeof inner !== 'function') return false;
  shared = true;
  // Set while a require of the app runs, until its first resolution (require-in-the-middle's).
  let armed = false;
  let request: string | undefined;
  let parent: unknown;
  let filename = '';
  const forget = (): void => {
    request = undefined;
    parent = undefined;
    filename = '';
  };
  M._resolveFilename = function resolveFilename(this: unknown, ...args) {
    const [req, par, isMain, options] = args;
    if (request !== undefined) {
      // Module._load's call passes isMain === false; require-in-the-middle's passes none.
      const same = req === request && par === parent && isMain === false && options === undefined;
      const known = filename;
      forget();
      if (same) return known;
    }
    const found = resolve.apply(this, args);
    if (armed) {
      armed = false;
      if (isMain === undefined && options === undefined) {
        request = req;
        parent = par;
        filename = found;
      }
    }
    return found;
  };
  M.prototype.require = function require(this: unknown, ...args: [string]) {
    armed = true;
    try {
      return inner.apply(this, args);
    } finally {
      armed = false;
      forget();
    }
  };
  return true;
}

interface VersionReader {
  _extractPackageVersion(baseDir: string): string | undefined;
}

const memoized = new WeakSet<object>();

/** InstrumentationBase's package.json version read, once per directory (see above). */
export function memoizePackageVersions(base: { prototype: object }): void {
  const proto = base.prototype as Partial<VersionReader>;
  const read = proto._extractPackageVersion;
  if (typeof read !== 'function' || memoized.has(proto)) return;
  memoized.add(proto);
  const versions = new Map<string, string | undefined>();
  proto._extractPackageVersion = function extractPackageVersion(this: VersionReader, baseDir) {
    if (versions.has(baseDir)) return versions.get(baseDir);
    const version = read.call(this, baseDir);
    // A failed read is not remembered: it warns, and the next file may find the file.
    if (version !== undefined) versions.set(baseDir, version);
    return version;
  };
}
