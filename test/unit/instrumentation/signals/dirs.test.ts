import { mkdirSync, mkdtempSync, promises as fsp, rmSync, writeFileSync, type Dir } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diag } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureDiagWarnings } from '../../../helpers/diag.js';
import {
  setupDirMonitor,
  WALK_SLICE,
  type DirMonitor,
  type DirMonitorFs,
} from '../../../../instrumentation/signals/dirs.js';
import type { SetupContext } from '../../../../instrumentation/feature.js';
import type { EchoesConfig, WatchedDir } from '../../../../instrumentation/types.js';
import {
  createTestMetrics,
  pointsOf,
  valueOf,
  type TestMetrics,
} from '../../../fixtures/metrics/collect.js';

const realFs: DirMonitorFs = { opendir: fsp.opendir, lstat: fsp.lstat, statfs: fsp.statfs };

describe('setupDirMonitor', () => {
  let root: string;
  let t: TestMetrics;
  let monitor: DirMonitor | undefined;
  let warnings: string[];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'echoes-dirs-'));
    t = createTestMetrics();
    warnings = captureDiagWarnings();
  });
  afterEach(async () => {
    await monitor?.shutdown();
    monitor = undefined;
    await t.shutdown();
    diag.disable();
    rmSync(root, { recursive: true, force: true });
  });

  function start(
    watched: WatchedDir[],
    maxEntriesPerTick = 1000,
    fs: DirMonitorFs = realFs,
  ): DirMonitor {
    const config = {
      dirs: { enabled: false, intervalMs: 60_000, watched, maxEntriesPerTick },
    } as unknown as EchoesConfig;
    monitor = setupDirMonitor(
      {
        config,
        meterProvider: t.provider,
        meter: t.provider.getMeter('test'),
      } as unknown as SetupContext,
      fs,
    );
    return monitor;
  }

  /** Ticks until `done` holds or the tick budget is exhausted (no timers involved). */
  async function tickUntil(
    m: DirMonitor,
    done: () => Promise<boolean>,
    maxTicks = 100,
  ): Promise<number> {
    for (let i = 1; i <= maxTicks; i++) {
      await m.tick();
      if (await done()) return i;
    }
    throw new Error('condition not reached');
  }

  it('reports exact size and file count of a nested directory, and volume utilization', async () => {
    mkdirSync(join(root, 'logs/old'), { recursive: true });
    writeFileSync(join(root, 'logs/a.log'), 'x'.repeat(100));
    writeFileSync(join(root, 'logs/b.log'), 'y'.repeat(23));
    writeFileSync(join(root, 'logs/old/c.log.gz'), Buffer.alloc(1000));
    const m = start([{ name: 'logs', path: join(root, 'logs') }]);
    await m.tick();
    const data = await t.collect();
    expect(valueOf(data, 'echoes.dir.size', { 'dir.name': 'logs' })).toBe(1123);
    expect(valueOf(data, 'echoes.dir.files', { 'dir.name': 'logs' })).toBe(3);
    const st = await fsp.statfs(root);
    const expected =
      ((st.blocks - st.bfree) * st.bsize) / ((st.blocks - st.bfree + st.bavail) * st.bsize);
    const util = valueOf(data, 'echoes.disk.utilization', { 'dir.name': 'logs' })!;
    expect(util).toBeGreaterThanOrEqual(0);
    expect(util).toBeLessThanOrEqual(1);
    expect(Math.abs(util - expected)).toBeLessThan(0.01); // the disk may move a little between the two statfs calls
    expect(pointsOf(data, 'echoes.monitor.errors')).toHaveLength(0);
  });

  it('spends at most maxEntriesPerTick entries per tick and publishes only complete walks', async () => {
    const dir = join(root, 'cache');
    mkdirSync(dir);
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, `f${i}`), Buffer.alloc(i + 1));
    let lstats = 0;
    const counting: DirMonitorFs = { ...realFs, lstat: (p) => (lstats++, fsp.lstat(p)) };
    const m = start([{ name: 'cache', path: dir }], 3, counting);
    await m.tick();
    expect(lstats).toBe(3);
    const first = await t.collect();
    expect(pointsOf(first, 'echoes.dir.size')).toHaveLength(0);
    // the volume is measured every tick, not only when a walk completes
    expect(valueOf(first, 'echoes.disk.utilization', { 'dir.name': 'cache' })).toBeGreaterThan(0);
    const ticks = await tickUntil(
      m,
      async () =>
        valueOf(await t.collect(), 'echoes.dir.files', { 'dir.name': 'cache' }) !== undefined,
    );
    expect(ticks).toBe(3); // 10 entries at 3 per tick: ticks 1..4
    const data = await t.collect();
    expect(valueOf(data, 'echoes.dir.files', { 'dir.name': 'cache' })).toBe(10);
    expect(valueOf(data, 'echoes.dir.size', { 'dir.name': 'cache' })).toBe(55);
  });

  it('a vanished directory: NaN gauges (not a false 0 or a stale value), one warning, errors counted', async () => {
    const dir = join(root, 'sessions');
    mkdirSync(dir);
    writeFileSync(join(dir, 's1'), 'abc');
    const m = start([{ name: 'sessions', path: dir }]);
    await m.tick();
    expect(valueOf(await t.collect(), 'echoes.dir.size', { 'dir.name': 'sessions' })).toBe(3);
    rmSync(dir, { recursive: true });
    await m.tick();
    await m.tick();
    const data = await t.collect();
    expect(valueOf(data, 'echoes.dir.size', { 'dir.name': 'sessions' })).toBeNaN();
    expect(valueOf(data, 'echoes.dir.files', { 'dir.name': 'sessions' })).toBeNaN();
    expect(valueOf(data, 'echoes.disk.utilization', { 'dir.name': 'sessions' })).toBeNaN();
    expect(
      valueOf(data, 'echoes.monitor.errors', {
        'echoes.component': 'dir-monitor',
        'error.type': 'ENOENT',
      }),
    ).toBe(2);
    expect(
      valueOf(data, 'echoes.monitor.errors', {
        'echoes.component': 'disk-monitor',
        'error.type': 'ENOENT',
      }),
    ).toBe(2);
    expect(warnings.filter((w) => w.includes('"sessions"') && w.includes('size'))).toHaveLength(1);
    expect(warnings).toHaveLength(2); // one for the size, one for the volume
  });

  it('a directory not created yet: no gauges, no error, no warning; measured once it appears', async () => {
    const dir = join(root, 'later');
    const m = start([{ name: 'later', path: dir }]);
    await m.tick();
    await m.tick();
    let data = await t.collect();
    expect(pointsOf(data, 'echoes.dir.size')).toHaveLength(0);
    expect(pointsOf(data, 'echoes.disk.utilization')).toHaveLength(0);
    expect(pointsOf(data, 'echoes.monitor.errors')).toHaveLength(0);
    expect(warnings).toHaveLength(0);
    mkdirSync(dir);
    writeFileSync(join(dir, 'x'), '12345');
    await m.tick();
    data = await t.collect();
    expect(valueOf(data, 'echoes.dir.size', { 'dir.name': 'later' })).toBe(5);
    expect(valueOf(data, 'echoes.disk.utilization', { 'dir.name': 'later' })).toBeGreaterThan(0);
  });

  it('shutdown stops a walk in progress between two entries instead of waiting for its end', async () => {
    for (let i = 0; i < 200; i++) writeFileSync(join(root, `f${i}`), 'x');
    let lstats = 0;
    const slow: DirMonitorFs = {
      ...realFs,
      lstat: async (p) => {
        lstats++;
        await new Promise((r) => setTimeout(r, 2));
        return realFs.lstat(p);
      },
    };
    const m = start([{ name: 'big', path: root }], 10_000, slow);
    const ticking = m.tick();
    while (lstats < 5) await new Promise((r) => setTimeout(r, 1));
    await m.shutdown();
    await ticking;
    // Without the stop the shutdown waited for all 200 (about 0.5 s of lstat).
    expect(lstats).toBeLessThan(20);
    monitor = undefined;
  });

  it('pauses every WALK_SLICE entries on a timer that does not hold the process open', async () => {
    // Entries served at once (no fs request in flight): between slices only the pause is pending,
    // and an app that has finished may exit then instead of waiting for the walk.
    const names = Array.from({ length: 3 * WALK_SLICE + 10 }, (_, i) => `f${i}`);
    let lstats = 0;
    const instant: DirMonitorFs = {
      opendir: async () => {
        let i = 0;
        return {
          read: async () =>
            i < names.length
              ? { name: names[i++]!, isDirectory: () => false, isFile: () => true }
              : null,
          close: async () => undefined,
        } as unknown as Dir;
      },
      lstat: async () => {
        lstats++;
        return { size: 1 };
      },
      statfs: realFs.statfs,
    };
    const timeouts = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const m = start([{ name: 'many', path: root }], 10_000, instant);
    const ticking = m.tick();
    await new Promise((r) => setImmediate(r));
    expect(lstats).toBe(WALK_SLICE);
    expect(timeouts()).toBe(before);
    await ticking;
    expect(lstats).toBe(names.length);
    expect(valueOf(await t.collect(), 'echoes.dir.files', { 'dir.name': 'many' })).toBe(
      names.length,
    );
  });

  it('a failing statfs: no utilization gauge, the error counted, sizes still reported', async () => {
    writeFileSync(join(root, 'f'), 'abcd');
    const failing: DirMonitorFs = {
      ...realFs,
      statfs: () => Promise.reject(Object.assign(new Error('nope'), { code: 'ENOSYS' })),
    };
    const m = start([{ name: 'data', path: root }], 1000, failing);
    await m.tick();
    await m.tick();
    // never measured: absent, not NaN and not 0
    const data = await t.collect();
    expect(pointsOf(data, 'echoes.disk.utilization')).toHaveLength(0);
    expect(valueOf(data, 'echoes.dir.size', { 'dir.name': 'data' })).toBe(4);
    expect(
      valueOf(data, 'echoes.monitor.errors', {
        'echoes.component': 'disk-monitor',
        'error.type': 'ENOSYS',
      }),
    ).toBe(2);
    expect(warnings).toHaveLength(1);
  });

  it('an unreadable file or subdirectory is counted and skipped, the rest still measured', async () => {
    mkdirSync(join(root, 'locked'));
    writeFileSync(join(root, 'ok'), 'abcdef');
    writeFileSync(join(root, 'secret'), 'zz');
    const denied = () => Promise.reject(Object.assign(new Error('denied'), { code: 'EACCES' }));
    const fs: DirMonitorFs = {
      ...realFs,
      lstat: (p) => (p.endsWith('secret') ? denied() : fsp.lstat(p)),
      opendir: (p, o) => (p.endsWith('locked') ? denied() : fsp.opendir(p, o)),
    };
    const m = start([{ name: 'data', path: root }], 1000, fs);
    await m.tick();
    const data = await t.collect();
    expect(valueOf(data, 'echoes.dir.size', { 'dir.name': 'data' })).toBe(6);
    expect(valueOf(data, 'echoes.dir.files', { 'dir.name': 'data' })).toBe(1);
    expect(
      valueOf(data, 'echoes.monitor.errors', {
        'echoes.component': 'dir-monitor',
        'error.type': 'EACCES',
      }),
    ).toBe(2);
    expect(warnings).toHaveLength(1);
  });

  it('shares the per-tick budget between directories without starving any', async () => {
    for (const d of ['a', 'b']) {
      mkdirSync(join(root, d));
      for (let i = 0; i < 4; i++) writeFileSync(join(root, d, `${i}`), 'x');
    }
    const m = start(
      [
        { name: 'a', path: join(root, 'a') },
        { name: 'b', path: join(root, 'b') },
      ],
      3,
    );
    await tickUntil(
      m,
      async () => {
        const d = await t.collect();
        return (
          valueOf(d, 'echoes.dir.files', { 'dir.name': 'a' }) !== undefined &&
          valueOf(d, 'echoes.dir.files', { 'dir.name': 'b' }) !== undefined
        );
      },
      10,
    );
    const data = await t.collect();
    expect(valueOf(data, 'echoes.dir.files', { 'dir.name': 'a' })).toBe(4);
    expect(valueOf(data, 'echoes.dir.files', { 'dir.name': 'b' })).toBe(4);
  });
});
