import fs from 'node:fs';
import * as fsNamed from 'node:fs';
import fsp from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import type { Feature, SetupContext } from '../../../../instrumentation/feature.js';
import { setupFsMetrics } from '../../../../instrumentation/signals/fs.js';
import { nestingStoreEnabled } from '../../../../instrumentation/signals/fs-wrap.js';
import type { EchoesConfig } from '../../../../instrumentation/types.js';
import {
  createTestMetrics,
  pointsOf,
  valueOf,
  type TestMetrics,
} from '../../../fixtures/metrics/collect.js';
import { createStackContextManager } from '../../../helpers/stack-context.js';

const OPS = 'echoes.fs.operations';
const IO = 'echoes.fs.io';
const DUR = 'echoes.fs.operation.duration';

describe('setupFsMetrics', () => {
  let root: string;
  let t: TestMetrics;
  let feature: Feature;
  const originals = {
    readFileSync: fs.readFileSync,
    write: fs.write,
    promisesReadFile: fs.promises.readFile,
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'echoes-fs-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function start(cardinalityLimit = 2000): void {
    const fast = createFastMetrics({ cardinalityLimit });
    t = createTestMetrics({ producers: [fast.producer] });
    const config = {
      fs: { pathGroups: [{ name: 'tmp', prefix: root }], spans: false },
    } as unknown as EchoesConfig;
    feature = setupFsMetrics({
      config,
      fastMetrics: fast,
      meterProvider: t.provider,
      meter: t.provider.getMeter('t'),
    } as unknown as SetupContext);
  }
  beforeEach(() => start());
  afterEach(async () => {
    await feature.shutdown();
    await t.shutdown();
  });

  const tmp = { 'fs.path.group': 'tmp' };

  it('counts sync writes and reads with exact bytes, by operation and api', async () => {
    const f = join(root, 'sync.txt');
    fs.writeFileSync(f, 'x'.repeat(1000));
    fs.appendFileSync(f, 'é'); // 2 bytes in utf8
    expect(fs.readFileSync(f, 'utf8')).toHaveLength(1001);
    const m = await t.collect();
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'writeFile', 'fs.api': 'sync' })).toBe(1);
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'appendFile', 'fs.api': 'sync' })).toBe(1);
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'readFile', 'fs.api': 'sync' })).toBe(1);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'sync' })).toBe(1002);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'read', 'fs.api': 'sync' })).toBe(1002);
    // writeFileSync opens and writes internally: those are not counted a second time
    expect(valueOf(m, OPS, { ...tmp, 'fs.api': 'sync' })).toBe(3);
    const [d] = pointsOf(m, DUR, { ...tmp, 'fs.operation': 'writeFile', 'fs.api': 'sync' });
    expect((d!.value as { count: number }).count).toBe(1);
    expect((d!.value as { sum: number }).sum).toBeGreaterThan(0);
  });

  it('remembers the path group of an fd from open for fd-based writes (what loggers do)', async () => {
    const fd = fs.openSync(join(root, 'fd.log'), 'a');
    fs.writeSync(fd, 'hello\n');
    fs.writeSync(fd, Buffer.alloc(10));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const m = await t.collect();
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'write', 'fs.api': 'sync' })).toBe(2);
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'fsync', 'fs.api': 'sync' })).toBe(1);
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'close', 'fs.api': 'sync' })).toBe(1);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'sync' })).toBe(16);
  });

  it('counts callback APIs when the callback runs, with bytes from the result', async () => {
    const f = join(root, 'cb.txt');
    await new Promise<void>((res, rej) =>
      fs.writeFile(f, Buffer.alloc(300), (e) => (e ? rej(e) : res())),
    );
    const data = await new Promise<Buffer>((res, rej) =>
      fs.readFile(f, (e, d) => (e ? rej(e) : res(d))),
    );
    expect(data).toHaveLength(300);
    const fd = await new Promise<number>((res, rej) =>
      fs.open(f, 'r', (e, d) => (e ? rej(e) : res(d))),
    );
    const n = await new Promise<number>((res, rej) =>
      fs.read(fd, Buffer.alloc(50), 0, 50, 0, (e, b) => (e ? rej(e) : res(b))),
    );
    expect(n).toBe(50);
    await new Promise<void>((res) => fs.close(fd, () => res()));
    const m = await t.collect();
    expect(valueOf(m, OPS, { ...tmp, 'fs.api': 'callback' })).toBe(5);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'callback' })).toBe(300);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'read', 'fs.api': 'callback' })).toBe(350);
  });

  it('counts fs.promises and node:fs/promises (the same object) once', async () => {
    const f = join(root, 'p.txt');
    await fsp.writeFile(f, 'abc');
    await fs.promises.appendFile(f, 'de');
    expect(await fsp.readFile(f, 'utf8')).toBe('abcde');
    const m = await t.collect();
    expect(valueOf(m, OPS, { ...tmp, 'fs.api': 'promise' })).toBe(3);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'promise' })).toBe(5);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'read', 'fs.api': 'promise' })).toBe(5);
  });

  it('counts FileHandle methods (fs.promises.open) as api=promise in the group of the opened path', async () => {
    const f = join(root, 'handle.txt');
    const h = await fsp.open(f, 'w+');
    const w = await h.write('hello world');
    expect(w.bytesWritten).toBe(11);
    await h.writeFile('!!'); // appends at the current position
    const r = await h.read(Buffer.alloc(13), 0, 13, 0);
    expect(r.bytesRead).toBe(13);
    await h.sync();
    await h.close();
    // fs.promises.writeFile opens and closes a FileHandle inside Node: still one operation
    await fsp.writeFile(f, 'xyz');
    // a FileHandle passed where a path or fd is accepted keeps the group of its open
    const h2 = await fsp.open(f, 'r');
    expect(await fsp.readFile(h2, 'utf8')).toBe('xyz');
    await h2.close();
    const m = await t.collect();
    const count = (op: string) =>
      valueOf(m, OPS, { ...tmp, 'fs.operation': op, 'fs.api': 'promise' });
    expect(count('open')).toBe(2);
    expect(count('write')).toBe(1);
    expect(count('writeFile')).toBe(2);
    expect(count('read')).toBe(1);
    expect(count('fsync')).toBe(1);
    expect(count('close')).toBe(2);
    expect(count('readFile')).toBe(1);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'promise' })).toBe(
      11 + 2 + 3,
    );
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'read', 'fs.api': 'promise' })).toBe(13 + 3);
  });

  it('makes ESM named imports see the patched functions', async () => {
    fsNamed.writeFileSync(join(root, 'named.txt'), '1234');
    const m = await t.collect();
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'sync' })).toBe(4);
  });

  it('counts write and read streams as api=stream, once', async () => {
    const f = join(root, 'stream.log');
    const ws = fs.createWriteStream(f, { flags: 'a' });
    ws.write('a'.repeat(100));
    ws.write(Buffer.alloc(28));
    await new Promise<void>((res, rej) => ws.end('z', () => res()).on('error', rej));
    let read = 0;
    for await (const chunk of fs.createReadStream(f)) read += (chunk as Buffer).length;
    expect(read).toBe(129);
    const m = await t.collect();
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'stream' })).toBe(129);
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'read', 'fs.api': 'stream' })).toBe(129);
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'open', 'fs.api': 'stream' })).toBe(2);
    expect(valueOf(m, OPS, { ...tmp, 'fs.api': 'callback' })).toBeUndefined();
  });

  it('counts one app call once when Node implements it with other exported fs functions', async () => {
    const d = join(root, 'nest');
    fs.mkdirSync(join(d, 'a/b'), { recursive: true });
    fs.writeFileSync(join(d, 'a/b/f'), 'x');
    fs.appendFileSync(join(d, 'g'), 'yy'); // appendFileSync → writeFileSync
    fs.readFileSync(join(d, 'g')); // Node 20: readFileSync → openSync/readSync/closeSync
    await new Promise<void>((res, rej) =>
      fs.appendFile(join(d, 'h'), 'zzz', (e) => (e ? rej(e) : res())),
    ); // → writeFile → open/write/close
    await new Promise<void>((res, rej) => fs.rm(join(d, 'h'), (e) => (e ? rej(e) : res()))); // → lstat, unlink
    // the app's own fs call inside its callback counts
    await new Promise<void>((res, rej) =>
      fs.writeFile(join(d, 'i'), 'i', (e) => {
        if (e) return rej(e);
        fs.statSync(join(d, 'i'));
        res();
      }),
    );
    await fs.promises.rm(join(d, 'a'), { recursive: true });
    fs.rmSync(d, { recursive: true });
    const m = await t.collect();
    const count = (op: string, api: string) =>
      valueOf(m, OPS, { ...tmp, 'fs.operation': op, 'fs.api': api });
    expect(count('appendFile', 'sync')).toBe(1);
    expect(count('readFile', 'sync')).toBe(1);
    expect(count('appendFile', 'callback')).toBe(1);
    expect(count('writeFile', 'callback')).toBe(1);
    expect(count('rm', 'callback')).toBe(1);
    expect(count('rm', 'promise')).toBe(1);
    expect(count('rm', 'sync')).toBe(1);
    expect(count('stat', 'sync')).toBe(1);
    for (const op of ['open', 'write', 'close', 'lstat', 'unlink', 'rmdir', 'readdir', 'read']) {
      for (const api of ['sync', 'callback'])
        expect(count(op, api), `${op} ${api}`).toBeUndefined();
    }
    expect(valueOf(m, IO, { ...tmp, 'fs.direction': 'write', 'fs.api': 'callback' })).toBe(4);
  });

  it('switches its nesting store off when no promise operation is in flight (Node 20: else every promise of the app pays for it)', async () => {
    const d = join(root, 'idle');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(join(d, 'a'), 'x');
    const hooksBased = nestingStoreEnabled() !== undefined;
    const a = fs.promises.readFile(join(d, 'a'));
    const b = fs.promises.stat(join(d, 'a'));
    if (hooksBased) expect(nestingStoreEnabled()).toBe(true);
    await b;
    await new Promise((r) => setImmediate(r));
    if (hooksBased) expect(nestingStoreEnabled()).toBe(true); // `a` may still be in flight
    await a;
    await new Promise((r) => setImmediate(r));
    if (hooksBased) expect(nestingStoreEnabled()).toBe(false);
    // A later call turns it back on for its own steps: recursive rm chains exported lstat/readdir/
    // rmdir/unlink calls after awaits, and none of them counts.
    fs.mkdirSync(join(d, 'x/y'), { recursive: true });
    fs.writeFileSync(join(d, 'x/y/f'), 'x');
    await fs.promises.rm(join(d, 'x'), { recursive: true });
    if (hooksBased) expect(nestingStoreEnabled()).toBe(false);
    const m = await t.collect();
    const count = (op: string, api: string) =>
      valueOf(m, OPS, { ...tmp, 'fs.operation': op, 'fs.api': api });
    expect(count('readFile', 'promise')).toBe(1);
    expect(count('stat', 'promise')).toBe(1);
    expect(count('rm', 'promise')).toBe(1);
    for (const op of ['lstat', 'unlink', 'rmdir', 'readdir', 'stat'])
      for (const api of ['callback', 'sync'])
        expect(count(op, api), `${op} ${api}`).toBeUndefined();
  });

  it('records failures with error.type and rethrows the very same error', async () => {
    const missing = join(root, 'nope', 'x');
    let thrown: unknown;
    try {
      fs.statSync(missing);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as NodeJS.ErrnoException).code).toBe('ENOENT');
    await expect(fsp.readFile(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    const err = await new Promise((res) => fs.stat(missing, (e) => res(e)));
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    const m = await t.collect();
    expect(
      valueOf(m, OPS, { ...tmp, 'fs.operation': 'stat', 'error.type': 'ENOENT', 'fs.api': 'sync' }),
    ).toBe(1);
    expect(
      valueOf(m, OPS, {
        ...tmp,
        'fs.operation': 'stat',
        'error.type': 'ENOENT',
        'fs.api': 'callback',
      }),
    ).toBe(1);
    expect(
      valueOf(m, OPS, {
        ...tmp,
        'fs.operation': 'readFile',
        'error.type': 'ENOENT',
        'fs.api': 'promise',
      }),
    ).toBe(1);
  });

  it('keeps 10 000 distinct file paths to a bounded number of series', async () => {
    for (let i = 0; i < 10_000; i++) {
      try {
        fs.statSync(join(root, `missing-${i}`));
      } catch {
        // ENOENT expected
      }
      try {
        fs.statSync(`/nonexistent-echoes/${i}`);
      } catch {
        // ENOENT expected
      }
    }
    const m = await t.collect();
    const stat = pointsOf(m, OPS, { 'fs.operation': 'stat' });
    expect(stat.map((p) => p.attributes['fs.path.group']).sort()).toEqual(['other', 'tmp']);
    expect(valueOf(m, OPS, { ...tmp, 'fs.operation': 'stat' })).toBe(10_000);
  });

  it('falls back to the cardinality fence when attribute sets exceed the limit', async () => {
    await feature.shutdown();
    await t.shutdown();
    start(5);
    for (const op of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) fs.writeFileSync(join(root, op), op);
    for (const op of ['a', 'b']) fs.readFileSync(join(root, op));
    for (const op of ['a']) fs.statSync(join(root, op));
    fs.existsSync(root);
    fs.mkdirSync(join(root, 'dir-fence'), { recursive: true });
    fs.readdirSync(root);
    fs.rmSync(join(root, 'dir-fence'), { recursive: true });
    const m = await t.collect();
    const series = pointsOf(m, OPS);
    expect(series.length).toBeLessThanOrEqual(5);
    expect(series.some((p) => p.attributes['otel.metric.overflow'] === true)).toBe(true);
  });

  it('keeps util.promisify(fs.read) resolving to { bytesRead, buffer }', async () => {
    const f = join(root, 'pr.txt');
    fs.writeFileSync(f, 'abcdef');
    const fd = fs.openSync(f, 'r');
    const r = (await promisify(fs.read)(fd, Buffer.alloc(6), 0, 6, 0)) as unknown as {
      bytesRead: number;
      buffer: Buffer;
    };
    fs.closeSync(fd);
    expect(r.bytesRead).toBe(6);
    expect(r.buffer.toString()).toBe('abcdef');
  });

  it('restores every original function on shutdown', async () => {
    expect(fs.readFileSync).not.toBe(originals.readFileSync);
    await feature.shutdown();
    expect(fs.readFileSync).toBe(originals.readFileSync);
    expect(fs.write).toBe(originals.write);
    expect(fs.promises.readFile).toBe(originals.promisesReadFile);
    expect(fsNamed.readFileSync).toBe(originals.readFileSync);
    fs.writeFileSync(join(root, 'after.txt'), 'x');
    expect(
      valueOf(await t.collect(), OPS, { ...tmp, 'fs.operation': 'writeFile' }),
    ).toBeUndefined();
  });
});

describe('unpatchedPromises', () => {
  it('returns the original fs.promises function while the patch is installed', async () => {
    const { unpatchedPromises } = await import('../../../../instrumentation/signals/fs.js');
    const original = fs.promises.lstat;
    const fast = createFastMetrics({ cardinalityLimit: 10 });
    const config = { fs: { pathGroups: [], spans: false } } as unknown as EchoesConfig;
    const f = setupFsMetrics({ config, fastMetrics: fast } as unknown as SetupContext);
    try {
      expect(fs.promises.lstat).not.toBe(original);
      expect(unpatchedPromises('lstat')).toBe(original);
    } finally {
      await f.shutdown();
    }
    expect(unpatchedPromises('lstat')).toBe(original);
  });
});

describe('setupFsMetrics with fs.spans', () => {
  it('adds a child span per fs call made inside an active span, none outside, none when off', async () => {
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } =
      await import('@opentelemetry/sdk-trace-base');
    const { context, trace } = await import('@opentelemetry/api');
    const cm = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(cm);
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('t');
    const dir = mkdtempSync(join(tmpdir(), 'echoes-fs-spans-'));
    const run = async (spans: boolean): Promise<void> => {
      const fast = createFastMetrics({ cardinalityLimit: 100 });
      const config = {
        fs: { pathGroups: [{ name: 'tmp', prefix: dir }], spans },
      } as unknown as EchoesConfig;
      const f = setupFsMetrics({ config, fastMetrics: fast, tracer } as unknown as SetupContext);
      try {
        fs.writeFileSync(join(dir, 'outside'), 'x'); // no active span: no span
        await tracer.startActiveSpan('request', async (parent) => {
          fs.statSync(join(dir, 'outside'));
          await new Promise<void>((res) => fs.readFile(join(dir, 'outside'), () => res()));
          await fsp.readFile(join(dir, 'missing')).catch(() => undefined);
          parent.end();
        });
      } finally {
        await f.shutdown();
      }
    };
    try {
      await run(false);
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['request']);
      exporter.reset();
      await run(true);
      const spans = exporter.getFinishedSpans();
      const parent = spans.find((s) => s.name === 'request')!;
      const children = spans.filter((s) => s.name.startsWith('fs '));
      expect(children.map((s) => `${s.name} ${s.attributes['fs.api']}`).sort()).toEqual([
        'fs readFile callback',
        'fs readFile promise',
        'fs stat sync',
      ]);
      for (const c of children) {
        expect(c.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
        expect(c.attributes['fs.path.group']).toBe('tmp');
      }
      const failed = children.find((s) => s.attributes['fs.api'] === 'promise')!;
      expect(failed.attributes['error.type']).toBe('ENOENT');
      expect(failed.status.code).toBe(2);
    } finally {
      context.disable();
      trace.disable();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('setupFsMetrics exemplars', () => {
  it('offers the span active at each call as the exemplar, from the AsyncLocalStorage manager and from any other manager', async () => {
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { BasicTracerProvider } = await import('@opentelemetry/sdk-trace-base');
    const { context, trace, ROOT_CONTEXT } = await import('@opentelemetry/api');
    const tracer = new BasicTracerProvider().getTracer('t');
    const dir = mkdtempSync(join(tmpdir(), 'echoes-fs-exemplars-'));
    const file = join(dir, 'f');
    fs.writeFileSync(file, 'x'.repeat(64));
    type Point = { exemplars?: { traceId: string; spanId: string }[] };
    /** The exemplars of readFile (by api) after one call outside any span and one inside `span`. */
    const run = async (span: ReturnType<typeof tracer.startSpan>) => {
      const fast = createFastMetrics({ cardinalityLimit: 100 });
      const config = {
        fs: { pathGroups: [{ name: 'tmp', prefix: dir }], spans: false },
      } as unknown as EchoesConfig;
      const f = setupFsMetrics({ config, fastMetrics: fast } as unknown as SetupContext);
      try {
        fs.readFileSync(file); // no active span: no exemplar (first in its bucket otherwise)
        await context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
          fs.readFileSync(file);
          await new Promise<void>((res) => fs.readFile(file, () => res()));
        });
        const { resourceMetrics } = await fast.producer.collect();
        const points = resourceMetrics.scopeMetrics
          .flatMap((s) => s.metrics)
          .filter((m) => m.descriptor.name === DUR)
          .flatMap((m) => m.dataPoints as readonly { attributes: Record<string, unknown> }[]);
        return (api: string) =>
          points
            .filter(
              (p) => p.attributes['fs.operation'] === 'readFile' && p.attributes['fs.api'] === api,
            )
            .flatMap((p) => (p as Point).exemplars ?? [])
            .map((e) => `${e.traceId}/${e.spanId}`);
      } finally {
        await f.shutdown();
      }
    };
    const idsOf = (s: ReturnType<typeof tracer.startSpan>) =>
      `${s.spanContext().traceId}/${s.spanContext().spanId}`;
    try {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const first = tracer.startSpan('request');
      let exemplars = await run(first);
      // The call outside any span never takes its bucket's exemplar, whichever bucket it is in.
      expect(exemplars('sync')).toEqual([idsOf(first)]);
      expect(exemplars('callback')).toEqual([idsOf(first)]);

      // Another context manager registered later (no AsyncLocalStorage): still the right span.
      context.disable();
      context.setGlobalContextManager(createStackContextManager());
      const second = tracer.startSpan('request');
      exemplars = await run(second);
      expect(exemplars('sync')).toEqual([idsOf(second)]);
    } finally {
      context.disable();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
