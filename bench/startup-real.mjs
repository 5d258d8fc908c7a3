#!/usr/bin/env node
// Startup of a real service's first lines (issue #11): bench/startup-real-app.cjs loads express,
// pg and openai; plain node vs echoes-otel vs upstream auto-instrumentations-node/register, and,
// in the same interleaved rounds, `-e 0` plain vs echoes (the +150 ms / +30 MiB budget). Figures:
// spawn→exit and spawn→first line wall time, peak RSS, CPU; medians; added = variant - plain of
// the same app in the same run. Writes bench/results/startup-real.md.
//
//   BENCH_ROUNDS=15   rounds (every variant once per round, rotating order)
//   BENCH_NODES=20,24
//   BENCH_BEFORE=<register.js of another build>: also that build's app and -e 0 runs (echoes-before)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, wantedNodes, envInt } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);
const REGISTER = join(root, 'dist/bundle/register.js');
const UPSTREAM = require.resolve('@opentelemetry/auto-instrumentations-node/register');
const APP = join(here, 'startup-real-app.cjs');
const ROUNDS = envInt('BENCH_ROUNDS', 15);
const NODES = wantedNodes();
const EMPTY =
  "process.stdout.write('FIRST\\n'); process.on('exit', () => { const r = process.resourceUsage(); process.stdout.write('RSS ' + r.maxRSS + ' CPU ' + (r.userCPUTime + r.systemCPUTime) + '\\n'); })";

const VARIANTS = {
  'app plain': { args: [APP], base: 'app plain' },
  'app echoes': { args: ['--import', REGISTER, APP], base: 'app plain' },
  'app upstream': { args: ['--import', UPSTREAM, APP], base: 'app plain' },
  '-e 0 plain': { args: ['-e', EMPTY], base: '-e 0 plain' },
  '-e 0 echoes': { args: ['--import', REGISTER, '-e', EMPTY], base: '-e 0 plain' },
  // BENCH_BEFORE=<register.js of another build> (e.g. main's before #11): the same pair from it.
  ...(process.env.BENCH_BEFORE
    ? {
        'app echoes-before': {
          args: ['--import', process.env.BENCH_BEFORE, APP],
          base: 'app plain',
        },
        '-e 0 echoes-before': {
          args: ['--import', process.env.BENCH_BEFORE, '-e', EMPTY],
          base: '-e 0 plain',
        },
      }
    : {}),
};

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
const tmp = mkdtempSync(join(tmpdir(), 'echoes-bench-startup-real-'));

let seq = 0;
function runOnce(node, args) {
  return new Promise((resolve, reject) => {
    const cwd = join(tmp, String(++seq));
    mkdirSync(cwd);
    const t0 = performance.now();
    let first = NaN;
    let out = '';
    let err = '';
    const child = spawn(node, args, {
      cwd,
      env: {
        PATH: process.env.PATH,
        // The app resolves express, pg and openai from the repo, as an app from its own node_modules.
        NODE_PATH: join(root, 'node_modules'),
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_SERVICE_NAME: `bench-startup-real-${seq}`,
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
        OTEL_EXPORTER_PROMETHEUS_PORT: '0',
        ECHOES_LOG_DIR: join(cwd, 'logs'),
        ECHOES_LOG_CONSOLE: 'off',
        // The core's code cache (ECHOES_CODE_CACHE_DIR's default is under it): one for the run,
        // written by its first echoes run, as a service's later starts find it.
        XDG_CACHE_HOME: join(tmp, 'xdg-cache'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => {
      if (Number.isNaN(first)) first = performance.now() - t0;
      out += d;
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      rmSync(cwd, { recursive: true, force: true });
      if (code !== 0 || !out.startsWith('FIRST')) {
        reject(new Error(`${args.join(' ').slice(0, 120)} exited ${code}: ${err}${out}`));
        return;
      }
      const num = (re) => Number(re.exec(out)?.[1] ?? NaN);
      resolve({ ms, first, rss: num(/RSS (\d+)/) / 1024, cpu: num(/CPU (\d+)/) / 1000, err });
    });
  });
}

const fmt = (x, d = 0) => (Number.isNaN(x) ? 'n/a' : x.toFixed(d));
const plus = (x, d = 0) => (Number.isNaN(x) ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(d)}`);
const load0 = loadavg();
const rows = [];
const verdicts = [];
for (const node of NODES) {
  const names = Object.keys(VARIANTS);
  for (const v of names) await runOnce(node.path, VARIANTS[v].args); // warm the file cache
  const samples = Object.fromEntries(names.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of names.map((_, i) => names[(i + round) % names.length])) {
      samples[v].push(await runOnce(node.path, VARIANTS[v].args));
    }
  }
  const med = Object.fromEntries(
    names.map((v) => [
      v,
      Object.fromEntries(
        ['ms', 'first', 'rss', 'cpu'].map((k) => [k, median(samples[v].map((s) => s[k]))]),
      ),
    ]),
  );
  for (const v of names) {
    const m = med[v];
    const b = med[VARIANTS[v].base];
    const base = v === VARIANTS[v].base;
    rows.push(
      `| ${node.label} | ${v} | ${fmt(m.ms)} | ${base ? '—' : plus(m.ms - b.ms)} | ${fmt(m.first)} | ${base ? '—' : plus(m.first - b.first)} | ${fmt(m.cpu)} | ${base ? '—' : plus(m.cpu - b.cpu)} | ${fmt(m.rss, 1)} | ${base ? '—' : plus(m.rss - b.rss, 1)} |`,
    );
    console.log(rows.at(-1));
  }
  const add = (v, k) => med[v][k] - med[VARIANTS[v].base][k];
  const half = (k) => add('app echoes', k) <= 0.5 * add('app upstream', k);
  verdicts.push(
    `- ${node.label}, express + pg + openai app: echoes adds ${plus(add('app echoes', 'first'))} ms to the first line ` +
      `(upstream ${plus(add('app upstream', 'first'))} ms: ${half('first') ? 'at most half, met' : 'MORE than half, MISSED'}), ` +
      `${plus(add('app echoes', 'ms'))} ms spawn→exit (upstream ${plus(add('app upstream', 'ms'))}: ${half('ms') ? 'met' : 'MISSED'}), ` +
      `${plus(add('app echoes', 'cpu'))} ms CPU (upstream ${plus(add('app upstream', 'cpu'))}: ${half('cpu') ? 'met' : 'MISSED'}), ` +
      `${plus(add('app echoes', 'rss'), 1)} MiB (upstream ${plus(add('app upstream', 'rss'), 1)}: ${half('rss') ? 'met' : 'MISSED'}).`,
    `- ${node.label}, \`-e 0\`: echoes ${plus(add('-e 0 echoes', 'ms'))} ms spawn→exit, ${plus(add('-e 0 echoes', 'rss'), 1)} MiB peak RSS ` +
      `(budget +150 ms / +30 MiB: ${add('-e 0 echoes', 'ms') <= 150 && add('-e 0 echoes', 'rss') <= 30 ? 'met' : 'MISSED'}).`,
  );
  const noisy = names.filter((v) => samples[v].some((s) => s.err.trim()));
  for (const v of noisy)
    verdicts.push(
      `- ${node.label} ${v} wrote to stderr: \`${samples[v]
        .find((s) => s.err.trim())
        .err.trim()
        .split('\n')[0]
        .slice(0, 160)}\``,
    );
}
const load1 = loadavg();
sink.close();
rmSync(tmp, { recursive: true, force: true });

const md = [
  '## startup of a real service: express + pg + openai',
  '',
  'Method: `node bench/startup-real.mjs` (after `npm run build`). `bench/startup-real-app.cjs` loads express, pg and the',
  'openai client and builds an app with a route, a pool and a client (no connection opened), writes its first line, and',
  'at exit its peak RSS (`process.resourceUsage().maxRSS`) and CPU time. Variants: plain node; echoes',
  '(`--import dist/bundle/register.js`, defaults); upstream (`--import @opentelemetry/auto-instrumentations-node/register`',
  '0.81, its defaults, resource detectors limited to env,host,os,process so no cloud probe leaves the machine); and, in',
  'the same rounds, `-e` of an empty CommonJS script, plain and echoes (the project-wide startup budget). All export',
  `to a local sink answering 200. One warm-up run per variant, then ${ROUNDS} rounds, the variants interleaved in rotating`,
  "order; medians. **first line**: spawn until the app's first line reached the bench (what a service waits before it",
  'serves); **spawn→exit** includes the exit flush; **CPU**: user + system of the whole process. Added = against plain',
  'node running the same code in the same run.',
  '',
  `Machine: ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, shared with other engineers' work (load average 1/5 min ${load0[0].toFixed(1)}/${load0[1].toFixed(1)} at the start, ${load1[0].toFixed(1)}/${load1[1].toFixed(1)} at the end). Run ${new Date().toISOString()}.`,
  '',
  '| Node | variant | spawn→exit ms | added | first line ms | added | CPU ms | added | peak RSS MiB | added |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  'Targets (issue #11): for the app, echoes adds at most half of what upstream adds; `-e 0` stays within +150 ms / +30 MiB.',
  '',
  ...verdicts,
  '',
].join('\n');
const OUT = process.env.BENCH_OUT ?? join(here, 'results', 'startup-real.md');
let out = md;
try {
  const prettier = await import('prettier');
  out = await prettier.format(md, {
    parser: 'markdown',
    ...((await prettier.resolveConfig(OUT)) ?? {}),
  });
} catch {
  // without prettier the table is still valid markdown
}
writeFileSync(OUT, out);
console.log(`\n${out}\nwritten to ${OUT}`);
