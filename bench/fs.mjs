#!/usr/bin/env node
// fs overhead benchmark: added cost per node:fs call of echoes-otel's fs metrics
// (instrumentation/signals/fs.ts through fast-metrics) vs no instrumentation vs upstream
// @opentelemetry/instrumentation-fs (spans on a started SDK tracer provider, no exporter: its
// cheapest realistic configuration). Workloads on tmpfs (/dev/shm): statSync, and
// writeFileSync + readFileSync pairs of a 256-byte file.
//
// Each round is a fresh child process that runs every variant in interleaved batches (install the
// patch, time a batch, remove it; order rotated), keeping each variant's fastest batch; the added
// cost is taken within a round against that round's bare figure, and the median over rounds is
// reported.
// Needs `npm run build` (reads dist/instrumentation/signals/fs.js and fast-metrics.js).
//
// Env: BENCH_ROUNDS (7), BENCH_CALLS (200000 timed calls per child, in 10 batches; the fastest
// batch counts, since other load on a shared machine only ever adds time), BENCH_NODES (20,24),
// BENCH_BEFORE_DIST (another build's tsc output, e.g. /work/main/dist: its fs feature measured as
// variant `before`, interleaved with the others), BENCH_OUT (result file; bench/results/fs.md).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, wantedNodes, envInt } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);
const CALLS = envInt('BENCH_CALLS', 200_000);
const ROUNDS = envInt('BENCH_ROUNDS', 7);
const BATCHES = 10;
const BEFORE_DIST = process.env.BENCH_BEFORE_DIST || undefined;
const VARIANTS = ['bare', 'echoes', 'upstream', ...(BEFORE_DIST !== undefined ? ['before'] : [])];
const WORKLOADS = ['statSync', 'write+readFileSync', 'writeSync(fd)'].filter((w) =>
  (process.env.BENCH_WORKLOADS ?? w).split(',').includes(w),
);

// ---------------------------------------------------------------------------------------------
// Child: all variants of one workload in one process, batch by batch (order rotated), each variant
// installed before its batch and removed after it, each with its own call site (new Function), so
// the JIT does not see one megamorphic site. Prints the fastest batch per variant, ns per call.
if (process.argv[2] === '--child') {
  const [, , , workload, dir] = process.argv;
  const fs = (await import('node:fs')).default;
  const { setupFsMetrics } = await import(
    pathToFileURL(join(root, 'dist/instrumentation/signals/fs.js')).href
  );
  const { createFastMetrics } = await import(
    pathToFileURL(join(root, 'dist/instrumentation/signals/fast-metrics.js')).href
  );
  const fastMetrics = createFastMetrics({ cardinalityLimit: 2000 });
  const before =
    BEFORE_DIST === undefined
      ? undefined
      : {
          setupFsMetrics: (
            await import(pathToFileURL(join(BEFORE_DIST, 'instrumentation/signals/fs.js')).href)
          ).setupFsMetrics,
          fastMetrics: (
            await import(
              pathToFileURL(join(BEFORE_DIST, 'instrumentation/signals/fast-metrics.js')).href
            )
          ).createFastMetrics({ cardinalityLimit: 2000 }),
        };
  let beforeFeature;
  const config = {
    fs: {
      pathGroups: [
        { name: 'logs', prefix: '/var/log/app' },
        { name: 'bench', prefix: dir },
        { name: 'sessions', prefix: '/srv/data/memory' },
      ],
      spans: false,
    },
  };
  const { FsInstrumentation } = require('@opentelemetry/instrumentation-fs');
  const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const api = require('@opentelemetry/api');
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new BasicTracerProvider();
  api.trace.setGlobalTracerProvider(provider);
  const upstream = new FsInstrumentation({ enabled: false });
  upstream.setTracerProvider(provider);

  let feature;
  const install = {
    bare: () => {},
    echoes: () => {
      feature = setupFsMetrics({ config, fastMetrics });
    },
    upstream: () => {
      upstream.enable();
      require('fs'); // instrumentation-fs patches the module object when fs is required
    },
    before: () => {
      beforeFeature = before.setupFsMetrics({ config, fastMetrics: before.fastMetrics });
    },
  };
  const uninstall = {
    bare: () => {},
    echoes: () => feature.shutdown(),
    upstream: () => upstream.disable(),
    before: () => beforeFeature.shutdown(),
  };
  const patched = {
    bare: () => fs.statSync.__wrapped !== true && fs.statSync.name === 'statSync',
    echoes: () =>
      fs.statSync.__wrapped !== true &&
      !String(fs.statSync).includes('[native code]') &&
      String(fs.statSync).includes('nested'),
    upstream: () => fs.statSync.__wrapped === true,
    before: () =>
      fs.statSync.__wrapped !== true &&
      !String(fs.statSync).includes('[native code]') &&
      String(fs.statSync).includes('nested'),
  };

  const file = join(dir, `f-${process.pid}`);
  const payload = Buffer.alloc(256, 97);
  fs.writeFileSync(file, payload);
  // writeSync(fd): what a logger does per line (pino's sonic-boom, winston's fd streams in sync mode)
  const fd = fs.openSync(join(dir, `log-${process.pid}`), 'a');
  const line = `${JSON.stringify({ level: 'info', time: 1764000000000, msg: 'request served', route: '/x', ms: 12 }).padEnd(119)}\n`;
  const body =
    workload === 'statSync'
      ? 'return () => { fs.statSync(file); }'
      : workload === 'writeSync(fd)'
        ? 'return () => { fs.writeSync(fd, line); }'
        : 'return () => { fs.writeFileSync(file, payload); fs.readFileSync(file); }';
  const sites = Object.fromEntries(
    VARIANTS.map((v) => [
      v,
      new Function('fs', 'file', 'payload', 'fd', 'line', body)(fs, file, payload, fd, line),
    ]),
  );
  const callsPerIter = workload === 'write+readFileSync' ? 2 : 1;
  const iters = Math.floor(CALLS / callsPerIter / BATCHES);
  const best = Object.fromEntries(VARIANTS.map((v) => [v, Infinity]));
  for (let b = -1; b < BATCHES; b++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(k + b + 1) % VARIANTS.length];
      const one = sites[v];
      install[v]();
      if (!patched[v]()) throw new Error(`variant ${v}: fs.statSync is not what it should be`);
      // CPU time (user + system) of the process, not wall time: on a loaded machine wall time
      // mostly measures how long the scheduler kept us waiting.
      const c0 = process.cpuUsage();
      for (let i = 0; i < iters; i++) one();
      const c = process.cpuUsage(c0);
      const ns = ((c.user + c.system) * 1000) / (iters * callsPerIter);
      uninstall[v]();
      if (b >= 0) best[v] = Math.min(best[v], ns); // batch -1 is the JIT warm-up
    }
  }
  const data = await fastMetrics.producer.collect();
  if (data.resourceMetrics.scopeMetrics.length === 0) throw new Error('echoes recorded nothing');
  rmSync(file, { force: true });
  fs.closeSync(fd);
  rmSync(join(dir, `log-${process.pid}`), { force: true });
  process.stdout.write(JSON.stringify(best));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent: interleaved rounds under each Node binary.
if (!existsSync(join(root, 'dist/instrumentation/signals/fs.js'))) {
  console.error(
    'bench fs: run `npm run build` first (dist/instrumentation/signals/fs.js is missing)',
  );
  process.exit(1);
}
const NODES = wantedNodes();

const shm = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const dir = mkdtempSync(join(shm, 'echoes-bench-fs-'));

const results = []; // { node, workload, variant, ns[] , added[] }
try {
  for (const node of NODES) {
    for (const workload of WORKLOADS) {
      const ns = Object.fromEntries(VARIANTS.map((v) => [v, []]));
      for (let r = 0; r < ROUNDS; r++) {
        const out = execFileSync(
          node.path,
          [fileURLToPath(import.meta.url), '--child', workload, dir],
          {
            cwd: root,
            encoding: 'utf8',
            timeout: 300_000,
          },
        );
        const best = JSON.parse(out);
        for (const v of VARIANTS) ns[v].push(best[v]);
        process.stdout.write(
          `${node.label} ${workload} round ${r + 1}/${ROUNDS}: ${VARIANTS.map((v) => `${v} ${ns[v][r].toFixed(0)} ns`).join(', ')}\n`,
        );
      }
      for (const v of VARIANTS) {
        const added = ns[v].map((x, i) => x - ns.bare[i]);
        const ratio = ns[v].map((x, i) => x / ns.bare[i]);
        results.push({
          node: node.label,
          workload,
          variant: v,
          ns: median(ns[v]),
          added: median(added),
          ratio: median(ratio),
        });
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  '# fs: added cost per node:fs call',
  '',
  `Method: \`node bench/fs.mjs\`. Each round is a fresh child process that times ${BATCHES} batches of ${(CALLS / BATCHES).toLocaleString('en')} calls`,
  'per variant after a warm-up batch, variants interleaved batch by batch (patch installed before its batch, removed',
  "after, order rotated, a separate call site per variant), keeping each variant's fastest batch (load from other",
  'processes on this shared machine only adds time). Time is the process CPU time (user + system, `process.cpuUsage()`),',
  'not wall time, because the machine is shared. tmpfs (`/dev/shm`), 256-byte file. Variants:',
  '`bare` (no instrumentation), `echoes` (setupFsMetrics: counter + histogram + bytes through fast-metrics,',
  'three configured path groups), `upstream` (@opentelemetry/instrumentation-fs 0.42 on an SDK',
  'BasicTracerProvider with the AsyncLocalStorage context manager, no span processor: spans created and',
  `dropped). Added cost and ratio are taken within each round against that round's bare run; medians of ${ROUNDS} rounds.`,
  '`write+readFileSync` figures are per call (a pair is two calls); `writeSync(fd)` appends a 120-byte JSON line to an',
  'open fd, what a logger does per record.',
  '',
  `Machine: ${cpu}, ${os.cpus().length} vCPU, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}. Run ${new Date().toISOString()}.`,
  '',
  '| Node | workload | variant | ns per call | added ns per call | ratio vs bare |',
  '|---|---|---|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.node} | ${r.workload} | ${r.variant} | ${r.ns.toFixed(0)} | ${r.variant === 'bare' ? '—' : r.added.toFixed(0)} | ${r.variant === 'bare' ? '1.00' : r.ratio.toFixed(2)} |`,
  ),
  '',
  'Target: echoes adds at most 600 ns (0.6 µs) per call. The issue quotes about 4.9 µs for instrumentation-fs, from a',
  'setup not recorded here; in this run its spans are created and dropped (no span processor), its cheapest setup,',
  'so the upstream column is a lower bound of what it costs in practice.',
  '',
];
for (const node of NODES) {
  for (const w of WORKLOADS) {
    const e = results.find(
      (r) => r.node === node.label && r.workload === w && r.variant === 'echoes',
    );
    const u = results.find(
      (r) => r.node === node.label && r.workload === w && r.variant === 'upstream',
    );
    // instrumentation-fs does not patch fd writes: its figure there is noise, not a cost to compare.
    const upstreamPart =
      w === 'writeSync(fd)'
        ? `upstream +${u.added.toFixed(0)} ns because instrumentation-fs does not measure writeSync at all`
        : `upstream +${u.added.toFixed(0)} ns; echoes costs ${(e.added / u.added).toFixed(2)}× what upstream adds`;
    lines.push(
      `- ${node.label}, ${w}: echoes +${e.added.toFixed(0)} ns (${e.added <= 600 ? 'meets' : 'MISSES'} the 600 ns target), ${upstreamPart}.`,
    );
  }
}
lines.push('');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(process.env.BENCH_OUT ?? join(here, 'results', 'fs.md'), lines.join('\n'));
console.log(lines.join('\n'));
