#!/usr/bin/env node
// Cache overhead benchmark: `get` on an lru-cache instrumented by echoes-otel (the subclass the
// module hook installs, with the cache metrics registered on an SDK MeterProvider) vs a bare
// lru-cache 11 `get`; also echoes' createCache and an instrumentCache(Map) vs a bare Map.
//
// Each variant runs in its own child process: with the instrumentation on, every LRUCache an app
// makes is the subclass, and mixing bare and subclassed instances in one process would make
// lru-cache's internals polymorphic and slow both (measured: a plain pass-through subclass next to
// bare instances cost 5x). Rounds interleave the variants (order rotated); each child keeps its
// fastest batch of process CPU time (user + system), since the machine is shared. Ratios are taken
// within a round against that round's baseline; the median over rounds is reported.
// Needs `npm run build` (dist/instrumentation/signals/{cache,lru-cache}.js).
//
// Env: BENCH_ROUNDS (7), BENCH_GETS (2000000 per batch), BENCH_NODES (20,24).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, wantedNodes, envInt } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);
const ROUNDS = envInt('BENCH_ROUNDS', 7);
const GETS = envInt('BENCH_GETS', 2_000_000);
const BATCHES = 8;
const KEYS = 1000;
// [variant, baseline it is compared with]
const VARIANTS = [
  ['lru-cache bare', null],
  ['lru-cache + echoes', 'lru-cache bare'],
  ['createCache (echoes)', 'lru-cache bare'],
  ['Map bare', null],
  ['Map + instrumentCache', 'Map bare'],
];

if (process.argv[2] === '--child') {
  const variant = process.argv[3];
  const { LRUCache } = require('lru-cache');
  const { setupCacheMetrics, createCache, instrumentCache } = await import(
    pathToFileURL(join(root, 'dist/instrumentation/signals/cache.js')).href
  );
  const { instrumentLruCacheClass } = await import(
    pathToFileURL(join(root, 'dist/instrumentation/signals/lru-cache.js')).href
  );
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  class Reader extends MetricReader {
    async onShutdown() {}
    async onForceFlush() {}
  }
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  const feature = setupCacheMetrics({ meterProvider: provider, meter: provider.getMeter('bench') });

  const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`);
  const make = {
    'lru-cache bare': () => new LRUCache({ max: 2 * KEYS }),
    'lru-cache + echoes': () =>
      new (instrumentLruCacheClass(LRUCache))({ max: 2 * KEYS, name: 'bench' }),
    'createCache (echoes)': () => createCache({ name: 'bench', maxEntries: 2 * KEYS }),
    'Map bare': () => new Map(),
    'Map + instrumentCache': () => instrumentCache(new Map(), 'bench'),
  };
  const cache = make[variant]();
  for (const k of keys) cache.set(k, k.length);
  const run = (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += cache.get(keys[i % KEYS]); // every get is a hit
    return s;
  };
  let best = Infinity;
  const perBatch = Math.floor(GETS / BATCHES);
  let sink = 0;
  for (let b = -1; b < BATCHES; b++) {
    const c0 = process.cpuUsage();
    sink += run(perBatch);
    const c = process.cpuUsage(c0);
    if (b >= 0) best = Math.min(best, ((c.user + c.system) * 1000) / perBatch); // batch -1 warms up the JIT
  }
  // An instrumented variant must really have counted every get.
  if (variant.includes('echoes') || variant.includes('instrumentCache')) {
    const { resourceMetrics } = await reader.collect();
    const req = resourceMetrics.scopeMetrics
      .flatMap((x) => x.metrics)
      .find((m) => m.descriptor.name === 'echoes.cache.requests');
    const hits = req?.dataPoints.find(
      (p) => p.attributes['cache.name'] === 'bench' && p.attributes['cache.result'] === 'hit',
    )?.value;
    if (hits !== perBatch * (BATCHES + 1))
      throw new Error(`${variant}: ${hits} hits counted, expected ${perBatch * (BATCHES + 1)}`);
  }
  feature.shutdown();
  await provider.shutdown();
  process.stdout.write(JSON.stringify({ ns: best, sink }));
  process.exit(0);
}

if (!existsSync(join(root, 'dist/instrumentation/signals/lru-cache.js'))) {
  console.error('bench cache: run `npm run build` first');
  process.exit(1);
}
const NODES = wantedNodes();

const rows = [];
for (const node of NODES) {
  const ns = Object.fromEntries(VARIANTS.map(([v]) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const [v] = VARIANTS[(k + r) % VARIANTS.length];
      const out = JSON.parse(
        execFileSync(node.path, [fileURLToPath(import.meta.url), '--child', v], {
          cwd: root,
          encoding: 'utf8',
          timeout: 300_000,
        }),
      );
      ns[v][r] = out.ns;
    }
    process.stdout.write(
      `${node.label} round ${r + 1}/${ROUNDS}: ${VARIANTS.map(([v]) => `${v} ${ns[v][r].toFixed(1)} ns`).join(', ')}\n`,
    );
  }
  for (const [v, base] of VARIANTS) {
    const ratio = base === null ? 1 : median(ns[v].map((x, i) => x / ns[base][i]));
    rows.push({ node: node.label, variant: v, base, ns: median(ns[v]), ratio });
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  '# cache: cost of a cache get with metrics',
  '',
  `Method: \`node bench/cache.mjs\`. ${ROUNDS} rounds; in each, every variant runs in its own fresh child process (order`,
  `rotated), timing ${BATCHES} batches of ${(GETS / BATCHES).toLocaleString('en')} gets after a warm-up batch and keeping the fastest batch of`,
  'process CPU time (user + system). Separate processes, because with the hook on every LRUCache is the subclass, and',
  "bare and subclassed instances in one process make lru-cache's internals polymorphic. Every get is a hit on one of",
  `${KEYS} string keys in a cache of capacity ${2 * KEYS}. The cache metrics are registered on an SDK MeterProvider and the`,
  'child checks, after the run, that every get was counted. lru-cache is 11.x; "lru-cache + echoes" is the subclass',
  'the module hook installs. Ratios are taken within each round against the baseline named, medians over rounds.',
  '',
  `Machine: ${cpu}, ${os.cpus().length} vCPU, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}. Run ${new Date().toISOString()}.`,
  '',
  '| Node | variant | ns per get | ratio | baseline |',
  '|---|---|---:|---:|---|',
  ...rows.map(
    (r) =>
      `| ${r.node} | ${r.variant} | ${r.ns.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.base ?? '—'} |`,
  ),
  '',
  'Target: a get with metrics at most 1.3× a bare lru-cache get.',
  '',
  ...rows
    .filter((r) => r.variant !== 'lru-cache bare' && r.base === 'lru-cache bare')
    .map(
      (r) =>
        `- ${r.node}, ${r.variant}: ${r.ratio.toFixed(2)}× a bare lru-cache get (${r.ratio <= 1.3 ? 'meets' : 'MISSES'} the 1.3× target).`,
    ),
  '',
];
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'cache.md'), lines.join('\n'));
console.log(lines.join('\n'));
