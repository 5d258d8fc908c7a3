/**
 * A V8 code cache for the preload's core (dist/bundle/core.cjs, about 1.7 MB): compiling it is
 * most of what the preload costs before the SDK starts (docs/performance.md, "Startup").
 *
 * The bundle's core.js is a small generated ESM module that calls `loadCommonJs` on core.cjs;
 * register.ts calls `configureCodeCache` before importing it and `saveCodeCache` once the SDK has
 * started, so the cache holds the functions startup compiled lazily, not only the top level.
 * Only this one file is cached: Node's `module.enableCompileCache` would cache the whole app.
 *
 * The cache file's name carries the source's content hash (V8 itself only checks the source's
 * length), the Node version and V8's `cachedDataVersionTag()` (V8 version, flags and CPU
 * features), so Node 20 and 24 or runs with other V8 flags keep their own files. It is written
 * once, atomically (temporary file and rename), into a directory of this user's that nobody else
 * can write to; V8 rejecting it means one recompile and one rewrite. Nothing here throws or warns:
 * without a usable cache the core compiles as it would without one.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cachedDataVersionTag } from 'node:v8';
import { Script } from 'node:vm';

/**
 * The parameters of the function expression the bundle's text is (scripts/bundle.mjs writes the
 * wrapper into core.cjs, so the 1.7 MB source is not copied into a wrapped string at each start):
 * CommonJS' five, plus what the ESM-built sources need.
 */
export const WRAPPER_PARAMS =
  'exports, require, module, __filename, __dirname, __echoesImport, __echoesImportMetaUrl';

interface Pending {
  readonly script: Script;
  readonly file: string;
}

/** Other builds' caches (and stray temporaries) older than this go when a new one is written. */
export const STALE_CACHE_MS = 30 * 24 * 3600 * 1000;
/** At most this many cache files are kept (a few builds in use, each on Node 20 and 24). */
export const MAX_CACHE_FILES = 8;
const CACHE_FILE = /^core-[0-9a-f]{32}\.v8cache(?:\.\d+\.tmp)?$/;

/** What the last `loadCommonJs` did with the cache (diagnostics and tests). */
export type CodeCacheStatus = 'off' | 'miss' | 'hit' | 'rejected';

let cacheDir: string | undefined;
let pending: Pending | undefined;
/** The cache this process wrote after startup: rewritten once at exit (`saveCodeCacheAtExit`). */
let written: Pending | undefined;
let status: CodeCacheStatus = 'off';

/**
 * `saveCodeCacheAtExit` rewrites only in a process younger than this: V8 flushes the bytecode of
 * functions that have not run for a while (they are then absent from a cache made from it), and a
 * long-running service's startup functions would be the ones missing.
 */
export const EXIT_CACHE_MAX_UPTIME_MS = 60_000;

export function codeCacheStatus(): CodeCacheStatus {
  return status;
}

/** Where the cache lives (`ECHOES_CODE_CACHE_DIR`); undefined: no cache. Before `loadCommonJs`. */
export function configureCodeCache(dir: string | undefined): void {
  cacheDir = dir;
}

function cacheFileName(sourceHash: string, file: string): string {
  // The file's size and mtime too: a core.cjs edited in place after the build keeps its hash.
  const { size, mtimeMs } = statSync(file);
  const key = createHash('sha256')
    .update(
      `${sourceHash}\0${size}\0${mtimeMs}\0${process.version}\0${process.arch}\0${cachedDataVersionTag()}`,
    )
    .digest('hex')
    .slice(0, 32);
  return `core-${key}.v8cache`;
}

/** True when `dir` is ours and only ours to write (a cache is code: nobody else may plant one). */
function privateDir(dir: string): boolean {
  const st = statSync(dir);
  const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
  return st.isDirectory() && mine && (st.mode & 0o022) === 0;
}

/**
 * The size of the one buffer the source and the cache are read into: above glibc's largest
 * dynamic mmap threshold (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB on 64-bit Linux).
 *
 * glibc serves an allocation of 128 KiB or more with its own mmap, and when such a chunk is freed
 * it raises that threshold to the chunk's size, unless the chunk is larger than 32 MiB. The
 * buffers `readFileSync` made for core.cjs (1.6 MB) and its cache (1.1 MB), freed at the first
 * scavenge after the core loads, raised it to 1.6 MB: from then on every allocation below that
 * (V8's compiler zones, Node's file reads of the app's larger modules, V8's string table) came
 * from the brk heap, where freed memory stays resident. An express + pg + openai app peaked
 * 1.6-1.8 MiB higher on Node 20 for it (docs/performance.md, "Startup memory on Node 20").
 * A buffer this large is mmapped and unmapped without raising it; only the pages the files are read
 * into are ever touched (the rest is address space).
 */
export const SCRATCH_BYTES = 32 * 1024 * 1024 + 64 * 1024;

/** Reads `file` from the start into `scratch` (grown when the file is larger); its bytes. */
function readInto(file: string, scratch: { buf: Buffer | undefined }): Buffer {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (scratch.buf === undefined || scratch.buf.length < size) {
      try {
        scratch.buf = Buffer.allocUnsafeSlow(Math.max(SCRATCH_BYTES, size));
      } catch {
        // Address space refused (strict overcommit, a low `ulimit -v`): the file's size only.
        scratch.buf = Buffer.allocUnsafeSlow(size);
      }
    }
    const buf = scratch.buf;
    let read = 0;
    while (read < size) {
      const n = readSync(fd, buf, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buf.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function readCache(file: string, scratch: { buf: Buffer | undefined }): Buffer | undefined {
  try {
    if (!privateDir(dirname(file))) return undefined;
    return readInto(file, scratch);
  } catch {
    return undefined;
  }
}

/**
 * Loads a CommonJS bundle written as one function expression taking `WRAPPER_PARAMS` through
 * `vm.Script`, with the cached code when there is one.
 * `sourceHash` is the file's content hash, computed at build time (hashing 1.7 MB at every start
 * would cost what the cache saves). `importer` is the caller's `(s) => import(s)`: a script
 * compiled with cached data loses its dynamic import callback, so the bundle calls this instead.
 */
export function loadCommonJs(
  fileUrl: URL,
  sourceHash: string,
  importer: (specifier: string) => Promise<unknown>,
): unknown {
  const file = fileURLToPath(fileUrl);
  // The bundle is ASCII (scripts/bundle.mjs), so latin1 reads it exactly; and Node makes a latin1
  // string of over ~1 MB an external one, its bytes outside V8's heap (read as utf8, the 1.7 MB
  // source was a large object of the heap for the life of the process, and the heap's growth
  // with it): -5.7 MiB peak RSS for an app that loads express, pg and openai (docs/performance.md,
  // "The core's source outside V8's heap").
  // Both files through one scratch buffer (SCRATCH_BYTES): the source is copied out of it into
  // its string, then the cache is read over it and only used while V8 deserializes it.
  const scratch: { buf: Buffer | undefined } = { buf: undefined };
  const source = readInto(file, scratch).toString('latin1');
  const cacheFile =
    cacheDir === undefined ? undefined : join(cacheDir, cacheFileName(sourceHash, file));
  const cachedData = cacheFile === undefined ? undefined : readCache(cacheFile, scratch);
  const script = new Script(source, { filename: file, cachedData });
  pending = undefined;
  written = undefined;
  if (cacheFile === undefined) status = 'off';
  else if (cachedData === undefined) status = 'miss';
  else status = script.cachedDataRejected === true ? 'rejected' : 'hit';
  if (cacheFile !== undefined && status !== 'hit') pending = { script, file: cacheFile };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} as unknown };
  wrapper(
    module.exports,
    createRequire(file),
    module,
    file,
    dirname(file),
    importer,
    pathToFileURL(file).href,
  );
  return module.exports;
}

/** Writes the cache when the last load had none (or V8 rejected it); once, never throwing. */
export function saveCodeCache(): void {
  const p = pending;
  pending = undefined;
  if (p !== undefined && writeCache(p, true)) written = p;
}

/**
 * Rewrites, once, the cache this process wrote after startup, now that more of the core has run:
 * what the app's first work ran of our hooks, and the exit's collection, serialization and export.
 * A cache written after startup only leaves those to be compiled at every later start and exit
 * (about 6 ms of the exit of a short-lived app, docs/performance.md "Startup"). A process that
 * loaded a cache (a hit) writes nothing, nor one older than `maxUptimeMs`.
 */
export function saveCodeCacheAtExit(maxUptimeMs = EXIT_CACHE_MAX_UPTIME_MS): void {
  const p = written;
  written = undefined;
  if (p === undefined || process.uptime() * 1000 > maxUptimeMs) return;
  // Other builds' files were pruned by the first write.
  writeCache(p, false);
}

function writeCache(p: Pending, prune: boolean): boolean {
  const tmp = `${p.file}.${process.pid}.tmp`;
  try {
    const dir = dirname(p.file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!privateDir(dir)) return false;
    writeFileSync(tmp, p.script.createCachedData(), { flag: 'wx', mode: 0o600 });
    renameSync(tmp, p.file);
    if (prune) removeStale(dir, p.file);
    return true;
  } catch {
    // Read-only home, full disk, a race with another process: run without a cache.
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    return false;
  }
}

/**
 * A new build or Node version writes a new file; the old ones are left by the builds that still
 * use them (a hit never rewrites its file, so its mtime is its age). Pruned only here, on a miss:
 * files older than STALE_CACHE_MS, and beyond the MAX_CACHE_FILES newest (a developer's every
 * rebuild is a new key); a file still in use and removed is written again once.
 */
function removeStale(dir: string, keep: string): void {
  const before = Date.now() - STALE_CACHE_MS;
  const others: { path: string; mtimeMs: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (path === keep || !CACHE_FILE.test(name)) continue;
    try {
      others.push({ path, mtimeMs: statSync(path).mtimeMs });
    } catch {
      // another process removed it first
    }
  }
  others.sort((a, b) => b.mtimeMs - a.mtimeMs);
  others.forEach((f, i) => {
    if (f.mtimeMs >= before && i < MAX_CACHE_FILES - 1) return;
    try {
      unlinkSync(f.path);
    } catch {
      // another process removed it first
    }
  });
}
