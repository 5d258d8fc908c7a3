import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  memoizePackageVersions,
  setupResolveOnce,
} from '../../../../instrumentation/signals/require-once.js';

type Resolve = (request: string, parent: unknown, isMain?: boolean, options?: unknown) => string;
const M = Module as unknown as {
  _resolveFilename: Resolve;
  prototype: { require: (id: string) => unknown };
};

let tmp: string;
const saved = { resolve: M._resolveFilename, require: M.prototype.require };
/** Every resolution that reached Node's own resolver, by id. */
const resolved: string[] = [];
/** Run by the hook's stand-in between its resolution and the require it wraps. */
let between: ((id: string, parent: unknown) => void) | undefined;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'echoes-require-once-'));
  mkdirSync(join(tmp, 'node_modules/lib'), { recursive: true });
  writeFileSync(join(tmp, 'node_modules/lib/package.json'), '{"name":"lib","main":"main.js"}');
  writeFileSync(join(tmp, 'node_modules/lib/main.js'), "module.exports = require('./part');");
  writeFileSync(join(tmp, 'node_modules/lib/part.js'), "module.exports = 'lib part';");
  // Counting under everything, then require-in-the-middle's shape on top (it resolves each id
  // with two arguments, then calls the require it wraps), then ours.
  M._resolveFilename = function (this: unknown, ...args: Parameters<Resolve>) {
    resolved.push(args[0]);
    return saved.resolve.apply(this, args);
  };
  const inner = M.prototype.require;
  M.prototype.require = function (this: unknown, id: string) {
    M._resolveFilename(id, this);
    between?.(id, this);
    return inner.call(this, id);
  };
  expect(setupResolveOnce()).toBe(true);
});

afterAll(() => {
  M._resolveFilename = saved.resolve;
  M.prototype.require = saved.require;
  rmSync(tmp, { recursive: true, force: true });
});

describe('setupResolveOnce', () => {
  it('resolves each first load once where the require hook and Module._load both resolve it', () => {
    resolved.length = 0;
    const requireFrom = createRequire(join(tmp, 'app.js'));
    expect(requireFrom('lib')).toBe('lib part');
    // Without it: lib, lib, ./part, ./part.
    expect(resolved).toEqual(['lib', './part']);
  });

  it('does not keep an answer past its require', () => {
    // The second require of ./kept finds it in Node's relative-resolve cache: Module._load does
    // not resolve, so the hook's answer is left over until the require returns.
    const requireFrom = createRequire(join(tmp, 'kept-parent.js'));
    writeFileSync(join(tmp, 'kept.js'), "module.exports = 'js';");
    expect(requireFrom('./kept')).toBe('js');
    expect(requireFrom('./kept')).toBe('js');
    rmSync(join(tmp, 'kept.js'));
    writeFileSync(join(tmp, 'kept.json'), '"json"');
    // Node keeps its own path cache too; emptied, a resolution looks at the files again.
    const pathCache = (Module as unknown as { _pathCache: Record<string, string> })._pathCache;
    for (const key of Object.keys(pathCache)) delete pathCache[key];
    // Node 20's require.resolve passes Module._load's arguments: a left-over answer would be kept.js.
    expect(requireFrom.resolve('./kept')).toBe(join(tmp, 'kept.json'));
  });

  it('gives the answer to no resolution but the next one for the same id and parent without options', () => {
    const requireFrom = createRequire(join(tmp, 'options.js'));
    const cache = requireFrom.cache;
    for (const file of ['main.js', 'part.js']) delete cache[join(tmp, 'node_modules/lib', file)];
    between = (id, parent) => {
      if (id === 'lib') M._resolveFilename(id, parent, false, { paths: [tmp] });
    };
    try {
      resolved.length = 0;
      expect(requireFrom('lib')).toBe('lib part');
      // The hook's, the one with options (which drops the answer), then Module._load's again.
      expect(resolved).toEqual(['lib', 'lib', 'lib', './part']);
    } finally {
      between = undefined;
    }
  });

  it('answers a `{ paths: [dir] }` resolution once per parent, id and directory, and asks again after a failure', () => {
    const requireFrom = createRequire(join(tmp, 'main-check.js'));
    const other = createRequire(join(tmp, 'other-parent.js'));
    const main = join(tmp, 'node_modules/lib/main.js');
    resolved.length = 0;
    for (let i = 0; i < 3; i++) expect(requireFrom.resolve('lib', { paths: [tmp] })).toBe(main);
    expect(resolved).toEqual(['lib']);
    // another parent, another directory, other options: each reaches Node
    expect(other.resolve('lib', { paths: [tmp] })).toBe(main);
    expect(requireFrom.resolve('lib', { paths: [join(tmp, 'node_modules')] })).toBe(main);
    expect(requireFrom.resolve('lib', { paths: [tmp, tmp] })).toBe(main);
    expect(requireFrom.resolve('lib')).toBe(main);
    expect(resolved).toEqual(['lib', 'lib', 'lib', 'lib', 'lib']);
    // a failure is not kept: the package, once there, is found
    resolved.length = 0;
    const later = join(tmp, 'later');
    mkdirSync(later);
    expect(() => requireFrom.resolve('late-lib', { paths: [later] })).toThrow(/Cannot find module/);
    mkdirSync(join(later, 'node_modules/late-lib'), { recursive: true });
    writeFileSync(join(later, 'node_modules/late-lib/index.js'), 'module.exports = 1;');
    expect(requireFrom.resolve('late-lib', { paths: [later] })).toBe(
      join(later, 'node_modules/late-lib/index.js'),
    );
    expect(requireFrom.resolve('late-lib', { paths: [later] })).toBe(
      join(later, 'node_modules/late-lib/index.js'),
    );
    expect(resolved).toEqual(['late-lib', 'late-lib']);
  });

  it('is installed once', () => {
    const wrapper = M._resolveFilename;
    expect(setupResolveOnce()).toBe(true);
    expect(M._resolveFilename).toBe(wrapper);
  });
});

describe('memoizePackageVersions', () => {
  it('reads a directory’s version once, and tries again after a failed read', () => {
    const reads: string[] = [];
    class Base {
      _extractPackageVersion(baseDir: string): string | undefined {
        reads.push(baseDir);
        return baseDir === '/missing' ? undefined : `1.0.0 of ${baseDir}`;
      }
    }
    memoizePackageVersions(Base);
    memoizePackageVersions(Base);
    const a = new Base();
    const b = new Base();
    expect(a._extractPackageVersion('/x')).toBe('1.0.0 of /x');
    expect(b._extractPackageVersion('/x')).toBe('1.0.0 of /x');
    expect(a._extractPackageVersion('/y')).toBe('1.0.0 of /y');
    expect(a._extractPackageVersion('/missing')).toBeUndefined();
    expect(a._extractPackageVersion('/missing')).toBeUndefined();
    expect(reads).toEqual(['/x', '/y', '/missing', '/missing']);
  });
});
