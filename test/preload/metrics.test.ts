import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG, catalogEntry, METRIC } from '../../instrumentation/catalog.js';
import { parseExposition, sumSamples, type Sample } from '../../src/cli/prom-text.js';
import { freePort } from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { killAll, requireBuilt, spawnNode, type Spawned } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// Black box: the built register preloaded into the metrics fixtures (ESM and CJS) under Node 20
// and 24; the cache and fs figures at the embedded Prometheus endpoint must be exactly what
// test/fixtures/metrics/workload.cjs did.

const FIXTURES = join(REPO_ROOT, 'test/fixtures/metrics');
/** Series names as the embedded endpoint serves them, from the catalog (the one source). */
const series = (metric: string): string => catalogEntry(metric)!.embedded!;
const CACHE_REQ = series(METRIC.cacheRequests);
const CACHE_EVICT = series(METRIC.cacheEvictions);
const CACHE_ENTRIES = series(METRIC.cacheEntries);
const CACHE_CAP = series(METRIC.cacheCapacity);
const FS_OPS = series(METRIC.fsOperations);
const FS_IO = series(METRIC.fsIo);
const FS_DUR = series(METRIC.fsDuration);
const DIR_SIZE = series(METRIC.dirSize);
const DIR_FILES = series(METRIC.dirFiles);
const DISK_UTIL = series(METRIC.diskUtilization);
let tmp: string;

beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-metrics-preload-'));
});
afterAll(() => {
  killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** `file` under the preload with the embedded Prometheus endpoint on a free port and no OTLP export. */
async function startApp(
  node: string,
  file: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ app: Spawned; port: number }> {
  const port = await freePort();
  const app = spawnNode(node, ['--import', REGISTER, file], {
    cwd,
    env: {
      PATH: process.env.PATH,
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      ECHOES_PROMETHEUS: 'on',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      ECHOES_LOG_CONSOLE: 'off',
      ECHOES_LOG_DIR: join(cwd, 'logs'),
      ...env,
    },
  });
  return { app, port };
}

async function scrape(
  port: number,
  until: (s: readonly Sample[]) => boolean,
  timeoutMs = 20_000,
): Promise<readonly Sample[]> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      last = await res.text();
      const samples = parseExposition(last);
      if (until(samples)) return samples;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `metrics never satisfied the condition; last scrape:\n${last.slice(0, 4000)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(NODE_BINARIES)('cache and fs metrics under $label', ({ path: node }) => {
  describe.each([
    ['ESM', 'app.mjs'],
    ['CommonJS', 'app.cjs'],
  ])('%s fixture', (_kind, fixture) => {
    it('reports exactly the hits, misses, evictions, fs operations and bytes the app did, its directory size, and runtime metrics', async () => {
      const cwd = mkdtempSync(join(tmp, 'cwd-'));
      const dir = mkdtempSync(join(tmp, 'fx-'));
      const { app, port } = await startApp(node, join(FIXTURES, fixture), cwd, {
        OTEL_SERVICE_NAME: 'metrics-fixture',
        ECHOES_FS_PATH_GROUPS: `fx=${dir}`,
        ECHOES_DIRS: `fx=${dir}`,
        ECHOES_DIR_INTERVAL_MS: '100',
        FIXTURE_DIR: dir,
      });
      try {
        await app.waitFor(/READY/, 30_000);
        const s = await scrape(
          port,
          (x) => sumSamples(x, CACHE_REQ, { cache_name: 'fx-bounded' }) !== undefined,
        );

        const req = (cache: string, result: string) =>
          sumSamples(s, CACHE_REQ, { cache_name: cache, cache_result: result });
        // lru-cache, through the module hook (require-in-the-middle / import-in-the-middle)
        expect(req('fx-lru', 'hit')).toBe(2);
        expect(req('fx-lru', 'miss')).toBe(1);
        expect(
          sumSamples(s, CACHE_EVICT, { cache_name: 'fx-lru', cache_eviction_reason: 'capacity' }),
        ).toBe(1);
        expect(sumSamples(s, CACHE_ENTRIES, { cache_name: 'fx-lru' })).toBe(3);
        expect(sumSamples(s, CACHE_CAP, { cache_name: 'fx-lru' })).toBe(3);
        // instrumentCache(Map): unbounded, so no capacity series
        expect(req('fx-map', 'hit')).toBe(1);
        expect(req('fx-map', 'miss')).toBe(2);
        expect(sumSamples(s, CACHE_ENTRIES, { cache_name: 'fx-map' })).toBe(1);
        expect(sumSamples(s, CACHE_CAP, { cache_name: 'fx-map' })).toBeUndefined();
        // createCache
        expect(req('fx-bounded', 'hit')).toBe(3);
        expect(req('fx-bounded', 'miss')).toBe(1);
        expect(sumSamples(s, CACHE_CAP, { cache_name: 'fx-bounded' })).toBe(2);

        // fs, filtered by the fixture's path group
        const fx = { fs_path_group: 'fx' };
        const io = (api: string) =>
          sumSamples(s, FS_IO, { ...fx, fs_direction: 'write', fs_api: api });
        expect(io('sync')).toBe(1000 + 18);
        expect(io('promise')).toBe(2345);
        expect(io('callback')).toBe(77);
        expect(io('stream')).toBe(100);
        const ops = (op: string, api: string) =>
          sumSamples(s, FS_OPS, { ...fx, fs_operation: op, fs_api: api });
        expect(ops('writeFile', 'sync')).toBe(1);
        expect(ops('writeFile', 'promise')).toBe(1);
        expect(ops('writeFile', 'callback')).toBe(1);
        expect(ops('open', 'sync')).toBe(1);
        expect(ops('write', 'sync')).toBe(2);
        expect(ops('close', 'sync')).toBe(1);
        expect(ops('open', 'stream')).toBe(1);
        expect(ops('close', 'stream')).toBe(1);
        // nothing else happened in the group: Node's internal open/write/close behind writeFile are
        // not counted again, and the directory monitor's walk of this very directory is not counted
        const nonStream = s.filter(
          (x) =>
            x.name === FS_OPS &&
            x.labels['fs_path_group'] === 'fx' &&
            x.labels['fs_api'] !== 'stream',
        );
        expect(nonStream.reduce((a, x) => a + x.value, 0)).toBe(7);
        expect(sumSamples(s, `${FS_DUR}_count`, { ...fx, fs_operation: 'writeFile' })).toBe(3);
        expect(
          sumSamples(s, `${FS_DUR}_sum`, { ...fx, fs_operation: 'writeFile' }),
        ).toBeGreaterThan(0);
        // the directory monitor: exact size and file count of the watched dir, utilization of its volume
        const d = await scrape(port, (x) => sumSamples(x, DIR_SIZE, { dir_name: 'fx' }) === 3540);
        expect(sumSamples(d, DIR_FILES, { dir_name: 'fx' })).toBe(5);
        const util = sumSamples(d, DISK_UTIL, { dir_name: 'fx' })!;
        expect(util).toBeGreaterThan(0);
        expect(util).toBeLessThanOrEqual(1);
        expect(sumSamples(d, FS_OPS, { ...fx, fs_api: 'promise' })).toBe(1); // still only the app's writeFile

        // runtime: every catalog series from runtime-node (GC pauses need a collection, not guaranteed here) and process RSS
        const runtime = CATALOG.filter(
          (e) =>
            (e.source === 'runtime-node' && e.name !== 'v8js.gc.duration') ||
            e.name === 'process.memory.usage',
        );
        const r = await scrape(port, (x) =>
          runtime.every((e) => x.some((y) => y.name === e.embedded)),
        );
        expect(sumSamples(r, series(METRIC.processMemory), {})).toBeGreaterThan(10 * 1024 * 1024);
        expect(app.stderr()).not.toMatch(/TypeError|ReferenceError|uncaught/i);
      } finally {
        app.kill('SIGKILL');
        await app.exited;
      }
    });
  });
});

describe.each(NODE_BINARIES)('a watched directory that vanishes under $label', ({ path: node }) => {
  it('never reaches the app: the gauges turn NaN, the error is counted, one warning per kind', async () => {
    const cwd = mkdtempSync(join(tmp, 'cwd-'));
    const dir = mkdtempSync(join(tmp, 'fx-'));
    const gone = join(tmp, `gone-${Date.now()}`);
    mkdirSync(gone);
    writeFileSync(join(gone, 'a'), 'abcdefg');
    const { app, port } = await startApp(node, join(FIXTURES, 'app.mjs'), cwd, {
      OTEL_SERVICE_NAME: 'metrics-fixture',
      ECHOES_FS_PATH_GROUPS: `fx=${dir}`,
      ECHOES_DIRS: `gone=${gone}`,
      ECHOES_DIR_INTERVAL_MS: '100',
      FIXTURE_DIR: dir,
    });
    try {
      await app.waitFor(/READY/, 30_000);
      await scrape(port, (x) => sumSamples(x, DIR_SIZE, { dir_name: 'gone' }) === 7);
      rmSync(gone, { recursive: true });
      const s = await scrape(port, (x) =>
        Number.isNaN(sumSamples(x, DIR_SIZE, { dir_name: 'gone' })),
      );
      expect(sumSamples(s, DIR_FILES, { dir_name: 'gone' })).toBeNaN();
      const errors = series(METRIC.monitorErrors);
      await scrape(
        port,
        (x) =>
          (sumSamples(x, errors, { echoes_component: 'dir-monitor', error_type: 'ENOENT' }) ?? 0) >=
          3,
      );
      // the app is alive and still answers, and said it once per kind (size, volume), not per tick
      expect(app.child.exitCode).toBeNull();
      const warnings = app
        .stderr()
        .split('\n')
        .filter((l) => l.includes('"gone"'));
      expect(warnings).toHaveLength(2);
    } finally {
      app.kill('SIGKILL');
      await app.exited;
    }
  });
});

// lru-cache 7 and 10 are installed under alias names (lru-cache-7, lru-cache-10), which the module
// hook rightly ignores: here each is copied into a throwaway project as `node_modules/lru-cache`,
// so require-in-the-middle and import-in-the-middle meet them under their real name.
const LRU_VERSIONS = [
  { version: '7', from: join(REPO_ROOT, 'node_modules/lru-cache-7') },
  { version: '10', from: join(REPO_ROOT, 'node_modules/lru-cache-10') },
];
const LRU_APP = {
  'app.mjs': [
    "import * as ns from 'lru-cache';",
    'const LRU = ns.LRUCache ?? ns.default;',
    'const c = new LRU({ max: 2, name: process.env.CACHE_NAME });',
    "c.set('a', 1); c.get('a'); c.get('a'); c.get('b'); c.set('b', 2); c.set('c', 3);",
    'globalThis.keep = c;',
    "console.log('READY');",
    'setInterval(() => {}, 1000);',
  ].join('\n'),
  'app.cjs': [
    "const m = require('lru-cache');",
    'const LRU = m.LRUCache ?? m;',
    'const c = new LRU({ max: 2, name: process.env.CACHE_NAME });',
    "c.set('a', 1); c.get('a'); c.get('a'); c.get('b'); c.set('b', 2); c.set('c', 3);",
    'globalThis.keep = c;',
    "console.log('READY');",
    'setInterval(() => {}, 1000);',
  ].join('\n'),
};

describe.each(NODE_BINARIES)(
  'lru-cache 7 and 10 through the module hook under $label',
  ({ path: node }) => {
    it.each(
      LRU_VERSIONS.flatMap((v) =>
        (['app.mjs', 'app.cjs'] as const).map((f) => ({ ...v, file: f })),
      ),
    )(
      'lru-cache $version, $file: 2 hits, 1 miss, 1 capacity eviction, capacity 2',
      async ({ version, from, file }) => {
        const proj = mkdtempSync(join(tmp, `lru${version}-`));
        cpSync(from, join(proj, 'node_modules/lru-cache'), { recursive: true });
        writeFileSync(join(proj, file), LRU_APP[file]);
        const name = `v${version}-${file}`;
        const { app, port } = await startApp(node, join(proj, file), proj, {
          OTEL_SERVICE_NAME: 'lru-fixture',
          ECHOES_DIRS: 'none',
          CACHE_NAME: name,
        });
        try {
          await app.waitFor(/READY/, 30_000);
          const s = await scrape(
            port,
            (x) => sumSamples(x, CACHE_REQ, { cache_name: name }) !== undefined,
          );
          expect(sumSamples(s, CACHE_REQ, { cache_name: name, cache_result: 'hit' })).toBe(2);
          expect(sumSamples(s, CACHE_REQ, { cache_name: name, cache_result: 'miss' })).toBe(1);
          expect(
            sumSamples(s, CACHE_EVICT, { cache_name: name, cache_eviction_reason: 'capacity' }),
          ).toBe(1);
          expect(sumSamples(s, CACHE_ENTRIES, { cache_name: name })).toBe(2);
          expect(sumSamples(s, CACHE_CAP, { cache_name: name })).toBe(2);
        } finally {
          app.kill('SIGKILL');
          await app.exited;
        }
      },
    );
  },
);

// ECHOES_ESM_HOOK: a CommonJS entry gets no ESM import hook by default (entry-format.ts). Its
// require() of lru-cache is still instrumented (the CommonJS cases above run with the default);
// what it gives up is import() of it, which gets lru-cache 10's ESM build. `on` brings that back.
// On Node 20 the hook is a loader thread, so the default also runs one thread fewer.
const IMPORTING_CJS_APP = [
  "import('lru-cache').then((ns) => {",
  '  const c = new ns.LRUCache({ max: 2, name: process.env.CACHE_NAME });',
  "  c.set('a', 1); c.get('a'); c.get('b');",
  '  globalThis.keep = c;',
  "  const threads = require('node:fs').readdirSync('/proc/self/task').length;",
  "  setTimeout(() => console.log('READY threads=' + threads), 0);",
  '  setInterval(() => {}, 1000);',
  '});',
].join('\n');

describe.each(NODE_BINARIES)('ECHOES_ESM_HOOK for a CommonJS entry under $label', (n) => {
  const moduleRegisterThread = Number(n.version.split('.')[0]) < 22;

  it("default (auto): no hook, so import() of lru-cache is not instrumented; 'on': it is", async () => {
    const proj = mkdtempSync(join(tmp, 'esm-hook-'));
    cpSync(join(REPO_ROOT, 'node_modules/lru-cache-10'), join(proj, 'node_modules/lru-cache'), {
      recursive: true,
    });
    writeFileSync(join(proj, 'app.cjs'), IMPORTING_CJS_APP);
    const runs: Record<string, { hit: number | undefined; threads: number }> = {};
    for (const mode of ['auto', 'on'] as const) {
      const name = `import-${mode}`;
      const { app, port } = await startApp(n.path, join(proj, 'app.cjs'), proj, {
        OTEL_SERVICE_NAME: 'esm-hook-fixture',
        ECHOES_DIRS: 'none',
        CACHE_NAME: name,
        ...(mode === 'on' ? { ECHOES_ESM_HOOK: 'on' } : {}),
      });
      try {
        const ready = await app.waitFor(/READY threads=(\d+)/, 30_000);
        // The cache was used before READY, and the endpoint collects on each scrape: one scrape
        // that has the app's fs calls (the readdirSync above) shows whether it was instrumented.
        const s = await scrape(port, (x) => sumSamples(x, FS_OPS, {}) !== undefined);
        runs[mode] = {
          hit: sumSamples(s, CACHE_REQ, { cache_name: name, cache_result: 'hit' }),
          threads: Number(ready[1]),
        };
      } finally {
        app.kill('SIGKILL');
        await app.exited;
      }
    }
    expect(runs.auto!.hit).toBeUndefined();
    expect(runs.on!.hit).toBe(1);
    // Node 20: module.register's loader thread; Node 24: in-thread hooks, no thread either way.
    expect(runs.on!.threads - runs.auto!.threads).toBe(moduleRegisterThread ? 1 : 0);
  });
});
