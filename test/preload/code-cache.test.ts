import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';
import { killAll, quietPreloadEnv, requireBuilt, spawnNode } from '../helpers/spawn.js';

// The preload compiles dist/bundle/core.cjs through compile-cache.ts with a V8 code cache in a
// per-user directory (ECHOES_CODE_CACHE_DIR, default $XDG_CACHE_HOME/echoes-otel). Each run is a
// new process, so V8 really reads (or rejects) the file; the app checks the SDK started and, as an
// ES module, that the import hook (import.meta.url, the importer) was registered without a word.

const API = join(REPO_ROOT, 'node_modules/@opentelemetry/api/build/src/index.js');
const APP = `
import { createRequire } from 'node:module';
const api = createRequire(import.meta.url)(${JSON.stringify(API)});
const span = api.trace.getTracer('t').startSpan('s');
console.log('RECORDING ' + span.isRecording());
span.end();
`;

let tmp: string;
let seq = 0;

beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-code-cache-'));
});

afterAll(() => {
  killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function run(node: string, env: Record<string, string>, app = APP): Promise<string> {
  const cwd = join(tmp, `run-${++seq}`);
  mkdirSync(cwd);
  const child = spawnNode(node, ['--import', REGISTER, '--input-type=module', '-e', app], {
    cwd,
    env: quietPreloadEnv(join(cwd, 'logs'), env),
  });
  const exit = await child.exited;
  expect(exit.code, child.stderr()).toBe(0);
  // Nothing said: not the cache, not the hook, not a telemetry-disabled fallback.
  expect(child.stderr()).toBe('');
  expect(child.stdout()).toContain('RECORDING true');
  return child.stdout();
}

const cacheFiles = (dir: string): string[] =>
  readdirSync(dir).filter((f) => f.endsWith('.v8cache'));

describe.each(NODE_BINARIES)('the code cache of the core under $label', ({ path: node }) => {
  it('is written at the first start into XDG_CACHE_HOME/echoes-otel and read, unchanged, at the next', async () => {
    const xdg = join(tmp, `xdg-${seq}`);
    await run(node, { XDG_CACHE_HOME: xdg });
    const dir = join(xdg, 'echoes-otel');
    expect(readdirSync(dir), 'one cache file, no temporary left').toHaveLength(1);
    const [file] = cacheFiles(dir);
    expect(file).toMatch(/^core-[0-9a-f]{32}\.v8cache$/);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const path = join(dir, file!);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).size).toBeGreaterThan(100_000);
    const { ino } = statSync(path);
    await run(node, { XDG_CACHE_HOME: xdg });
    // A hit is not rewritten (a rewrite renames a new file into place).
    expect(statSync(path).ino).toBe(ino);
  });

  it("is rewritten at the first process' exit with the exit's code in it, not when the app ends it with process.exit()", async () => {
    // process.exit() skips beforeExit, so no shutdown runs: the cache stays the one written after
    // startup, without the shutdown's functions.
    const cut = join(tmp, `cut-${seq}`);
    await run(node, { ECHOES_CODE_CACHE_DIR: cut }, `${APP}\nprocess.exit(0);\n`);
    const natural = join(tmp, `natural-${seq}`);
    await run(node, { ECHOES_CODE_CACHE_DIR: natural });
    const size = (dir: string): number => statSync(join(dir, cacheFiles(dir)[0]!)).size;
    expect(readdirSync(natural), 'one cache file, no temporary left').toHaveLength(1);
    // Measured: about 30 KB more on Node 20 and 24; two runs alike differ by some 100 bytes.
    expect(size(natural)).toBeGreaterThan(size(cut) + 10_000);
  });

  it('recompiles past a cache V8 rejects and rewrites it once', async () => {
    const dir = join(tmp, `dir-${seq}`);
    await run(node, { ECHOES_CODE_CACHE_DIR: dir });
    const path = join(dir, cacheFiles(dir)[0]!);
    const garbage = Buffer.alloc(statSync(path).size, 7);
    writeFileSync(path, garbage);
    await run(node, { ECHOES_CODE_CACHE_DIR: dir });
    expect(readFileSync(path).equals(garbage)).toBe(false);
    const { ino } = statSync(path);
    await run(node, { ECHOES_CODE_CACHE_DIR: dir });
    expect(statSync(path).ino, 'the rewritten cache is accepted').toBe(ino);
  });

  it('is not used with ECHOES_CODE_CACHE_DIR=off, in a directory others can write, or where none can be made', async () => {
    const xdg = join(tmp, `xdg-off-${seq}`);
    await run(node, { XDG_CACHE_HOME: xdg, ECHOES_CODE_CACHE_DIR: 'off' });
    expect(() => statSync(xdg)).toThrow();

    const shared = join(tmp, `shared-${seq}`);
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    await run(node, { ECHOES_CODE_CACHE_DIR: shared });
    expect(readdirSync(shared)).toEqual([]);

    const blocker = join(tmp, `blocker-${seq}`);
    writeFileSync(blocker, '');
    await run(node, { ECHOES_CODE_CACHE_DIR: join(blocker, 'cache') });
  });
});
