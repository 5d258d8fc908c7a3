import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  codeCacheStatus,
  configureCodeCache,
  loadCommonJs,
  MAX_CACHE_FILES,
  saveCodeCache,
  saveCodeCacheAtExit,
  SCRATCH_BYTES,
  STALE_CACHE_MS,
  WRAPPER_PARAMS,
} from '../../../instrumentation/compile-cache.js';

// A CommonJS "bundle" as scripts/bundle.mjs emits core.cjs: require, import.meta.url and the
// importer come from compile-cache.ts' wrapper. What V8 does with a cache across processes (a hit,
// a rejected file rewritten) is tested on the real bundle in test/preload/code-cache.test.ts: in
// one process, V8's own compilation cache answers before the cached data is looked at.
const BUNDLE = `
const { basename } = require('node:path');
const parts = [];
for (let i = 0; i < 200; i++) parts.push(function part() { return i * 2; });
exports.name = basename(__filename);
exports.url = __echoesImportMetaUrl;
exports.sum = () => parts.reduce((s, f) => s + f(), 0);
exports.load = (spec) => __echoesImport(spec);
`;

// A gc() for the external-string test (runInNewContext('gc') below).
setFlagsFromString('--expose-gc');

let tmp: string;
let seq = 0;
const fresh = (): { file: URL; dir: string } => {
  const base = join(tmp, String(++seq));
  mkdirSync(base);
  const path = join(base, 'core.cjs');
  // Each its own source: V8's in-process compilation cache would otherwise answer for another.
  writeFileSync(path, `(function (${WRAPPER_PARAMS}) {${BUNDLE}// ${seq}\n})`);
  return { file: pathToFileURL(path), dir: join(base, 'cache') };
};
const importer = (s: string): Promise<unknown> => import(s);
const files = (dir: string): string[] => readdirSync(dir).sort();
type Loaded = { name: string; url: string; sum(): number; load(s: string): Promise<unknown> };

beforeEach(() => {
  tmp ??= mkdtempSync(join(tmpdir(), 'echoes-compile-cache-'));
  configureCodeCache(undefined);
});

afterAll(() => {
  configureCodeCache(undefined);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('loadCommonJs', () => {
  it('runs the file with require, its file URL as import.meta.url and the given importer', async () => {
    const { file } = fresh();
    const m = loadCommonJs(file, 'h1', importer) as Loaded;
    expect(codeCacheStatus()).toBe('off');
    expect(m.name).toBe('core.cjs');
    expect(m.url).toBe(file.href);
    expect(m.sum()).toBe(199 * 200);
    const os = (await m.load('node:os')) as { platform(): string };
    expect(os.platform()).toBe(process.platform);
  });

  it("keeps a large source outside V8's heap: an external string", async () => {
    const { file } = fresh();
    // 2 MB of comment: over the ~1 MB from which Node makes a latin1 string external. Read as
    // utf8, the same source is a string of V8's heap.
    const size = 2 * 1024 * 1024;
    writeFileSync(file, `(function (${WRAPPER_PARAMS}) {// ${'x'.repeat(size)}\n${BUNDLE}})`);
    // External memory other than array buffers (the buffer the file is read into is one): the
    // external strings, measured once that buffer is gone (a GC, and V8's sweeper of array
    // buffers, which runs on another thread).
    const gc = runInNewContext('gc') as () => void;
    const strings = async (): Promise<number> => {
      for (let i = 0; i < 50; i++) {
        gc();
        await delay(10);
        if (process.memoryUsage().arrayBuffers < SCRATCH_BYTES) break;
      }
      const { external, arrayBuffers } = process.memoryUsage();
      return external - arrayBuffers;
    };
    const before = await strings();
    const m = loadCommonJs(file, 'h1', importer) as Loaded;
    expect((await strings()) - before).toBeGreaterThanOrEqual(size);
    expect(m.sum()).toBe(199 * 200);
  });

  it('reads the files into buffers of their own size where the large one is refused', () => {
    const { file, dir } = fresh();
    configureCodeCache(dir);
    (loadCommonJs(file, 'h1', importer) as Loaded).sum();
    saveCodeCache();
    const real = Buffer.allocUnsafeSlow.bind(Buffer);
    const alloc = vi.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((size: number) => {
      if (size >= SCRATCH_BYTES) throw new RangeError('Array buffer allocation failed');
      return real(size);
    });
    try {
      const m = loadCommonJs(file, 'h1', importer) as Loaded;
      expect(codeCacheStatus()).toBe('hit');
      expect(m.sum()).toBe(199 * 200);
      // For each file the large one refused, then one of its size (this small file's cache is
      // larger than its source, so it needs its own; core.cjs' cache fits in its source's).
      expect(alloc.mock.calls.map(([size]) => size >= SCRATCH_BYTES)).toEqual([
        true,
        false,
        true,
        false,
      ]);
    } finally {
      alloc.mockRestore();
    }
  });

  it("reads the source and the cache through one buffer above glibc's largest mmap threshold", () => {
    const { file, dir } = fresh();
    configureCodeCache(dir);
    (loadCommonJs(file, 'h1', importer) as Loaded).sum();
    saveCodeCache();
    const alloc = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const m = loadCommonJs(file, 'h1', importer) as Loaded;
      expect(codeCacheStatus()).toBe('hit');
      expect(m.sum()).toBe(199 * 200);
      // One allocation for both files, larger than 32 MiB (DEFAULT_MMAP_THRESHOLD_MAX).
      expect(alloc.mock.calls).toEqual([[SCRATCH_BYTES]]);
      expect(SCRATCH_BYTES).toBeGreaterThan(32 * 1024 * 1024);
    } finally {
      alloc.mockRestore();
    }
  });

  it('writes the cache only when asked after startup, then loads from it', () => {
    const { file, dir } = fresh();
    configureCodeCache(dir);
    (loadCommonJs(file, 'h1', importer) as Loaded).sum();
    expect(codeCacheStatus()).toBe('miss');
    expect(() => statSync(dir)).toThrow();
    saveCodeCache();
    const [cache, ...rest] = files(dir);
    expect(rest, 'one file, no temporary left').toEqual([]);
    expect(cache).toMatch(/^core-[0-9a-f]{32}\.v8cache$/);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, cache!)).mode & 0o777).toBe(0o600);

    const m = loadCommonJs(file, 'h1', importer) as Loaded;
    expect(codeCacheStatus()).toBe('hit');
    expect(m.sum()).toBe(199 * 200);
    const { ino } = statSync(join(dir, cache!));
    saveCodeCache();
    expect(statSync(join(dir, cache!)).ino, 'a hit is not rewritten').toBe(ino);
  });

  it('rewrites the cache it wrote after startup once at exit, with the functions run since', () => {
    const { file, dir } = fresh();
    configureCodeCache(dir);
    const m = loadCommonJs(file, 'h1', importer) as Loaded;
    saveCodeCache();
    const [cache] = files(dir);
    const path = join(dir, cache!);
    const startup = statSync(path);
    // Compiled only now (V8 compiles a function at its first call): absent from the first write.
    expect(m.sum()).toBe(199 * 200);
    saveCodeCacheAtExit();
    const exit = statSync(path);
    expect(files(dir), 'one file, no temporary left').toEqual([cache]);
    expect(exit.ino, 'renamed into place').not.toBe(startup.ino);
    expect(exit.size).toBeGreaterThan(startup.size);
    saveCodeCacheAtExit();
    expect(statSync(path).ino, 'once').toBe(exit.ino);

    loadCommonJs(file, 'h1', importer);
    expect(codeCacheStatus()).toBe('hit');
    saveCodeCache();
    saveCodeCacheAtExit();
    expect(statSync(path).ino, 'a hit is not rewritten at exit either').toBe(exit.ino);
  });

  it('does not rewrite the cache at exit in a process older than the given uptime', () => {
    const { file, dir } = fresh();
    configureCodeCache(dir);
    (loadCommonJs(file, 'h1', importer) as Loaded).sum();
    saveCodeCache();
    const path = join(dir, files(dir)[0]!);
    const { ino } = statSync(path);
    saveCodeCacheAtExit(0);
    expect(statSync(path).ino).toBe(ino);
  });

  it('keeps one file per source hash', () => {
    const { file, dir } = fresh();
    configureCodeCache(dir);
    loadCommonJs(file, 'h1', importer);
    saveCodeCache();
    loadCommonJs(file, 'h2', importer);
    expect(codeCacheStatus()).toBe('miss');
    saveCodeCache();
    expect(files(dir)).toHaveLength(2);
  });

  it("removes other builds' caches older than STALE_CACHE_MS when it writes one, and nothing else", () => {
    const { file, dir } = fresh();
    mkdirSync(dir, { mode: 0o700 });
    const old = `core-${'a'.repeat(32)}.v8cache`;
    const recent = `core-${'b'.repeat(32)}.v8cache`;
    const oldTmp = `core-${'c'.repeat(32)}.v8cache.123.tmp`;
    const other = 'notes.txt';
    for (const f of [old, recent, oldTmp, other]) writeFileSync(join(dir, f), 'x');
    const aged = (Date.now() - STALE_CACHE_MS - 60_000) / 1000;
    for (const f of [old, oldTmp, other]) utimesSync(join(dir, f), aged, aged);
    configureCodeCache(dir);
    loadCommonJs(file, 'h1', importer);
    saveCodeCache();
    const left = files(dir);
    expect(left).toContain(recent);
    expect(left).toContain(other);
    expect(left).not.toContain(old);
    expect(left).not.toContain(oldTmp);
    expect(left.filter((f) => f.endsWith('.v8cache'))).toHaveLength(2);
  });

  it('keeps at most MAX_CACHE_FILES cache files, the newest', () => {
    const { file, dir } = fresh();
    mkdirSync(dir, { mode: 0o700 });
    const names = Array.from(
      { length: MAX_CACHE_FILES + 2 },
      (_, i) => `core-${i.toString(16).padStart(32, '0')}.v8cache`,
    );
    names.forEach((f, i) => {
      writeFileSync(join(dir, f), 'x');
      // Recent, one minute apart: the first is the oldest.
      const t = (Date.now() - (names.length - i) * 60_000) / 1000;
      utimesSync(join(dir, f), t, t);
    });
    configureCodeCache(dir);
    loadCommonJs(file, 'h1', importer);
    saveCodeCache();
    const left = files(dir);
    expect(left).toHaveLength(MAX_CACHE_FILES);
    // The one just written and the newest others.
    expect(left).toEqual(expect.arrayContaining(names.slice(names.length - (MAX_CACHE_FILES - 1))));
    expect(left).not.toContain(names[0]);
  });

  it('neither reads nor writes a cache in a directory others can write to', () => {
    const { file, dir } = fresh();
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    configureCodeCache(dir);
    loadCommonJs(file, 'h1', importer);
    saveCodeCache();
    expect(files(dir)).toEqual([]);
  });

  it('runs without a cache, silently, where the directory cannot be made', () => {
    const { file } = fresh();
    const blocker = join(tmp, `blocker-${seq}`);
    writeFileSync(blocker, '');
    configureCodeCache(join(blocker, 'cache'));
    const m = loadCommonJs(file, 'h1', importer) as Loaded;
    expect(codeCacheStatus()).toBe('miss');
    expect(() => saveCodeCache()).not.toThrow();
    expect(m.sum()).toBe(199 * 200);
  });
});
