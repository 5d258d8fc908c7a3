#!/usr/bin/env node
// HTTP overhead benchmark: server CPU time per request and requests/s of a plain node:http server
// (bench/http-server.cjs) run bare, with echoes-otel, and with upstream
// @opentelemetry/auto-instrumentations-node/register, under Node 20 and Node 24. Runs are
// interleaved round by round (every variant once per round, order rotated) so machine drift hits
// all variants alike; ratios are taken within a round against that round's plain run, then the
// median over rounds is reported. Writes bench/results/http.md.
//
// Env: BENCH_ROUNDS (5), BENCH_REQUESTS (20000 measured per run), BENCH_WARMUP (3000),
//      BENCH_CONCURRENCY (16), BENCH_STEPS=1 adds the decomposition variants,
//      BENCH_NODES=20,24 (which binaries), BENCH_VARIANTS (name filter), BENCH_OUT (result file),
//      BENCH_ECHOES_VARIANTS (extra register variants with env settings, see variants()),
//      BENCH_BEFORE (another register.js, measured as variant echoes-before),
//      BENCH_SERVER (the app under test, a file in bench/: http-server.cjs, or http-fetch-server.cjs
//      for a handler that fetch()es a downstream per request),
//      BENCH_CPU_PROF (a folder: each server run writes a V8 CPU profile there; read them with
//      bench/cpuprofile-summary.mjs), BENCH_NODE_ARGS (extra node/V8 flags for every server run,
//      space-separated, e.g. `--log-deopt --logfile=/tmp/v8-%p.log`, or
//      `--require ./bench/http-thread-stats.cjs` with BENCH_THREAD_STATS_OUT for CPU per thread).
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, wantedNodes, envInt } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const ROUNDS = envInt('BENCH_ROUNDS', 5);
const REQUESTS = envInt('BENCH_REQUESTS', 20_000);
const WARMUP = envInt('BENCH_WARMUP', 3_000, { min: 0 });
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16);
const RUN_DEADLINE_MS = 60_000;
const OUT = process.env.BENCH_OUT ?? join(here, 'results', 'http.md');

const NODES = wantedNodes('node 24');

const register = join(root, 'dist', 'bundle', 'register.js');
const LOG_DIR = join(os.tmpdir(), `echoes-bench-http-${process.pid}`);
const haveRegister = existsSync(register) && process.env.BENCH_MINIMAL !== '1';
const minimal = join(here, 'http-minimal-sdk.mjs');

/** Each variant: extra node args and env. `sink` is filled in once the OTLP sink listens. */
function variants(sink) {
  const otlp = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_METRIC_EXPORT_INTERVAL: '5000',
    OTEL_SERVICE_NAME: 'bench-http',
  };
  const list = [
    { name: 'plain', args: [], env: {} },
    haveRegister
      ? {
          name: 'echoes-otel',
          args: ['--import', register],
          env: {
            ...otlp,
            OTEL_TRACES_EXPORTER: 'otlp',
            OTEL_METRICS_EXPORTER: 'otlp',
            OTEL_LOGS_EXPORTER: 'otlp',
            // The embedded Prometheus endpoint stays on (it is part of "all signals"), on a free port.
            OTEL_EXPORTER_PROMETHEUS_PORT: '0',
            ECHOES_LOG_DIR: LOG_DIR,
          },
        }
      : {
          name: 'echoes-otel (minimal SDK)',
          args: ['--import', minimal],
          env: { ...otlp, BENCH_STEP: 'full' },
        },
    {
      name: 'upstream auto-instrumentations-node',
      args: ['--import', '@opentelemetry/auto-instrumentations-node/register'],
      env: {
        ...otlp,
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_LOGS_EXPORTER: 'otlp',
        OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
        // Only local detectors: the cloud ones would probe metadata endpoints off this machine.
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
      },
    },
  ];
  // The variants below are the real register's, with its settings.
  const base = list.find((v) => v.name === 'echoes-otel');
  // BENCH_BEFORE=<path of another register.js> adds it as `echoes-before`, same settings (e.g. the
  // unbundled dist/instrumentation/register.js against the shipped bundle, or an older build).
  if (process.env.BENCH_BEFORE && base !== undefined) {
    list.push({
      name: 'echoes-before',
      args: ['--import', process.env.BENCH_BEFORE],
      env: base.env,
    });
  }
  // BENCH_ECHOES_VARIANTS='ECHOES_DISABLED_INSTRUMENTATIONS=runtime;ECHOES_DISABLED_INSTRUMENTATIONS=fs'
  // adds one register variant per entry with those env settings (what does each feature cost?).
  for (const spec of (process.env.BENCH_ECHOES_VARIANTS ?? '').split(';').filter(Boolean)) {
    if (base === undefined) break;
    const extra = Object.fromEntries(
      spec
        .split(/,(?=[A-Z_]+=)/)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    list.push({ name: `echoes-otel ${spec}`, args: base.args, env: { ...base.env, ...extra } });
  }
  if (process.env.BENCH_STEPS === '1') {
    list.push(
      {
        name: 'step: http histogram + active context (spans off)',
        args: ['--import', minimal],
        env: { ...otlp, BENCH_STEP: 'metrics' },
      },
      {
        name: 'step: + spans sampled, not exported',
        args: ['--import', minimal],
        env: { ...otlp, BENCH_STEP: 'spans' },
      },
      ...(haveRegister
        ? [
            {
              name: 'step: minimal SDK, all signals',
              args: ['--import', minimal],
              env: { ...otlp, BENCH_STEP: 'full' },
            },
          ]
        : []),
    );
  }
  // BENCH_VARIANTS=plain,minimal keeps only variants whose name contains one of the words.
  const only = process.env.BENCH_VARIANTS?.split(',').filter(Boolean);
  return only === undefined
    ? list
    : list.filter((v) => v.name === 'plain' || only.some((w) => v.name.includes(w)));
}

function waitMessage(child, type, ms = 30_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} message within ${ms} ms`)), ms);
    const onMessage = (m) => {
      if (m && m.type === type) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before ${type}`));
    });
  });
}

const children = new Set();
function start(script, execPath, execArgv, env) {
  const child = fork(script, [], {
    execPath,
    execArgv,
    env: { ...process.env, ...env },
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  child.stderrText = () => stderr;
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}
function killAll() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

const UA = { 'user-agent': 'echoes-bench/1.0 (node:http keep-alive load generator)' };

/** Keep-alive load: CONCURRENCY loops, each sending the next request when the last one ended. */
function load(port, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  let done = 0;
  let failed = 0;
  const deadline = Date.now() + RUN_DEADLINE_MS;
  return new Promise((resolve) => {
    const one = () => {
      if (sent >= count || Date.now() > deadline) {
        if (done + failed >= sent) {
          agent.destroy();
          resolve({ done, failed });
        }
        return;
      }
      sent++;
      // A User-Agent as real clients send one: both instrumentations record it on the span.
      const req = http.get(
        { host: '127.0.0.1', port, path: '/api/items?page=1', agent, headers: UA },
        (res) => {
          res.resume();
          res.on('end', () => {
            done++;
            one();
          });
        },
      );
      req.on('error', () => {
        failed++;
        one();
      });
    };
    for (let i = 0; i < CONCURRENCY; i++) one();
  });
}

async function cpuOf(child) {
  const p = waitMessage(child, 'cpu');
  child.send('cpu');
  const m = await p;
  return { us: m.cpu.user + m.cpu.system, rss: m.rss };
}

const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

let profRun = 0;
function profArgs(node, variant) {
  const dir = process.env.BENCH_CPU_PROF;
  if (dir === undefined || dir === '') return [];
  mkdirSync(dir, { recursive: true });
  const name = `${node.label}-${variant.name}-${++profRun}`.replace(/[^\w.-]+/g, '_');
  return ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`];
}

async function runOnce(node, variant) {
  const child = start(
    join(here, process.env.BENCH_SERVER ?? 'http-server.cjs'),
    node.path,
    [...profArgs(node, variant), ...nodeArgs, ...variant.args],
    variant.env,
  );
  try {
    const { port } = await waitMessage(child, 'ready');
    await load(port, WARMUP);
    const c0 = await cpuOf(child);
    const t0 = process.hrtime.bigint();
    const { done, failed } = await load(port, REQUESTS);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const c1 = await cpuOf(child);
    if (failed > 0 || done === 0) throw new Error(`${failed} failed requests`);
    return {
      cpuPerReqUs: (c1.us - c0.us) / done,
      rps: done / wallS,
      rssMiB: c1.rss / 2 ** 20,
      done,
    };
  } catch (err) {
    throw new Error(`${variant.name} under ${node.label}: ${err.message}\n${child.stderrText()}`);
  } finally {
    await stop(child);
  }
}

const fmt = (x, d = 2) => x.toFixed(d);

async function main() {
  const load0 = os.loadavg()[0];
  const sink = start(join(here, 'http-sink.mjs'), process.execPath, [], {});
  const { port: sinkPort } = await waitMessage(sink, 'ready');
  const vs = variants(sinkPort);
  const combos = NODES.flatMap((node) => vs.map((variant) => ({ node, variant })));
  /** results[node][variant] = [{cpuPerReqUs, rps, ...} per round] */
  const results = new Map();
  for (let round = 0; round < ROUNDS; round++) {
    const order = combos.map((_, i) => combos[(i + round) % combos.length]);
    for (const { node, variant } of order) {
      const r = await runOnce(node, variant);
      const key = `${node.label}\u0000${variant.name}`;
      if (!results.has(key)) results.set(key, []);
      results.get(key)[round] = r;
      console.log(
        `round ${round + 1}/${ROUNDS} ${node.label.padEnd(14)} ${variant.name.padEnd(52)} ` +
          `${fmt(r.cpuPerReqUs, 1).padStart(7)} µs CPU/req  ${fmt(r.rps, 0).padStart(6)} req/s  rss ${fmt(r.rssMiB, 0)} MiB`,
      );
    }
  }
  sink.send('stats');
  const sinkStats = await waitMessage(sink, 'stats');
  await stop(sink);
  rmSync(LOG_DIR, { recursive: true, force: true });
  const load1 = os.loadavg()[0];
  const perSignal = Object.entries(sinkStats.byPath ?? {})
    .map(([path, v]) => `${path} ${v.requests} exports / ${fmt(v.bytes / 2 ** 20, 1)} MiB`)
    .join(', ');
  const sinkConnections = sinkStats.connections ?? 0;

  const rows = [];
  for (const node of NODES) {
    const plain = results.get(`${node.label}\u0000plain`);
    for (const variant of vs) {
      const rs = results.get(`${node.label}\u0000${variant.name}`);
      const cpuRatios = rs.map((r, i) => r.cpuPerReqUs / plain[i].cpuPerReqUs);
      const rpsRatios = rs.map((r, i) => r.rps / plain[i].rps);
      rows.push(
        `| ${node.label} | ${variant.name} | ${fmt(median(rs.map((r) => r.cpuPerReqUs)), 1)} | ` +
          `**${fmt(median(cpuRatios))}×** (${fmt(Math.min(...cpuRatios))}–${fmt(Math.max(...cpuRatios))}) | ` +
          `${fmt(median(rs.map((r) => r.rps)), 0)} | ${fmt(median(rpsRatios))}× | ${fmt(median(rs.map((r) => r.rssMiB)), 0)} |`,
      );
    }
  }
  // The per-record cost behind the duration histogram, under each Node (bench/http-record.mjs).
  const recordLines = NODES.map((node) => {
    const r = spawnSync(node.path, [join(here, 'http-record.mjs')], {
      cwd: root,
      encoding: 'utf8',
    });
    return r.status === 0
      ? `- ${r.stdout.trim()}`
      : `- ${node.label}: http-record failed: ${r.stderr.trim().slice(-300)}`;
  });
  const cpus = os.cpus();
  const md = [
    '## HTTP server overhead',
    '',
    `Run: ${new Date().toISOString()} · ${cpus.length} × ${cpus[0]?.model ?? 'cpu'} · ${fmt(os.totalmem() / 2 ** 30, 1)} GiB · ${os.type()} ${os.release()} · load average ${fmt(load0, 1)} at start, ${fmt(load1, 1)} at end (other work shared the machine)`,
    `Node: ${NODES.map((n) => n.label).join(', ')} · ours = ${haveRegister ? '`--import dist/bundle/register.js` (the real preload)' : '`bench/http-minimal-sdk.mjs` (stock SDK pipelines + our http module; the register had not landed)'}`,
    '',
    `Method: \`node bench/http.mjs\`. A node:http server (\`bench/http-server.cjs\`, CommonJS) doing what a real handler does`,
    `per request: one 4 KiB \`readFileSync\` and one Map lookup, then a small JSON answer. It runs in its own process per run;`,
    `a keep-alive load generator in the driver process sends ${WARMUP} warm-up`,
    `then ${REQUESTS} measured GET requests with ${CONCURRENCY} in flight. Server CPU = user + system`,
    `\`process.cpuUsage()\` of the server process (all its threads) over the measured requests, read over IPC;`,
    `req/s = measured requests / wall time. All instrumented variants send traces (sampled 100 %), metrics`,
    `(5 s interval) and logs over OTLP http/protobuf to one local sink process that accepts and discards`,
    `(received: ${perSignal || 'nothing'}; ${sinkConnections} connections). The fixture writes no log line per request, so the log pipelines`,
    `are on but idle. The fixture is CommonJS because upstream's register alone patches`,
    `only \`require\`d modules. ${ROUNDS} rounds; each round runs every (node, variant) once, in an order rotated`,
    `each round; a ratio is taken against the plain run of the same round and Node, then the median (min–max)`,
    `over rounds is shown. CPU/req is the figure the budget is about (target: echoes-otel at most 1.6× plain);`,
    `req/s is whole-system throughput on 2 shared cores (the load generator and the sink compete with the`,
    `server), so it moves more with machine load.`,
    '',
    '| Node | variant | CPU µs/req (median) | CPU/req vs plain | req/s (median) | req/s vs plain | RSS MiB |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Histogram record alone (`node bench/http-record.mjs`, in-process): stock SDK `histogram.record(v, attrs)`',
    'with the attribute object built per request, against the cached bound slot of `fast-metrics.ts`:',
    '',
    ...recordLines,
    '',
  ].join('\n');
  mkdirSync(dirname(OUT), { recursive: true });
  // Formatted like every other committed file, so `prettier --check .` stays green.
  let out = md;
  try {
    const prettier = await import('prettier');
    out = await prettier.format(md, {
      parser: 'markdown',
      ...((await prettier.resolveConfig(OUT)) ?? {}),
    });
  } catch {
    // prettier is a devDependency; without it the table is still valid markdown
  }
  writeFileSync(OUT, out);
  console.log(`\n${out}\nwritten to ${OUT}`);
}

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
