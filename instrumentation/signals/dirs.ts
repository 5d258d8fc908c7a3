import type { Dir } from 'node:fs';
import { join } from 'node:path';
import { diag } from '@opentelemetry/api';
import type { Counter } from '@opentelemetry/api';
import { instrumentOptions, METRIC } from '../catalog.js';
import type { Feature, SetupContext } from '../feature.js';
import { unpatchedPromises } from './fs-originals.js';
import type { WatchedDir } from '../types.js';

/** The unpatched fs functions: the monitor's own walking must not show up in the app's disk-I/O metrics. */
function defaultFs(): DirMonitorFs {
  return {
    opendir: unpatchedPromises('opendir'),
    lstat: unpatchedPromises('lstat'),
    statfs: unpatchedPromises('statfs'),
  };
}

/** The fs calls the monitor makes; replaceable in tests to simulate failures. */
export interface DirMonitorFs {
  opendir(path: string, opts: { bufferSize: number }): Promise<Dir>;
  lstat(path: string): Promise<{ size: number }>;
  statfs(path: string): Promise<{ blocks: number; bfree: number; bavail: number; bsize: number }>;
}

/**
 * Directory and disk monitor: size and file count of each watched directory, and utilization of the
 * volume holding it. Runs on an unref'd interval, never on the app's hot path, and visits at most
 * `maxEntriesPerTick` entries per tick: a walk of a huge cache directory resumes on the next tick
 * (the gauges keep the last complete walk's totals until the new one finishes). Within a tick it
 * pauses every WALK_SLICE entries on an unref'd timer, so it never keeps a finished process alive.
 *
 * What cannot be measured is counted in `echoes.monitor.errors{echoes.component, error.type}` and
 * warned about once per directory; the gauges of a directory that vanished are absent if it was never
 * measured and NaN after that (never a false 0, never a stale value). A configured directory that
 * does not exist yet (and never did) is not an error: it has no gauges until it appears.
 */
export interface DirMonitor extends Feature {
  /** One tick of work (what the interval runs); resolves when the tick's budget is spent. */
  tick(): Promise<void>;
}

interface DirState {
  readonly watched: WatchedDir;
  /** Directories still to visit in the current walk (absolute paths). */
  pending: string[];
  /** The directory being read, kept open across ticks so a huge directory is resumable. */
  open: { dir: Dir; path: string } | undefined;
  walkSize: number;
  walkFiles: number;
  walking: boolean;
  /** Totals of the last complete walk; undefined until one finishes or after the dir vanished. */
  size: number | undefined;
  files: number | undefined;
  utilization: number | undefined;
  /** Set once the directory was seen: before that, a missing directory is "not created yet", not an error. */
  seen: boolean;
  warned: Set<string>;
}

export const DIR_COMPONENT = 'dir-monitor';
export const DISK_COMPONENT = 'disk-monitor';

export function setupDirMonitor(ctx: SetupContext, fs: DirMonitorFs = defaultFs()): DirMonitor {
  const { opendir, lstat, statfs } = fs;
  const cfg = ctx.config.dirs;
  const budgetPerTick = Math.max(1, Math.floor(cfg.maxEntriesPerTick));
  const states: DirState[] = cfg.watched.map((w) => ({
    watched: w,
    pending: [],
    open: undefined,
    walkSize: 0,
    walkFiles: 0,
    walking: false,
    size: undefined,
    files: undefined,
    utilization: undefined,
    seen: false,
    warned: new Set(),
  }));

  const errors: Counter = ctx.meter.createCounter(
    METRIC.monitorErrors,
    instrumentOptions(METRIC.monitorErrors),
  );
  const sizeGauge = ctx.meter.createObservableGauge(
    METRIC.dirSize,
    instrumentOptions(METRIC.dirSize),
  );
  const filesGauge = ctx.meter.createObservableGauge(
    METRIC.dirFiles,
    instrumentOptions(METRIC.dirFiles),
  );
  const utilGauge = ctx.meter.createObservableGauge(
    METRIC.diskUtilization,
    instrumentOptions(METRIC.diskUtilization),
  );
  // The SDK keeps re-exporting a cumulative gauge's last value once an attribute set was seen, so
  // "absent" is only possible before the first measurement. After that, a value we cannot measure
  // any more is reported as NaN (a gap in Prometheus/Grafana, and false in `> 0.8` alerts) instead
  // of the stale last value or a false 0.
  const seen = new Set<string>();
  const put = (
    r: { observe(o: typeof sizeGauge, v: number, a: Record<string, string>): void },
    gauge: typeof sizeGauge,
    key: string,
    v: number | undefined,
    attrs: Record<string, string>,
  ) => {
    if (v !== undefined) {
      seen.add(key);
      r.observe(gauge, v, attrs);
    } else if (seen.has(key)) {
      r.observe(gauge, Number.NaN, attrs);
    }
  };
  const observe = (r: {
    observe(o: typeof sizeGauge, v: number, a: Record<string, string>): void;
  }) => {
    for (const s of states) {
      const attrs = { 'dir.name': s.watched.name };
      put(r, sizeGauge, `size:${s.watched.name}`, s.size, attrs);
      put(r, filesGauge, `files:${s.watched.name}`, s.files, attrs);
      put(r, utilGauge, `util:${s.watched.name}`, s.utilization, attrs);
    }
  };
  const observables = [sizeGauge, filesGauge, utilGauge];
  if (states.length > 0) ctx.meter.addBatchObservableCallback(observe, observables);

  function failed(s: DirState, component: string, err: unknown, what: string): void {
    const type = errorType(err);
    try {
      errors.add(1, { 'echoes.component': component, 'error.type': type });
    } catch {
      // never reaches the app
    }
    const key = `${component}:${type}`;
    if (!s.warned.has(key)) {
      s.warned.add(key);
      diag.warn(
        `echoes-otel: cannot measure ${what} of watched directory "${s.watched.name}" (${s.watched.path}): ${type}; ` +
          `counted in ${METRIC.monitorErrors}, further ${type} errors for it are not logged`,
      );
    }
  }

  async function measureVolume(s: DirState): Promise<void> {
    try {
      const st = await statfs(s.watched.path);
      // df's Use%: used / (used + available to unprivileged users).
      const used = (st.blocks - st.bfree) * st.bsize;
      const avail = st.bavail * st.bsize;
      s.utilization = used + avail > 0 ? used / (used + avail) : 0;
    } catch (err) {
      s.utilization = undefined;
      failed(s, DISK_COMPONENT, err, 'the volume');
    }
  }

  let stopped = false;
  // Between slices of a walk nothing holds the event loop: one fs request after another would
  // keep a process that has finished its own work alive until the walk ends (5000 files: about
  // 200 ms). The pause is an unref'd timer, and shutdown ends it at once.
  let wake: (() => void) | undefined;
  const pause = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        wake = undefined;
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(done, 0);
      t.unref();
      wake = done;
    });

  /** Spends up to `budget` entries on this dir's walk; returns the budget left. */
  async function walk(s: DirState, budget: number): Promise<number> {
    let sinceYield = 0;
    if (!s.walking) {
      s.walking = true;
      s.pending = [s.watched.path];
      s.walkSize = 0;
      s.walkFiles = 0;
    }
    // Shutdown stops a walk between two entries: the process must not wait for a big
    // directory's walk to end (the figures would never be exported anyway).
    while (budget > 0 && !stopped) {
      if (++sinceYield > WALK_SLICE) {
        sinceYield = 0;
        await pause();
        continue;
      }
      if (s.open === undefined) {
        const next = s.pending.pop();
        if (next === undefined) {
          // Walk complete: publish, and the next tick starts a fresh walk.
          s.size = s.walkSize;
          s.files = s.walkFiles;
          s.walking = false;
          return budget;
        }
        try {
          s.open = { dir: await opendir(next, { bufferSize: 64 }), path: next };
          if (next === s.watched.path) s.seen = true;
        } catch (err) {
          if (next === s.watched.path && !s.seen && errorType(err) === 'ENOENT') {
            // Configured but not created yet (a cache dir the app makes on first use): nothing to
            // report and nothing wrong; measured from the tick it appears.
            s.walking = false;
            s.pending = [];
            if (!s.warned.has('absent')) {
              s.warned.add('absent');
              diag.debug(
                `echoes-otel: watched directory "${s.watched.name}" (${s.watched.path}) does not exist yet`,
              );
            }
            return budget;
          }
          if (next === s.watched.path) {
            // The watched directory itself is gone or unreadable: no figures, not zeros.
            s.size = undefined;
            s.files = undefined;
            s.walking = false;
            s.pending = [];
            failed(s, DIR_COMPONENT, err, 'the size');
            return budget;
          }
          failed(s, DIR_COMPONENT, err, 'a subdirectory');
          budget--;
          continue;
        }
      }
      const { dir, path } = s.open;
      let ent;
      try {
        ent = await dir.read();
      } catch (err) {
        failed(s, DIR_COMPONENT, err, 'a subdirectory');
        ent = null;
      }
      if (ent === null) {
        s.open = undefined;
        await dir.close().catch(() => undefined);
        continue;
      }
      budget--;
      const full = join(path, ent.name);
      if (ent.isDirectory()) {
        s.pending.push(full);
      } else if (ent.isFile()) {
        try {
          const st = await lstat(full);
          s.walkSize += st.size;
          s.walkFiles++;
        } catch (err) {
          // Deleted between readdir and lstat (rotation, cache eviction) is normal churn, not an error.
          if (errorType(err) !== 'ENOENT') failed(s, DIR_COMPONENT, err, 'a file');
        }
      }
      // Symlinks, sockets, fifos: not followed, not counted.
    }
    return budget;
  }

  let running: Promise<void> | undefined;
  let next = 0;

  async function tickOnce(): Promise<void> {
    let budget = budgetPerTick;
    // Round-robin start so one huge directory cannot starve the others.
    for (let i = 0; i < states.length && budget > 0 && !stopped; i++) {
      const s = states[(next + i) % states.length]!;
      budget = await walk(s, budget);
      if (budget === 0) next = (next + i + (s.walking ? 0 : 1)) % states.length;
    }
    // The volume every tick, whatever the walk's progress: a disk filling up must not wait for a
    // long walk to finish. One statfs per directory, outside the entry budget.
    for (const s of states) {
      if (s.seen && !stopped) await measureVolume(s);
    }
  }

  function tick(): Promise<void> {
    if (running !== undefined) return running; // previous tick still busy: never pile up
    running = tickOnce()
      .catch((err) => {
        diag.warn(
          `echoes-otel: directory monitor tick failed (${String(err)}); it retries next interval`,
        );
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  let timer: NodeJS.Timeout | undefined;
  if (cfg.enabled && states.length > 0) {
    timer = setInterval(() => void tick(), Math.max(10, cfg.intervalMs));
    timer.unref();
    // First figures right away, not one interval after start.
    setImmediate(() => void tick()).unref();
  }

  return {
    name: 'dirs',
    tick,
    async shutdown() {
      stopped = true;
      wake?.();
      if (timer !== undefined) clearInterval(timer);
      try {
        if (states.length > 0) ctx.meter.removeBatchObservableCallback(observe, observables);
      } catch {
        // shutdown never throws
      }
      await running?.catch(() => undefined);
      for (const s of states) {
        const o = s.open;
        s.open = undefined;
        if (o !== undefined) await o.dir.close().catch(() => undefined);
      }
    },
  };
}

/** Entries a walk visits between two pauses (see `pause`). */
export const WALK_SLICE = 64;

function errorType(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  return (err as Error | null)?.name ?? 'Error';
}
