import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createLogFileSink,
  type DropReason,
  type LogFileSinkOptions,
} from '../../../../instrumentation/logging/log-file-sink.js';
import { canMountTmpfs } from '../../../helpers/mount.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'echoes-sink-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Recorder {
  warnings: string[];
  dropped: Map<DropReason, number>;
  written: number;
  rotations: number;
  fallback: string[];
}
function sinkOptions(
  dir: string,
  over: Partial<LogFileSinkOptions> = {},
): [LogFileSinkOptions, Recorder] {
  const rec: Recorder = {
    warnings: [],
    dropped: new Map(),
    written: 0,
    rotations: 0,
    fallback: [],
  };
  return [
    {
      dir,
      name: 'app',
      maxBytes: 256 * 1024,
      backupCount: 5,
      gzip: true,
      warn: (m) => rec.warnings.push(m),
      onDropped: (r, n) => rec.dropped.set(r, (rec.dropped.get(r) ?? 0) + n),
      onWritten: (n) => (rec.written += n),
      onRotate: () => rec.rotations++,
      fallback: (c) => rec.fallback.push(c),
      ...over,
    },
    rec,
  ];
}

/** Log files in `dir` (active, rotated, archives), no audit or temp files. */
function logFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^app-\d{4}-\d{2}-\d{2}\.log(\.\d+)?(\.gz)?$/.test(n));
}

function readAllLines(dir: string): string[] {
  const out: string[] = [];
  for (const n of logFiles(dir)) {
    const buf = readFileSync(join(dir, n));
    const text = n.endsWith('.gz') ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
    for (const l of text.split('\n')) if (l.length > 0) out.push(l);
  }
  return out;
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const line = (i: number): string => `{"id":${i},"message":"numbered line ${i} padding padding"}\n`;

describe('createLogFileSink', () => {
  it('keeps every one of 200 000 numbered lines exactly once across active and gzipped files, a one-tick burst included', async () => {
    const dir = tempDir();
    // ~12 MB of lines over 256 KiB files: ~45 rotations, all retained (backupCount 100).
    const [opts, rec] = sinkOptions(dir, { backupCount: 100 });
    const sink = createLogFileSink(opts);
    let i = 0;
    // The synchronous burst: 60 000 lines in one tick (several rotations without a turn of the loop).
    for (; i < 60_000; i++) sink.write(line(i));
    for (; i < 200_000; i++) {
      sink.write(line(i));
      if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
    }
    await sink.close();
    const seen = new Uint8Array(200_000);
    for (const l of readAllLines(dir)) {
      const id = (JSON.parse(l) as { id: number }).id;
      seen[id]!++;
    }
    const missing = seen.reduce((n, c) => n + (c === 0 ? 1 : 0), 0);
    const duplicated = seen.reduce((n, c) => n + (c > 1 ? 1 : 0), 0);
    expect({ missing, duplicated }).toEqual({ missing: 0, duplicated: 0 });
    expect(rec.rotations).toBeGreaterThan(20);
    // All rotated files end up gzipped; only the active file stays plain.
    await until(
      () => logFiles(dir).filter((n) => !n.endsWith('.gz')).length === 1,
      'rotated files gzipped',
    );
    expect(rec.dropped.size).toBe(0);
    expect(rec.warnings).toEqual([]);
    expect(rec.written).toBe(readAllLines(dir).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
  }, 60_000);

  it('never leaves more than backupCount + 1 files after a burst, and the survivors are the newest lines, once each', async () => {
    const dir = tempDir();
    const [opts] = sinkOptions(dir, { backupCount: 3, maxBytes: 64 * 1024 });
    const sink = createLogFileSink(opts);
    for (let i = 0; i < 40_000; i++) sink.write(line(i));
    await sink.close();
    await until(
      () =>
        logFiles(dir).length <= 4 && logFiles(dir).filter((n) => !n.endsWith('.gz')).length === 1,
      'pruned and gzipped',
    );
    const ids = readAllLines(dir)
      .map((l) => (JSON.parse(l) as { id: number }).id)
      .sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.at(-1)).toBe(39_999);
    // A contiguous suffix: nothing missing between the oldest kept line and the last.
    expect(ids.at(-1)! - ids[0]! + 1).toBe(ids.length);
  }, 30_000);

  it('holds retention across restarts: leftovers are pruned and gzipped at start, and writing continues', async () => {
    const dir = tempDir();
    // A previous run that died: 8 rotated plain files and a half-written archive.
    for (let n = 1; n <= 8; n++) writeFileSync(join(dir, `app-2020-01-01.log.${n}`), line(n));
    writeFileSync(join(dir, 'app-2020-01-01.log.8.gz.tmp'), 'partial');
    const [opts] = sinkOptions(dir, { backupCount: 2 });
    const sink = createLogFileSink(opts);
    sink.write(line(100));
    await sink.flush();
    await sink.sweep();
    await sink.close();
    const files = logFiles(dir);
    expect(files.length).toBeLessThanOrEqual(3);
    expect(readdirSync(dir).some((n) => n.endsWith('.tmp'))).toBe(false);
    expect(files.filter((n) => !n.endsWith('.gz'))).toHaveLength(1);
    const ids = readAllLines(dir).map((l) => (JSON.parse(l) as { id: number }).id);
    expect(ids).toContain(100);
    expect(ids).toContain(8);
  });

  it('gzips a rotated file of many read chunks byte for byte, and keeps it plain when the archive cannot be written', async () => {
    const dir = tempDir();
    // ~1.5 MB: the gzip reads it in 64 KiB pieces through one reused buffer.
    let text = '';
    for (let i = 0; i < 20_000; i++) text += `${line(i).slice(0, -1)} ${(i * 7919) % 104729}\n`;
    writeFileSync(join(dir, 'app-2020-01-01.log.1'), text);
    writeFileSync(join(dir, 'app-2020-01-01.log.2'), text);
    // The archive for .2 cannot be created: its temp path is a directory.
    mkdirSync(join(dir, 'app-2020-01-01.log.2.gz.tmp'));
    const [opts, rec] = sinkOptions(dir, { backupCount: 10 });
    const sink = createLogFileSink(opts);
    await sink.sweep();
    await sink.close();
    expect(gunzipSync(readFileSync(join(dir, 'app-2020-01-01.log.1.gz'))).toString('utf8')).toBe(
      text,
    );
    expect(readdirSync(dir)).not.toContain('app-2020-01-01.log.1');
    expect(readFileSync(join(dir, 'app-2020-01-01.log.2'), 'utf8')).toBe(text);
    expect(readdirSync(dir)).not.toContain('app-2020-01-01.log.2.gz');
    expect(rec.warnings.some((w) => /could not gzip rotated log .*log\.2/.test(w))).toBe(true);
  });

  it('gzips a 10 MiB rotated file without allocating a buffer per read (ArrayBuffers grow by far less than the file)', async () => {
    const dir = tempDir();
    const chunk = Buffer.from(line(1).repeat(1024));
    const parts: Buffer[] = [];
    for (let n = 0; n < (10 * 1024 * 1024) / chunk.length; n++) parts.push(chunk);
    writeFileSync(join(dir, 'app-2020-01-01.log.1'), Buffer.concat(parts));
    parts.length = 0;
    const [opts] = sinkOptions(dir, { backupCount: 10 });
    const before = process.memoryUsage().arrayBuffers;
    // Nothing was written: the sweep at close gzips the leftover (no file is in use yet).
    await createLogFileSink(opts).close();
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(readdirSync(dir)).toContain('app-2020-01-01.log.1.gz');
    // A read stream allocates a fresh 64 KiB buffer per read (10 MiB here) that V8 frees late.
    expect(grown).toBeLessThan(3 * 1024 * 1024);
  });

  it('writes lines byte for byte in order: multi-byte characters at batch edges, lines larger than a batch, small turns', async () => {
    const dir = tempDir();
    // 8 KiB batches, one file (no rotation).
    const [opts, rec] = sinkOptions(dir, { maxBytes: 2 ** 30, chunkBytes: 8 * 1024 });
    const sink = createLogFileSink(opts);
    const expected: string[] = [];
    const put = (l: string): void => {
      expected.push(l);
      sink.write(l);
    };
    for (let i = 0; i < 3000; i++) {
      // Widths vary so batch edges fall inside multi-byte characters and surrogate pairs.
      put(`{"id":${i},"s":"${'é'.repeat(i % 37)}${'😀'.repeat(i % 11)}${'x'.repeat(i % 97)}"}\n`);
      if (i % 500 === 7) put(`{"big":"${'ü'.repeat(50_000)}${'a'.repeat(i)}"}\n`); // > one batch
      if (i % 300 === 0) put(`{"lone":"\ud800"}\n`); // written as U+FFFD, as Buffer.from does
      if (i % 250 === 0) await new Promise((r) => setImmediate(r)); // small batches, copied out
    }
    await sink.close();
    const onDisk = readFileSync(join(dir, logFiles(dir)[0]!));
    expect(logFiles(dir)).toHaveLength(1);
    expect(onDisk.equals(Buffer.from(expected.join(''), 'utf8'))).toBe(true);
    expect(rec.written).toBe(onDisk.length);
  });

  it('creates a missing log directory', async () => {
    const dir = join(tempDir(), 'a', 'b', 'logs');
    const [opts, rec] = sinkOptions(dir);
    const sink = createLogFileSink(opts);
    sink.write(line(1));
    await sink.close();
    expect(readAllLines(dir)).toEqual([line(1).trimEnd()]);
    expect(rec.warnings).toEqual([]);
  });

  it('survives a log directory under a regular file (DRF constructor throws): one warning, fallback, counted', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'file'), 'x');
    const [opts, rec] = sinkOptions(join(base, 'file', 'sub', 'logs'));
    const sink = createLogFileSink(opts);
    for (let i = 0; i < 10; i++) sink.write(line(i));
    await sink.flush();
    for (let i = 10; i < 20; i++) sink.write(line(i));
    await sink.close();
    expect(sink.healthy).toBe(false);
    expect(rec.warnings).toHaveLength(1);
    expect(rec.warnings[0]).toMatch(/ENOTDIR.*sink_error/);
    expect(rec.dropped.get('sink_error')).toBe(20);
    expect(rec.fallback.join('')).toBe(Array.from({ length: 20 }, (_, i) => line(i)).join(''));
  });

  it('survives a log directory that is a regular file (the error arrives later, on the stream)', async () => {
    const base = tempDir();
    const dir = join(base, 'logs');
    writeFileSync(dir, 'not a directory');
    const [opts, rec] = sinkOptions(dir);
    const sink = createLogFileSink(opts);
    for (let i = 0; i < 5; i++) sink.write(line(i));
    await sink.flush();
    await until(() => rec.warnings.length > 0, 'a warning');
    for (let i = 5; i < 10; i++) sink.write(line(i));
    await sink.close();
    expect(rec.warnings).toHaveLength(1);
    expect(rec.dropped.get('sink_error')).toBeGreaterThanOrEqual(5);
    expect(readFileSync(dir, 'utf8')).toBe('not a directory');
  });

  it('survives ENOSPC injected into the stream writes: one warning, disk_full counted, no unhandled error', async () => {
    const dir = tempDir();
    let fail = false;
    const fsImpl = {
      write: ((
        fd: number,
        buf: Buffer,
        off: number,
        len: number,
        pos: number | null,
        cb: (...a: unknown[]) => void,
      ) => {
        if (fail) {
          const e = Object.assign(new Error('ENOSPC: no space left on device, write'), {
            code: 'ENOSPC',
          });
          process.nextTick(cb, e);
          return;
        }
        fs.write(fd, buf, off, len, pos, cb as never);
      }) as never,
      writev: ((fd: number, bufs: Buffer[], pos: number | null, cb: (...a: unknown[]) => void) => {
        if (fail) {
          const e = Object.assign(new Error('ENOSPC: no space left on device, write'), {
            code: 'ENOSPC',
          });
          process.nextTick(cb, e);
          return;
        }
        fs.writev(fd, bufs, pos, cb as never);
      }) as never,
    };
    const [opts, rec] = sinkOptions(dir, { fsImpl, retryMs: 60_000 });
    const sink = createLogFileSink(opts);
    sink.write(line(0));
    await sink.flush();
    fail = true;
    for (let i = 1; i <= 100; i++) sink.write(line(i));
    await sink.flush();
    await until(() => rec.warnings.length > 0, 'a warning');
    for (let i = 101; i <= 200; i++) sink.write(line(i));
    await sink.close();
    expect(rec.warnings).toHaveLength(1);
    expect(rec.warnings[0]).toMatch(/ENOSPC.*disk_full/);
    // 200 lines after the fault: the ones the dead stream held (estimated) plus the ones refused.
    expect(rec.dropped.get('disk_full')).toBeGreaterThanOrEqual(100);
    expect(readAllLines(dir)[0]).toBe(line(0).trimEnd());
  });

  it.skipIf(!canMountTmpfs)(
    'survives a real full disk (512 KiB tmpfs): one warning, disk_full counted, recovers when space frees',
    async () => {
      const dir = tempDir();
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
      try {
        const [opts, rec] = sinkOptions(dir, { maxBytes: 10 * 1024 * 1024, retryMs: 50 });
        const sink = createLogFileSink(opts);
        // ~1.2 MB into 512 KiB.
        for (let i = 0; i < 20_000; i++) sink.write(line(i));
        await sink.flush();
        await until(() => rec.warnings.length > 0, 'a warning');
        expect(rec.warnings[0]).toMatch(/ENOSPC/);
        expect(rec.dropped.get('disk_full') ?? 0).toBeGreaterThan(0);
        // Free the space: the sink reopens (retry) and writes again.
        for (const n of logFiles(dir)) rmSync(join(dir, n));
        await until(() => sink.healthy, 'reopened after space freed');
        sink.write(line(999_999));
        await sink.close();
        expect(readAllLines(dir).some((l) => l.includes('"id":999999'))).toBe(true);
        // One warning for the fault, one when writes land again: no stream of them while retrying.
        expect(rec.warnings).toHaveLength(2);
        expect(rec.warnings[1]).toMatch(/writable again/);
      } finally {
        execFileSync('umount', ['-l', dir]);
      }
    },
  );

  it.skipIf(!canMountTmpfs)(
    'survives a read-only log directory (ro tmpfs, which stops root too): one warning, sink_error counted',
    async () => {
      const dir = tempDir();
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dir]);
      try {
        const [opts, rec] = sinkOptions(dir, { retryMs: 60_000 });
        const sink = createLogFileSink(opts);
        for (let i = 0; i < 10; i++) sink.write(line(i));
        await sink.flush();
        await until(() => rec.warnings.length > 0, 'a warning');
        for (let i = 10; i < 20; i++) sink.write(line(i));
        await sink.close();
        expect(rec.warnings).toHaveLength(1);
        expect(rec.warnings[0]).toMatch(/EROFS.*sink_error/);
        expect(rec.dropped.get('sink_error')).toBeGreaterThanOrEqual(10);
        expect(sink.healthy).toBe(false);
      } finally {
        execFileSync('umount', ['-l', dir]);
      }
    },
  );

  it('rotates at midnight UTC into a new dated file, and gzips the previous day', async () => {
    const dir = tempDir();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-01-01T23:59:59.000Z'));
      const [opts, rec] = sinkOptions(dir);
      const sink = createLogFileSink(opts);
      sink.write(line(1));
      await sink.flush();
      vi.setSystemTime(new Date('2026-01-02T00:00:01.000Z'));
      sink.write(line(2));
      await sink.close();
      await until(
        () => logFiles(dir).includes('app-2026-01-01.log.gz'),
        'the previous day gzipped',
      );
      expect(logFiles(dir).sort()).toEqual(['app-2026-01-01.log.gz', 'app-2026-01-02.log']);
      expect(readFileSync(join(dir, 'app-2026-01-02.log'), 'utf8')).toBe(line(2));
      expect(rec.rotations).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('flush resolves only once accepted bytes are on disk', async () => {
    const dir = tempDir();
    const [opts] = sinkOptions(dir);
    const sink = createLogFileSink(opts);
    for (let i = 0; i < 5000; i++) sink.write(line(i));
    await sink.flush();
    expect(readAllLines(dir)).toHaveLength(5000);
    await sink.close();
  });

  it('prunes to the active file alone with backupCount 0 and leaves unrelated files alone', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'unrelated.log'), 'keep me');
    const [opts] = sinkOptions(dir, { backupCount: 0, maxBytes: 1024 });
    const sink = createLogFileSink(opts);
    for (let i = 0; i < 500; i++) sink.write(line(i));
    await sink.close();
    expect(readFileSync(join(dir, 'unrelated.log'), 'utf8')).toBe('keep me');
    expect(logFiles(dir).length).toBeLessThanOrEqual(1);
  });
});
