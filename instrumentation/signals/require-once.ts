import Module from 'node:module';

/**
 * Three costs every InstrumentationBase adds to the `require`s of the app, paid once instead:
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
 * - **One main check per package directory.** For each file of a hooked package that loads, the
 *   hook checks whether it is its package's main with `require.resolve(name, { paths: [basedir]
 *   })` (new lookup-path arrays and a package scope walk each time): openai 5's ~100 files, ~100
 *   resolutions of `openai` from the same directory. A resolution with exactly that shape of
 *   options is answered once per parent module, id and directory, as long as it succeeds (Node's
 *   own path cache keeps a found file the same way; a failure is asked again).
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

/** Answers kept per parent module for one `{ paths: [dir] }` resolution shape, at most this many. */
export const MAX_PATH_ANSWERS = 1000;

/** The key of a resolution with options `{ paths: [dir] }` and nothing else; undefined otherwise. */
function pathsKey(request: string, options: unknown): string | undefined {
  if (typeof options !== 'object' || options === null) return undefined;
  const keys = Object.keys(options);
  const paths = (options as { paths?: unknown }).paths;
  if (keys.length !== 1 || !Array.isArray(paths) || paths.length !== 1) return undefined;
  const dir: unknown = paths[0];
  return typeof dir === 'string' ? `${request}\0${dir}` : undefined;
}

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
  const pathAnswers = new WeakMap<object, Map<string, string>>();
  M._resolveFilename = function resolveFilename(this: unknown, ...args) {
    const [req, par, isMain, options] = args;
    if (request !== undefined) {
      // Module._load's call passes isMain === false; require-in-the-middle's passes none.
      const same = req === request && par === parent && isMain === false && options === undefined;
      const known = filename;
      forget();
      if (same) return known;
    }
    const key = options === undefined ? undefined : pathsKey(req, options);
    if (key !== undefined && typeof par === 'object' && par !== null && isMain !== true) {
      let answers = pathAnswers.get(par);
      const known = answers?.get(key);
      if (known !== undefined) return known;
      const found = resolve.apply(this, args);
      if (answers === undefined) pathAnswers.set(par, (answers = new Map()));
      if (answers.size < MAX_PATH_ANSWERS) answers.set(key, found);
      return found;
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
