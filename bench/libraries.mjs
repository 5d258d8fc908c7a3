#!/usr/bin/env node
// Per-call cost of the client-library instrumentations (issue 11.4/11.5): CPU time per pg query,
// per ioredis command and per openai chat call, in a process that runs N calls inside one parent
// span, plain node vs `--import dist/bundle/register.js` (traces and metrics exported to a local
// sink), interleaved rounds, against the tests' real servers (PostgreSQL, redis-server, the
// OpenAI-compatible server). Prints a table; `BENCH_OUT=path` also writes it.
//
//   BENCH_ROUNDS=5  BENCH_CALLS=2000 node bench/libraries.mjs
//
// BENCH_BEFORE=<another build's register.js> adds that preload as a fourth column (e.g. a build
// with upstream's pg/ioredis instrumentations, to compare with our own on the same harness).
// BENCH_LIBS=pg,ioredis,redis,mysql2,fetch,openai picks the cases (default: all; mysql2 needs a
// MariaDB server, skipped with the reason when there is none). `redis` is node-redis and `mysql2`
// run through upstream's instrumentations; `fetch` is global fetch to a plain local server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, envInt } from './common.mjs';
import { loadRealHelpers } from './real-helpers.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REGISTER = join(root, 'dist/bundle/register.js');
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const CALLS = envInt('BENCH_CALLS', 2000);
const BEFORE = process.env.BENCH_BEFORE || undefined;

// The app: N calls of one library, sequential, each inside a request-like parent span when the
// preload runs (as in a real handler), then its CPU time (µs) per call on stdout.
const APP = String.raw`
const lib = process.argv[1];
const n = Number(process.argv[2]);
const { trace } = require('@opentelemetry/api');
const tracer = trace.getTracer('bench');
async function makeCall() {
  if (lib === 'pg') {
    const { Client } = require('pg');
    const c = new Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    return { call: () => c.query('SELECT $1::int AS x', [1]), close: () => c.end() };
  }
  if (lib === 'ioredis') {
    const Redis = require('ioredis');
    const r = new Redis(process.env.REDIS_URL);
    return { call: () => r.get('bench:key'), close: () => r.quit() };
  }
  if (lib === 'redis') {
    const { createClient } = require('redis');
    const r = createClient({ url: process.env.REDIS_URL });
    await r.connect();
    return { call: () => r.get('bench:key'), close: () => r.quit() };
  }
  if (lib === 'mysql2') {
    const mysql = require('mysql2/promise');
    const c = await mysql.createConnection(process.env.MYSQL_URL);
    return { call: () => c.query('SELECT 1 AS x'), close: () => c.end() };
  }
  if (lib === 'fetch') {
    const url = process.env.FETCH_URL;
    return { call: () => fetch(url).then((r) => r.arrayBuffer()), close: async () => {} };
  }
  const OpenAI = require('openai').default;
  const o = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 });
  return {
    call: () => o.chat.completions.create({ model: 'bench', messages: [{ role: 'user', content: 'hi there' }] }),
    close: async () => {},
  };
}
(async () => {
  const { call, close } = await makeCall();
  for (let i = 0; i < 50; i++) await call();
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await tracer.startActiveSpan('request', async (s) => { await call(); s.end(); });
  }
  const d = process.cpuUsage(t0);
  console.log('CPU_US_PER_CALL ' + (d.user + d.system) / n);
  await close();
})();
`;

const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
// The downstream of `fetch`: plain node, in this (uninstrumented) parent.
const downstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
});
await new Promise((r) => downstream.listen(0, '127.0.0.1', r));
const h = await loadRealHelpers();
const LIBS = (process.env.BENCH_LIBS ?? 'pg,ioredis,redis,mysql2,fetch,openai').split(',');
const noMaria = LIBS.includes('mysql2') ? h.mariaDbUnavailable() : 'not asked for';
if (LIBS.includes('mysql2') && noMaria !== undefined) console.log(`mysql2 skipped: ${noMaria}`);
const [pg, redis, ai, maria] = await Promise.all([
  h.startPostgres(),
  h.startRedis(),
  h.startOpenAIServer(),
  noMaria === undefined ? h.startMariaDb() : undefined,
]);
const tmp = mkdtempSync(join(tmpdir(), 'echoes-bench-libs-'));

function run(lib, withPreload, calls, extraEnv = {}, register = REGISTER) {
  return new Promise((resolve, reject) => {
    const args = [...(withPreload ? ['--import', register] : []), '-e', APP, lib, String(calls)];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: pg.url,
        REDIS_URL: redis.url,
        OPENAI_BASE_URL: ai.baseURL,
        OPENAI_API_KEY: ai.apiKey,
        ...(maria !== undefined ? { MYSQL_URL: maria.url } : {}),
        FETCH_URL: `http://127.0.0.1:${downstream.address().port}/x`,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.address().port}`,
        OTEL_SERVICE_NAME: 'bench-libs',
        ECHOES_PROMETHEUS: 'off',
        ECHOES_DIRS: 'none',
        ECHOES_LOG_DIR: join(tmp, 'logs'),
        ECHOES_LOG_CONSOLE: 'off',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const m = /CPU_US_PER_CALL ([\d.]+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`${lib} exited ${code}: ${err}`));
      else resolve(Number(m[1]));
    });
  });
}

const rows = [];
try {
  for (const [lib, calls] of [
    ['pg', CALLS],
    ['ioredis', CALLS],
    ['redis', CALLS],
    ['mysql2', CALLS],
    ['fetch', CALLS],
    ['openai', Math.round(CALLS / 4)],
  ].filter(([lib]) => LIBS.includes(lib) && (lib !== 'mysql2' || maria !== undefined))) {
    const plain = [];
    const ours = [];
    const off = [];
    const before = [];
    const variants = [
      () => run(lib, false, calls).then((v) => plain.push(v)),
      () => run(lib, true, calls).then((v) => ours.push(v)),
      // The preload with this library's instrumentation off: the parent span and its export
      // alone, so `ours - off` is what instrumenting the library adds.
      () =>
        run(lib, true, calls, { OTEL_NODE_DISABLED_INSTRUMENTATIONS: lib }).then((v) =>
          off.push(v),
        ),
      ...(BEFORE === undefined
        ? []
        : [() => run(lib, true, calls, {}, BEFORE).then((v) => before.push(v))]),
    ];
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved, rotating which goes first.
      for (let i = 0; i < variants.length; i++) await variants[(i + r) % variants.length]();
    }
    const p = median(plain);
    const o = median(ours);
    const f = median(off);
    const b =
      BEFORE === undefined
        ? ''
        : ` ${median(before).toFixed(1)} (+${(median(before) - f).toFixed(1)}) |`;
    rows.push(
      `| ${lib} | ${calls} | ${p.toFixed(1)} | ${f.toFixed(1)} | ${o.toFixed(1)} | +${(o - f).toFixed(1)} | ${(o / p).toFixed(2)}x |${b}`,
    );
    console.log(rows.at(-1));
  }
} finally {
  await Promise.allSettled([pg.stop(), redis.stop(), ai.close(), maria?.stop()]);
  sink.close();
  downstream.close();
  rmSync(tmp, { recursive: true, force: true });
}
const table = [
  `Node ${process.versions.node}, ${ROUNDS} interleaved rounds, medians; CPU µs per call (the client's work, our span, metric and export included; the plain run has no span).`,
  '',
  `| library | calls per run | plain µs/call | echoes, library off µs/call | echoes µs/call | added by the library instrumentation | echoes / plain |${BEFORE === undefined ? '' : ' BENCH_BEFORE build µs/call (added) |'}`,
  `|---|---:|---:|---:|---:|---:|---:|${BEFORE === undefined ? '' : '---:|'}`,
  ...rows,
].join('\n');
console.log(`\n${table}`);
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${table}\n`);
