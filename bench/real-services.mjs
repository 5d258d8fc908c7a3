#!/usr/bin/env node
// A real service under load (issue #11): the fastify 5 fixture of the real-services tests
// (test/fixtures/real/fastify5.cjs: GET /users/:id queries Postgres through `pg`, SETs and GETs
// Redis through `ioredis`, `fetch`es a downstream service and calls the model through the `openai`
// client, inside a manual span) against real local servers (this machine's PostgreSQL,
// redis-server, the tests' OpenAI-compatible server and downstream), run plain, with echoes-otel,
// and with upstream `@opentelemetry/auto-instrumentations-node/register` limited to the same
// libraries. Server CPU per request from /proc/<pid>/stat (all threads), runs interleaved round
// by round, ratios against the same round's plain run, medians. Writes bench/results/real-services.md.
//
// Env: BENCH_ROUNDS (5), BENCH_REQUESTS (1500 measured per run), BENCH_WARMUP (300),
//      BENCH_CONCURRENCY (8), BENCH_NODES=20,24, BENCH_OUT (result file),
//      BENCH_ECHOES_VARIANTS (extra echoes-otel variants with env settings, `;`-separated),
//      BENCH_VARIANTS (name filter; plain always runs),
//      BENCH_BEFORE (another build's register.js, run as the variant `echoes-otel before`),
//      BENCH_CPU_PROF (a folder: each app run writes a V8 CPU profile there, `--cpu-prof`; read
//      them with `node bench/cpuprofile-summary.mjs <file>`; BENCH_CPU_PROF_INTERVAL sets the
//      sampling interval in µs, 1000 by default),
//      BENCH_THREADS=1 (CPU per thread over the measured requests: main, V8 workers, libuv),
//      BENCH_PERF (a folder: `perf record -e cpu-clock -g` of each app over the measured requests,
//      native frames included; read with `perf report -i <file> --no-children --sort sym`).
import { execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, wantedNodes, envInt } from './common.mjs';
import { loadRealHelpers } from './real-helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const REQUESTS = envInt('BENCH_REQUESTS', 1500);
const WARMUP = envInt('BENCH_WARMUP', 300, { min: 0 });
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 8);
const RUN_DEADLINE_MS = 120_000;
const OUT = process.env.BENCH_OUT ?? join(here, 'results', 'real-services.md');
const FIXTURE = join(root, 'test/fixtures/real/fastify5.cjs');
const REGISTER = join(root, 'dist/bundle/register.js');
const LOG_DIR = join(os.tmpdir(), `echoes-bench-real-${process.pid}`);
const NODES = wantedNodes('node 24');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** The libraries the fixture loads, by upstream's instrumentation names. */
const SAME_LIBRARIES = 'http,undici,pg,ioredis,openai,runtime-node';

if (!existsSync(REGISTER)) {
  console.error(`${REGISTER} is missing: run npm run build first`);
  process.exit(1);
}

function variants(sinkPort) {
  const otlp = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_METRIC_EXPORT_INTERVAL: '5000',
    OTEL_SERVICE_NAME: 'bench-real',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'otlp',
  };
  const ours = {
    name: 'echoes-otel',
    args: ['--import', REGISTER],
    env: { ...otlp, OTEL_EXPORTER_PROMETHEUS_PORT: '0', ECHOES_LOG_DIR: LOG_DIR },
  };
  // BENCH_ECHOES_VARIANTS='OTEL_NODE_DISABLED_INSTRUMENTATIONS=openai;OTEL_TRACES_EXPORTER=none'
  // adds one echoes-otel variant per entry with those settings (what does each part cost?).
  const extra = (process.env.BENCH_ECHOES_VARIANTS ?? '')
    .split(';')
    .filter(Boolean)
    .map((spec) => ({
      name: `echoes-otel ${spec}`,
      args: ours.args,
      env: {
        ...ours.env,
        ...Object.fromEntries(
          spec
            .split(/,(?=[A-Z_]+=)/)
            .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
        ),
      },
    }));
  const list = [
    { name: 'plain', args: [], env: {} },
    ours,
    {
      name: 'upstream auto-instrumentations-node',
      args: ['--import', '@opentelemetry/auto-instrumentations-node/register'],
      env: {
        ...otlp,
        OTEL_NODE_ENABLED_INSTRUMENTATIONS: SAME_LIBRARIES,
        OTEL_SEMCONV_STABILITY_OPT_IN: 'http,database',
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
      },
    },
    ...extra,
    ...(process.env.BENCH_BEFORE
      ? [
          {
            name: 'echoes-otel before',
            args: ['--import', process.env.BENCH_BEFORE],
            env: ours.env,
          },
        ]
      : []),
  ];
  // BENCH_VARIANTS=echoes keeps plain and the variants whose name contains one of the words.
  const only = process.env.BENCH_VARIANTS?.split(',').filter(Boolean);
  return only === undefined
    ? list
    : list.filter((v) => v.name === 'plain' || only.some((w) => v.name.includes(w)));
}

/** user + system CPU of the whole process (every thread), in µs, and its RSS in bytes. */
function procCpu(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return { us: (ticks * 1e6) / CLK_TCK, rss: rss * 1024 };
}

/** BENCH_THREADS=1: user + system CPU in µs per thread name (main thread, V8 workers, libuv...). */
function threadCpu(pid) {
  const by = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name =
        tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      by[`${name} user`] = (by[`${name} user`] ?? 0) + (Number(f[11]) * 1e6) / CLK_TCK;
      by[`${name} sys`] = (by[`${name} sys`] ?? 0) + (Number(f[12]) * 1e6) / CLK_TCK;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return by;
}

const children = new Set();
function killAll() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

const PROF_DIR = process.env.BENCH_CPU_PROF;
/** V8's sampling interval for BENCH_CPU_PROF, µs (V8's own default). */
const PROF_INTERVAL_US = envInt('BENCH_CPU_PROF_INTERVAL', 1000);
let profRun = 0;

// BENCH_PERF=<dir>: `perf record -e cpu-clock -g` of the app over the measured requests (all
// threads, native frames: GC, builtins, the kernel), JS frames named through --perf-basic-prof.
const PERF_DIR = process.env.BENCH_PERF;
let perfRun = 0;

function profArgs(node, variant) {
  if (PERF_DIR) return ['--perf-basic-prof'];
  if (PROF_DIR === undefined || PROF_DIR === '') return [];
  mkdirSync(PROF_DIR, { recursive: true });
  const name = `${node.label}-${variant.name}-${++profRun}`.replace(/[^\w.-]+/g, '_');
  return [
    '--cpu-prof',
    '--cpu-prof-dir',
    PROF_DIR,
    '--cpu-prof-name',
    `${name}.cpuprofile`,
    '--cpu-prof-interval',
    String(PROF_INTERVAL_US),
  ];
}

function startApp(node, variant, env) {
  const child = spawn(node.path, [...profArgs(node, variant), ...variant.args, FIXTURE], {
    cwd: root,
    env: { PATH: process.env.PATH, ...variant.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  child.stderrText = () => err;
  child.ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no READY in 30 s\n${err}`)), 30_000);
    child.stdout.on('data', () => {
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited ${code} before READY\n${err}`));
    });
  });
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(t);
}

function load(port, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  let done = 0;
  let failed = 0;
  let lastError = '';
  const deadline = Date.now() + RUN_DEADLINE_MS;
  return new Promise((resolve) => {
    const one = () => {
      if (sent >= count || Date.now() > deadline) {
        if (done + failed >= sent) {
          agent.destroy();
          resolve({ done, failed, lastError });
        }
        return;
      }
      sent++;
      const req = http.get({ host: '127.0.0.1', port, path: '/users/7', agent }, (res) => {
        const ok = res.statusCode === 200;
        if (!ok) lastError = `status ${res.statusCode}`;
        res.resume();
        res.on('end', () => {
          if (ok) done++;
          else failed++;
          one();
        });
      });
      req.on('error', (e) => {
        failed++;
        lastError = e.message;
        one();
      });
    };
    for (let i = 0; i < CONCURRENCY; i++) one();
  });
}

/** Bytes the sink has received on /v1/traces so far (set in main once the sink runs). */
let sinkTraceBytes = async () => 0;

async function runOnce(node, variant, env) {
  const sent0 = await sinkTraceBytes();
  const child = startApp(node, variant, env);
  const result = await measure(node, variant, child);
  // Everything this app sent, its exit flush included: a variant that drops spans under load
  // (a full queue) shows fewer bytes per request than the others, whatever its CPU says.
  result.traceKiBPerReq = ((await sinkTraceBytes()) - sent0) / 1024 / (WARMUP + REQUESTS);
  return result;
}

async function measure(node, variant, child) {
  try {
    const port = await child.ready;
    await load(port, WARMUP);
    const c0 = procCpu(child.pid);
    const th0 = process.env.BENCH_THREADS ? threadCpu(child.pid) : undefined;
    let perf;
    if (PERF_DIR) {
      mkdirSync(PERF_DIR, { recursive: true });
      const name = `${node.label}-${variant.name}-${++perfRun}`.replace(/[^\w.-]+/g, '_');
      perf = spawn(
        'perf',
        [
          'record',
          '-e',
          'cpu-clock',
          '-F',
          '2000',
          '-g',
          '-p',
          String(child.pid),
          '-o',
          join(PERF_DIR, `${name}.data`),
        ],
        { stdio: 'ignore' },
      );
      await new Promise((r) => setTimeout(r, 300));
    }
    const t0 = process.hrtime.bigint();
    const { done, failed, lastError } = await load(port, REQUESTS);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const c1 = procCpu(child.pid);
    if (perf !== undefined) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
    }
    if (th0 !== undefined) {
      const th1 = threadCpu(child.pid);
      const parts = Object.keys(th1)
        .map((k) => [k, (th1[k] - (th0[k] ?? 0)) / done])
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`);
      console.log(`  threads ${variant.name} (${node.label}), µs/req: ${parts.join(', ')}`);
    }
    if (failed > 0 || done === 0) throw new Error(`${failed} failed requests (${lastError})`);
    return { cpuPerReqUs: (c1.us - c0.us) / done, rps: done / wallS, rssMiB: c1.rss / 2 ** 20 };
  } catch (err) {
    throw new Error(`${variant.name} under ${node.label}: ${err.message}\n${child.stderrText()}`);
  } finally {
    await stop(child);
  }
}

const fmt = (x, d = 2) => x.toFixed(d);

async function main() {
  const h = await loadRealHelpers();
  const [pg, redis, ai, down] = await Promise.all([
    h.startPostgres(),
    h.startRedis(),
    h.startOpenAIServer({ reply: 'Hello Ada, lovely to meet you' }),
    h.startDownstream(),
  ]);
  const sink = fork(join(here, 'http-sink.mjs'), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(sink);
  try {
    await pg.sql('create table users (id int primary key, name text not null)');
    await pg.sql("insert into users values (7, 'Ada')");
    const sinkPort = await new Promise((r) => sink.once('message', (m) => r(m.port)));
    sinkTraceBytes = () =>
      new Promise((resolve) => {
        const on = (m) => {
          if (m.type !== 'stats') return;
          sink.off('message', on);
          resolve(m.byPath?.['/v1/traces']?.bytes ?? 0);
        };
        sink.on('message', on);
        sink.send('stats');
      });
    const env = {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      DOWNSTREAM_URL: down.url,
      OPENAI_BASE_URL: ai.baseURL,
      OPENAI_API_KEY: ai.apiKey,
    };
    const vs = variants(sinkPort);
    const load0 = os.loadavg();
    const combos = NODES.flatMap((node) => vs.map((variant) => ({ node, variant })));
    const results = new Map();
    for (let round = 0; round < ROUNDS; round++) {
      const order = combos.map((_, i) => combos[(i + round) % combos.length]);
      for (const { node, variant } of order) {
        const r = await runOnce(node, variant, env);
        const key = `${node.label}\u0000${variant.name}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key)[round] = r;
        console.log(
          `round ${round + 1}/${ROUNDS} ${node.label.padEnd(14)} ${variant.name.padEnd(38)} ` +
            `${fmt(r.cpuPerReqUs, 0).padStart(6)} µs CPU/req  ${fmt(r.rps, 0).padStart(5)} req/s  rss ${fmt(r.rssMiB, 0)} MiB`,
        );
      }
    }
    const load1 = os.loadavg();
    sink.send('stats');
    const stats = await new Promise((r) => sink.on('message', (m) => m.type === 'stats' && r(m)));

    const rows = [];
    const verdicts = [];
    for (const node of NODES) {
      const get = (name) => results.get(`${node.label}\u0000${name}`);
      const plain = get('plain');
      for (const variant of vs) {
        const rs = get(variant.name);
        const cpuRatios = rs.map((r, i) => r.cpuPerReqUs / plain[i].cpuPerReqUs);
        rows.push(
          `| ${node.label} | ${variant.name} | ${fmt(median(rs.map((r) => r.cpuPerReqUs)), 0)} | ` +
            `**${fmt(median(cpuRatios))}×** (${fmt(Math.min(...cpuRatios))}–${fmt(Math.max(...cpuRatios))}) | ` +
            `${fmt(median(rs.map((r) => r.rps)), 0)} | ${fmt(median(rs.map((r) => r.rssMiB)), 0)} | ` +
            `${fmt(median(rs.map((r) => r.traceKiBPerReq)), 1)} |`,
        );
      }
      const ours = get('echoes-otel');
      const up = get('upstream auto-instrumentations-node');
      if (ours === undefined || up === undefined) continue;
      const ratio = median(ours.map((r, i) => r.cpuPerReqUs / plain[i].cpuPerReqUs));
      // Added cost within each round: (ours - plain) / (upstream - plain).
      const share = median(
        ours.map(
          (r, i) =>
            (r.cpuPerReqUs - plain[i].cpuPerReqUs) / (up[i].cpuPerReqUs - plain[i].cpuPerReqUs),
        ),
      );
      verdicts.push(
        `- ${node.label}: ours ${fmt(ratio)}× plain CPU/request (target ≤ 1.6×: ${Number(fmt(ratio)) <= 1.6 ? 'met' : 'MISSED'}); ` +
          `ours adds ${fmt(share * 100, 0)} % of what upstream adds (target ≤ 50 %: ${Number(fmt(share * 100, 0)) <= 50 ? 'met' : 'MISSED'}).`,
      );
    }
    const cpus = os.cpus();
    const perSignal = Object.entries(stats.byPath ?? {})
      .map(([p, v]) => `${p} ${v.requests} exports / ${fmt(v.bytes / 2 ** 20, 1)} MiB`)
      .join(', ');
    const md = [
      '## A real service under load: fastify + pg + Redis + fetch + openai',
      '',
      `Run: ${new Date().toISOString()} · ${cpus.length} × ${cpus[0]?.model ?? 'cpu'} · ${fmt(os.totalmem() / 2 ** 30, 1)} GiB · load average (1/5 min) ${fmt(load0[0], 1)}/${fmt(load0[1], 1)} at start, ${fmt(load1[0], 1)}/${fmt(load1[1], 1)} at end (other engineers' work shared the 2 cores)`,
      `Node: ${NODES.map((n) => n.label).join(', ')}`,
      '',
      'Method: `node bench/real-services.mjs` (after `npm run build`). The app is the real-services test fixture',
      "`test/fixtures/real/fastify5.cjs` (fastify 5, CommonJS so that upstream's register patches it): each",
      '`GET /users/7` queries Postgres through `pg` (a pool of 4), SETs and GETs a key in Redis through `ioredis`,',
      '`fetch`es a downstream HTTP service and calls `chat.completions.create` through the `openai` client, inside a',
      'manual span (`@opentelemetry/api`). The servers are real and local: a fresh PostgreSQL 15 cluster and a',
      "redis-server (the tests' helpers), the tests' OpenAI-compatible server and downstream (in the driver process).",
      `A keep-alive load generator sends ${WARMUP} warm-up then ${REQUESTS} measured requests, ${CONCURRENCY} in flight.`,
      'Server CPU = utime + stime of the app process (every thread) from `/proc/<pid>/stat` over the measured requests.',
      'traces KiB/req = what the sink received on /v1/traces from the run (its exit flush included) per request sent: a variant',
      'that drops spans under load sends less than its peers, whatever its CPU says.',
      'Variants: plain; echoes-otel (`--import dist/bundle/register.js`, defaults: traces, metrics, logs over OTLP,',
      'log files, Prometheus endpoint, runtime/fs metrics); upstream (`--import',
      `@opentelemetry/auto-instrumentations-node/register\` 0.81 with \`OTEL_NODE_ENABLED_INSTRUMENTATIONS=${SAME_LIBRARIES}\`,`,
      'the same libraries, stable http and database conventions, local resource detectors only; its fastify',
      'instrumentation is gone from 0.81 (moved to `@fastify/otel`), so upstream does a little less work here: no',
      'route). All send traces (100 % sampled), metrics (5 s) and logs over OTLP http/protobuf to one local sink',
      `(received: ${perSignal || 'nothing'}). ${ROUNDS} rounds, every (node, variant) once per round in a rotated order;`,
      "ratios are taken against the same round's plain run, then the median (min–max) over rounds.",
      '',
      '| Node | variant | CPU µs/req (median) | CPU/req vs plain | req/s (median) | RSS MiB | traces KiB/req |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
      ...verdicts,
      '',
    ].join('\n');
    mkdirSync(dirname(OUT), { recursive: true });
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
  } finally {
    await stop(sink);
    await Promise.allSettled([pg.stop(), redis.stop(), ai.close(), down.close()]);
    rmSync(LOG_DIR, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
