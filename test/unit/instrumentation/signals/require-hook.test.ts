import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { narrowRequireHook, packageOf } from '../../../../instrumentation/signals/require-hook.js';

const require = createRequire(import.meta.url);
type OnRequire = (exports: unknown, name: string, basedir?: string) => unknown;
const { RequireInTheMiddleSingleton } =
  require('@opentelemetry/instrumentation/build/src/platform/node/RequireInTheMiddleSingleton.js') as {
    RequireInTheMiddleSingleton: {
      getInstance(): { register(name: string, fn: OnRequire): unknown };
    };
  };

type Resolve = (request: string, parent: unknown, isMain?: boolean, options?: unknown) => string;
const M = Module as unknown as { _resolveFilename: Resolve; prototype: { require: unknown } };
const saved = { resolve: M._resolveFilename, require: M.prototype.require };
/** Resolutions with options (the hook's main checks), by id. */
const checks: string[] = [];

let tmp: string;

function pkg(name: string, files: Record<string, string>): void {
  const dir = join(tmp, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.2.3' }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'echoes-require-hook-'));
  pkg('hooked-lib', {
    'index.js': "module.exports = { part: require('./part') };",
    'part.js': 'module.exports = 1;',
  });
  pkg('other-lib', {
    'index.js': "module.exports = { part: require('./part') };",
    'part.js': 'module.exports = 2;',
  });
  pkg('late-lib', { 'index.js': 'module.exports = { late: true };' });
  M._resolveFilename = function (this: unknown, ...args: Parameters<Resolve>) {
    if (args[3] !== undefined) checks.push(args[0]);
    return saved.resolve.apply(this, args);
  };
});

afterAll(() => {
  M._resolveFilename = saved.resolve;
  M.prototype.require = saved.require;
  rmSync(tmp, { recursive: true, force: true });
});

describe('packageOf', () => {
  it('is the package of a module name, or the builtin itself', () => {
    expect(packageOf('pg')).toBe('pg');
    expect(packageOf('pg/lib/client')).toBe('pg');
    expect(packageOf('@redis/client/dist/lib/client')).toBe('@redis/client');
    expect(packageOf('@redis/client')).toBe('@redis/client');
    expect(packageOf('fs')).toBe('fs');
    expect(packageOf('node:fs')).toBe('fs');
    expect(packageOf('fs/promises')).toBe('fs/promises');
  });
});

describe('narrowRequireHook', () => {
  it('hooks the registered packages as upstream does, and checks no other package', () => {
    expect(narrowRequireHook()).toBe(true);
    expect(narrowRequireHook()).toBe(true);
    const seen: [string, string | undefined][] = [];
    const singleton = RequireInTheMiddleSingleton.getInstance();
    singleton.register('hooked-lib', (exports, name, basedir) => {
      seen.push([name, basedir]);
      return name === 'hooked-lib' ? { ...(exports as object), patched: true } : exports;
    });
    const requireFrom = createRequire(join(tmp, 'app.js'));
    checks.length = 0;
    expect(requireFrom('hooked-lib')).toEqual({ part: 1, patched: true });
    const base = join(tmp, 'node_modules', 'hooked-lib');
    // The package's main, and its internal file by its path in the package (internals: true).
    expect(seen).toEqual([
      ['hooked-lib/part.js', base],
      ['hooked-lib', base],
    ]);
    // the main check of part.js, as upstream's hook makes it
    expect(checks).toEqual(['hooked-lib']);
    // A second require gets the patched exports from the hook's cache.
    expect(requireFrom('hooked-lib')).toEqual({ part: 1, patched: true });

    // An unregistered package: no main check for its internal file, no hook call.
    checks.length = 0;
    seen.length = 0;
    expect(requireFrom('other-lib')).toEqual({ part: 2 });
    expect(checks).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('widens with each later registration', () => {
    const singleton = RequireInTheMiddleSingleton.getInstance();
    const seen: string[] = [];
    singleton.register('late-lib', (exports, name) => {
      seen.push(name);
      return exports;
    });
    expect(createRequire(join(tmp, 'app.js'))('late-lib')).toEqual({ late: true });
    expect(seen).toEqual(['late-lib']);
  });
});
