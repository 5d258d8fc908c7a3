import * as nodeFs from 'node:fs';
import { createRequire } from 'node:module';
import type DailyRotateFileType from 'winston-daily-rotate-file';
import { join } from 'node:path';
import { createLogRetention } from './log-retention.js';

const require = createRequire(import.meta.url);
// Loaded at the first batch of lines, not at startup: DRF, file-stream-rotator and moment cost
// about 2 MiB and 10-25 ms of CPU, which a process that logs nothing (or only at the production
// `warn` level, rarely) need not pay. The transport module itself, not the package index: the
// index `require('winston')`s to register itself on `winston.transports`, which would load
// winston's logger.js before instrumentation-winston is enabled and leave the app's winston
// loggers unpatched.
let DailyRotateFile: typeof DailyRotateFileType | undefined;

/**
 * Local JSON log files: winston-daily-rotate-file (DRF 5.0) as the file writer, with the
 * workarounds measured here (docs/logging.md, "Faults" and "Shutdown"):
 *
 * - DRF's constructor throws on a bad `dirname` (a path under a regular file): caught, the sink
 *   starts broken (lines go to `fallback`, counted as dropped) and warns once.
 * - Write errors (ENOSPC, ENOTDIR, EACCES) surface on `transport.logStream`, an EventEmitter proxy
 *   that DRF never listens on, so an unhandled 'error' would kill the host. We listen there; the
 *   proxy stays the same object across rotations and re-emits every inner stream's errors.
 * - A burst in one tick rotates without gzipping (DRF checks `existsSync(oldFile)` before the new
 *   stream has even opened) and DRF gzips a rotated file while its stream may still be flushing.
 *   So DRF's own `zippedArchive` is off; `sweep()` gzips rotated files only once every superseded
 *   stream has closed, prunes beyond `backupCount + 1` files (DRF only prunes what its audit lists)
 *   and runs off the hot path: after rotations, at the first write (restarts) and at close.
 * - `auditFile` is pinned (`.<name>-audit.json` in the log dir) so changing options never orphans
 *   files; `maxFiles` is `backupCount + 1` because DRF counts the active file.
 *
 * Lines are batched (pino/sonic-boom style): `write()` encodes the line as UTF-8 into a 64 KiB
 * Buffer; one `logStream.write` of that Buffer when it is full or at the end of the event-loop
 * turn. Every fs write goes through a wrapped `fs` implementation (`fs.createWriteStream`'s `fs`
 * option, passed through DRF), which is how `flush()` knows when every accepted byte is on disk
 * and how `echoes.log.written{log.sink=file}` counts real bytes.
 */
export interface LogFileSinkOptions {
  readonly dir: string;
  /** Base name: files are `<name>-YYYY-MM-DD.log[.N][.gz]` (UTC dates). */
  readonly name: string;
  readonly maxBytes: number;
  readonly backupCount: number;
  readonly gzip: boolean;
  /** Where lines go while the file sink is broken (e.g. stderr when console output is off). */
  readonly fallback?: ((chunk: string) => void) | undefined;
  readonly onWritten?: (bytes: number) => void;
  readonly onRotate?: () => void;
  readonly onDropped?: (reason: DropReason, lines: number) => void;
  readonly warn?: (message: string) => void;
  /** Test seam: the fs functions the write streams use (to inject faults). */
  readonly fsImpl?: Partial<Pick<typeof nodeFs, 'open' | 'write' | 'writev' | 'close'>>;
  /** Delay before reopening after a write error (doubles up to 60 s). Default 5000. */
  readonly retryMs?: number;
  /** Batch size in bytes (bench seam: 1 writes every line on its own). */
  readonly chunkBytes?: number;
}

/** `closed`: a line arrived after `close()` (e.g. logged during the app's own exit handling). */
export type DropReason = 'sink_error' | 'disk_full' | 'closed';

export interface LogFileSink {
  /** Accepts one line, `\n` included. Never throws. */
  write(line: string): void;
  /** Resolves when every line accepted so far is written (or known lost). */
  flush(): Promise<void>;
  /** Flushes, ends the stream, waits for it to close, then sweeps. Idempotent. */
  close(): Promise<void>;
  /** Gzip rotated files and prune beyond the limit (also runs by itself). */
  sweep(): Promise<void>;
  readonly healthy: boolean;
}

const CHUNK_BYTES = 64 * 1024;
/** A batch this small is copied out so that its slab is reused (no 64 KiB allocation per turn). */
const SLAB_KEEP_BYTES = 8 * 1024;
const MAX_RETRY_MS = 60_000;

interface RotatorProxy {
  write(chunk: Buffer): void;
  end(): void;
  on(event: string, fn: (...args: never[]) => void): unknown;
  auditLog?: { files?: Array<{ name: string }> } | null;
}

export function createLogFileSink(opts: LogFileSinkOptions): LogFileSink {
  const warned = new Set<string>();
  const warnOnce = (key: string, msg: string): void => {
    if (warned.has(key)) return;
    warned.add(key);
    try {
      opts.warn?.(msg);
    } catch {
      // a throwing warn hook must not reach the app
    }
  };
  const retryBase = opts.retryMs ?? 5000;
  // DRF checks the size before each write, so a file overshoots maxBytes by at most one chunk.
  const chunkBytes =
    opts.chunkBytes ?? Math.max(1024, Math.min(CHUNK_BYTES, Math.floor(opts.maxBytes / 8)));

  // Lines waiting for the next batch, UTF-8 encoded into `slab[0, used)`.
  let slab: Buffer | undefined;
  let used = 0;
  let slabLines = 0;
  let scheduled = false;
  let proxy: RotatorProxy | undefined;
  let broken: DropReason | undefined;
  let closed = false;
  let ending = false;
  let recovering = false;
  let retryMs = retryBase;
  let retryTimer: NodeJS.Timeout | undefined;
  let opened = false;

  // Byte accounting for flush(): submitted vs done (written or known lost).
  let submitted = 0;
  let done = 0;
  let linesSubmitted = 0;
  let waiters: Array<{ target: number; resolve: () => void }> = [];
  // Streams opened vs closed: rotated files are gzipped only once all superseded streams closed.
  // Counted from DRF's events: one stream at construction, one more per 'rotate'.
  let streamsCreated = 0;
  let streamsClosed = 0;
  let activeFile: string | undefined;

  // Each flush waits for the bytes submitted when it was called, not for an app that keeps logging.
  const notify = (): void => {
    if (waiters.length === 0) return;
    const still: Array<{ target: number; resolve: () => void }> = [];
    for (const w of waiters) {
      if (done >= w.target) w.resolve();
      else still.push(w);
    }
    waiters = still;
  };

  const countingFs = {
    open: opts.fsImpl?.open ?? nodeFs.open,
    close: opts.fsImpl?.close ?? nodeFs.close,
    write(
      fd: number,
      buf: Buffer,
      off: number,
      len: number,
      pos: number | null,
      cb: (e: NodeJS.ErrnoException | null, n: number, b: Buffer) => void,
    ) {
      const write = (opts.fsImpl?.write ?? nodeFs.write) as typeof nodeFs.write;
      write(fd, buf, off, len, pos, (err, n, b) => {
        if (!err) bytesDone(n);
        cb(err, n, b);
      });
    },
    writev(
      fd: number,
      bufs: NodeJS.ArrayBufferView[],
      pos: number | null,
      cb: (e: NodeJS.ErrnoException | null, n: number, b: NodeJS.ArrayBufferView[]) => void,
    ) {
      const writev = (opts.fsImpl?.writev ?? nodeFs.writev) as typeof nodeFs.writev;
      writev(fd, bufs, pos, (err, n, b) => {
        if (!err) bytesDone(n);
        cb(err, n, b);
      });
    },
  };

  function bytesDone(n: number): void {
    done += n;
    if (recovering) {
      recovering = false;
      warned.clear();
      warnOnce('recovered', `echoes-otel: log files in ${opts.dir} are writable again`);
    }
    try {
      opts.onWritten?.(n);
    } catch {
      // metrics must not break writing
    }
    notify();
  }

  function onStreamError(err: NodeJS.ErrnoException): void {
    const reason: DropReason = err?.code === 'ENOSPC' ? 'disk_full' : 'sink_error';
    warnOnce(
      `error:${err?.code}`,
      `echoes-otel: log file writes to ${opts.dir} failed (${err?.code ?? err?.message}); lines are counted in echoes.log.dropped{reason=${reason}}${opts.fallback ? ' and written to the fallback stream' : ''}; retrying in ${retryMs} ms`,
    );
    // What the dead stream held is lost: estimate lines from the average line size.
    const lostBytes = submitted - done;
    if (lostBytes > 0) {
      const avg = linesSubmitted > 0 ? submitted / linesSubmitted : 1;
      dropped(reason, Math.max(1, Math.round(lostBytes / avg)));
      done = submitted;
      notify();
    }
    broken = reason;
    proxy = undefined;
    scheduleRetry();
  }

  function dropped(reason: DropReason, lines: number): void {
    try {
      opts.onDropped?.(reason, lines);
    } catch {
      // ignore
    }
  }

  function scheduleRetry(): void {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (closed) return;
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      open();
    }, retryMs);
    retryTimer.unref();
  }

  function open(): void {
    let transport: { logStream: RotatorProxy };
    try {
      DailyRotateFile ??=
        require('winston-daily-rotate-file/daily-rotate-file.js') as typeof DailyRotateFileType;
      transport = new DailyRotateFile({
        dirname: opts.dir,
        filename: `${opts.name}-%DATE%.log`,
        datePattern: 'YYYY-MM-DD',
        utc: true,
        maxSize: Math.max(1024, opts.maxBytes),
        maxFiles: opts.backupCount + 1,
        zippedArchive: false,
        auditFile: join(opts.dir, `.${opts.name}-audit.json`),
        auditHashType: 'sha256',
        options: { flags: 'a', fs: countingFs },
      } as never) as unknown as { logStream: RotatorProxy };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      broken = 'sink_error';
      warnOnce(
        `ctor:${e?.code}`,
        `echoes-otel: cannot open log files in ${opts.dir} (${e?.code ?? e?.message}); file logging is off, lines are counted in echoes.log.dropped{reason=sink_error}${opts.fallback ? ' and written to the fallback stream' : ''}`,
      );
      scheduleRetry();
      return;
    }
    const p = transport.logStream;
    // DRF's transport is a winston Transport whose own 'error' nobody listens to either.
    (transport as unknown as { on(e: string, f: () => void): void }).on('error', () => undefined);
    p.on('error', (err: NodeJS.ErrnoException) => {
      if (proxy === p) onStreamError(err);
    });
    // FSR emits 'new' synchronously in its constructor (we are too late for that one), so read
    // the active file from its audit, then follow 'new'.
    activeFile = p.auditLog?.files?.at(-1)?.name ?? activeFile;
    p.on('new', (file: string) => {
      activeFile = file;
    });
    streamsCreated = 1;
    streamsClosed = 0;
    p.on('close', () => {
      if (proxy !== p && !closed) return;
      streamsClosed++;
      requestSweep();
    });
    p.on('rotate', () => {
      if (proxy === p) streamsCreated++;
      try {
        opts.onRotate?.();
      } catch {
        // ignore
      }
    });
    proxy = p;
    // Recovery is announced by the first write that lands, not by a reopen that may fail again.
    if (broken) recovering = true;
    broken = undefined;
    retryMs = retryBase;
    requestSweep();
  }

  function drain(): void {
    scheduled = false;
    if (used === 0) return;
    // A small batch is copied out (pooled allocation) and the slab kept for the next turn; a big
    // one hands the slab itself to the stream, which holds it until written.
    let chunk: Buffer;
    if (used <= SLAB_KEEP_BYTES) {
      chunk = Buffer.from(slab!.subarray(0, used));
    } else {
      chunk = slab!.subarray(0, used);
      slab = undefined;
    }
    const lines = slabLines;
    used = 0;
    slabLines = 0;
    submit(chunk, lines);
  }

  function submit(chunk: Buffer, lines: number): void {
    // The file opens with the first batch (usually submitted at the end of the turn, off the
    // app's write path), so a process that logs nothing opens no file and loads no writer.
    if (!opened && !closed) {
      opened = true;
      open();
    }
    if (proxy === undefined || ending) {
      dropped(ending || closed ? 'closed' : (broken ?? 'sink_error'), lines);
      if (opts.fallback) {
        try {
          opts.fallback(chunk.toString('utf8'));
        } catch {
          // ignore
        }
      }
      return;
    }
    submitted += chunk.length;
    linesSubmitted += lines;
    try {
      proxy.write(chunk);
    } catch (err) {
      onStreamError(err as NodeJS.ErrnoException);
    }
  }

  function write(line: string): void {
    // Encoded at once: pending lines live outside the JS heap, not as (cons) strings that every
    // scavenge in a burst copies and promotes, then joined and encoded again by the stream.
    // Measured on a 200 000-line burst: 8 -> 3 MiB of scavenge survivors, peak RSS -7 MiB.
    if (slab === undefined) {
      slab = Buffer.allocUnsafe(chunkBytes);
      used = 0;
    }
    // UTF-8 needs at most 3 bytes per UTF-16 unit: only a long or near-full line is measured.
    if (line.length * 3 > chunkBytes - used) {
      const n = Buffer.byteLength(line);
      if (n > chunkBytes - used) {
        drain();
        if (n >= chunkBytes) {
          // Larger than a batch: written on its own (keeps the per-file overshoot to one batch).
          submit(Buffer.from(line, 'utf8'), 1);
          return;
        }
        slab ??= Buffer.allocUnsafe(chunkBytes);
      }
    }
    used += slab.write(line, used, 'utf8');
    slabLines++;
    if (used >= chunkBytes) {
      drain();
    } else if (!scheduled) {
      scheduled = true;
      // Not unref()ed: at a natural exit the last batch must still be written (one turn, no hold).
      setImmediate(drain);
    }
  }

  function flush(): Promise<void> {
    drain();
    const target = submitted;
    if (done >= target) return Promise.resolve();
    return new Promise((resolve) => waiters.push({ target, resolve }));
  }

  // Retention and gzip of rotated files (log-retention.ts): serialised, after each rotation.
  const retention = createLogRetention({
    dir: opts.dir,
    name: opts.name,
    backupCount: opts.backupCount,
    gzip: opts.gzip,
    activeFile: () => activeFile,
    // A superseded stream may still be flushing into a rotated file: gzip it after its close.
    streamsBusy: () => proxy !== undefined && streamsClosed < streamsCreated - 1,
    warnOnce,
  });
  const requestSweep = (): void => retention.request();
  const sweep = (): Promise<void> => retention.run();

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      await flush();
      // Lines accepted while flush() waited are still pending: write them before ending.
      drain();
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const p = proxy;
      if (p) {
        ending = true;
        await new Promise<void>((resolve) => {
          // Waiting on the proxy's close (every inner stream closed), not the transport's
          // 'finish', is what loses no lines (docs/logging.md, "Shutdown").
          const check = (): void => {
            if (streamsClosed >= streamsCreated) resolve();
          };
          p.on('close', check);
          p.on('error', () => resolve());
          try {
            p.end();
          } catch {
            resolve();
          }
        });
        proxy = undefined;
      }
      await sweep();
    })();
    return closing;
  }

  return {
    write,
    flush,
    close,
    sweep,
    get healthy() {
      // Not opened yet (nothing written): nothing has failed.
      return opened ? proxy !== undefined : true;
    },
  };
}
