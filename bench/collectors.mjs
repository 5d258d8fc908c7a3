#!/usr/bin/env node
// Collector capacity (docs/scaling.md sizes from it): `node bench/collectors.mjs [--quick]`, writes
// bench/results/collectors.md. Not part of `npm test`; needs the built collectors
// (`node scripts/backends.mjs ensure`).
//
// Method. The collector under test runs the shipped config with its exporters pointed at a sink in
// this process (accept, gunzip, discard). A paced load generator here POSTs pre-encoded OTLP/HTTP
// protobuf requests of 500 small items (spans of 50 traces with fresh trace ids per request, log
// records, or gauge points; a few attributes each, like the collector testbed's small spans) at a
// target rate, stepped up ×1.5 from 2 000/s. Every 50 ms a probe item with a unique marker is sent
// too; its added latency is the time from its POST to the sink finding the marker in what the
// collector exported. A rate passes when the generator kept up (≥ 95 % of target, < 256 requests in
// flight), nothing was refused (every answer 2xx) and the probes' p99 stays under 1 s (gateway:
// under 1 s plus its decision wait, set to 1 s here, since holding a trace that long is its job).
// CPU = the collector's utime+stime over the 10 s measured (from /proc), RSS = its peak VmRSS.
// "Per core": the collector runs with GOMAXPROCS=1, pinned to CPU 1 (taskset); the generator and
// sink share the other core. The two-tier comparison runs unpinned: agent + 2 gateways vs one
// collector, all on the same 2 cores.
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { PATHS } from '../scripts/backends.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);
const proto = require('otlp-proto-defs/build/src/generated/root.js').opentelemetry.proto;
const quick = process.argv.includes('--quick');
const STEP_MS = quick ? 6_000 : 10_000;
const WARM_MS = 2_000;
// 50 traces of 10 spans per request: the SDK's batch is up to 512.
const TRACES_PER_REQ = 50;
const PER_REQ = 500;
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat

// ---------------------------------------------------------------------------------------------
// Payloads: encoded once; per request only the trace ids (traces) change, patched in place.

const attr = (k, v) => ({ key: k, value: { stringValue: v } });
const resource = { attributes: [attr('service.name', 'bench'), attr('host.name', 'bench-host')] };
const now = BigInt(Date.now()) * 1_000_000n;
const PROBE_ID = Buffer.from('PROBE_ID');
const TEMPLATE_TID = (t) => Buffer.from(`TRACEID-TMPL-${String(t).padStart(3, '0')}`);

function encodeTraces(spans) {
  return Buffer.from(
    proto.collector.trace.v1.ExportTraceServiceRequest.encode({
      resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
    }).finish(),
  );
}
function span(traceId, i, extra = {}) {
  const spanId = Buffer.alloc(8);
  spanId.writeUInt32BE(i + 1, 4);
  return {
    traceId,
    spanId,
    parentSpanId: i === 0 ? undefined : Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]),
    name: i === 0 ? 'GET /items/:id' : `step ${i}`,
    kind: i === 0 ? 2 : 1,
    startTimeUnixNano: String(now),
    endTimeUnixNano: String(now + 1_000_000n),
    attributes: [
      attr('http.request.method', 'GET'),
      attr('http.route', '/items/:id'),
      attr('app.step', `s${i}`),
    ],
    ...extra,
  };
}
const traceTemplate = (() => {
  const spans = [];
  for (let t = 0; t < TRACES_PER_REQ; t++)
    for (let i = 0; i < PER_REQ / TRACES_PER_REQ; i++) spans.push(span(TEMPLATE_TID(t), i));
  const buf = encodeTraces(spans);
  const offsets = [];
  for (let t = 0; t < TRACES_PER_REQ; t++) {
    const needle = TEMPLATE_TID(t);
    for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1))
      offsets.push([t, at]);
  }
  return { buf, offsets };
})();

const logsTemplate = Buffer.from(
  proto.collector.logs.v1.ExportLogsServiceRequest.encode({
    resourceLogs: [
      {
        resource,
        scopeLogs: [
          {
            scope: { name: 'bench' },
            logRecords: Array.from({ length: PER_REQ }, (_, i) => ({
              timeUnixNano: String(now),
              severityNumber: 9,
              severityText: 'INFO',
              body: { stringValue: `request ${i} served in 12 ms` },
              attributes: [attr('http.route', '/items/:id'), attr('app.step', `s${i}`)],
            })),
          },
        ],
      },
    ],
  }).finish(),
);

function encodeMetrics(metrics) {
  return Buffer.from(
    proto.collector.metrics.v1.ExportMetricsServiceRequest.encode({
      resourceMetrics: [{ resource, scopeMetrics: [{ scope: { name: 'bench' }, metrics }] }],
    }).finish(),
  );
}
const gauge = (name, points) => ({
  name,
  unit: '1',
  gauge: {
    dataPoints: Array.from({ length: points }, (_, i) => ({
      timeUnixNano: String(now),
      asDouble: i + 0.5,
      attributes: [attr('app.series', `s${i}`)],
    })),
  },
});
const metricsTemplate = encodeMetrics(
  Array.from({ length: 50 }, (_, m) => gauge(`bench_gauge_${m}`, PER_REQ / 50)),
);

/** One request body of PER_REQ items, and (probes) one of a single marked item. */
const SIGNALS = {
  traces: {
    path: '/v1/traces',
    unit: 'spans/s',
    body() {
      const b = Buffer.from(traceTemplate.buf);
      const ids = Array.from({ length: TRACES_PER_REQ }, () => randomFillSync(Buffer.alloc(16)));
      for (const [t, at] of traceTemplate.offsets) ids[t].copy(b, at);
      return b;
    },
    // An error span: every gateway policy set keeps it.
    probe(marker) {
      return encodeTraces([span(marker, 0, { status: { code: 2 } })]);
    },
    // Probe trace ids start with PROBE_ID (8 bytes), then 8 random ones.
    prefix: PROBE_ID,
    keyAt: (body, at) => body.toString('hex', at, at + 16),
  },
  logs: {
    path: '/v1/logs',
    unit: 'log records/s',
    body: () => logsTemplate,
    probe(marker) {
      return Buffer.from(
        proto.collector.logs.v1.ExportLogsServiceRequest.encode({
          resourceLogs: [
            {
              resource,
              scopeLogs: [
                {
                  scope: { name: 'bench' },
                  logRecords: [
                    {
                      timeUnixNano: String(now),
                      severityNumber: 9,
                      body: { stringValue: `probe-${marker.toString('hex')}` },
                    },
                  ],
                },
              ],
            },
          ],
        }).finish(),
      );
    },
    // The sink scans for the prefix once per body and reads the marker after it.
    prefix: Buffer.from('probe-'),
    keyAt: (body, at) => body.toString('latin1', at + 6, at + 6 + 32),
  },
  metrics: {
    path: '/v1/metrics',
    unit: 'metric points/s',
    body: () => metricsTemplate,
    probe: (marker) => encodeMetrics([gauge(`probe_${marker.toString('hex')}`, 1)]),
    prefix: Buffer.from('probe_'),
    keyAt: (body, at) => body.toString('latin1', at + 6, at + 6 + 32),
  },
};

// ---------------------------------------------------------------------------------------------
// The sink (Loki, Tempo and Prometheus stand-in): finds probe markers, answers 200.

function startSink(pending, onSeen, current) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      // One scan per body for the probes' common prefix, whatever the number pending.
      const sig = SIGNALS[current.signal];
      if (pending.size > 0 && sig) {
        for (let at = body.indexOf(sig.prefix); at >= 0; at = body.indexOf(sig.prefix, at + 1)) {
          const key = sig.keyAt(body, at);
          const p = pending.get(key);
          if (p !== undefined) {
            pending.delete(key);
            onSeen(Date.now() - p.sentAt);
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

// ---------------------------------------------------------------------------------------------
// Collectors

async function freePort() {
  const s = http.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM'])
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });

async function startCollector({ bin, configs, env, pin }) {
  const dir = mkdtempSync(join(tmpdir(), 'echoes-bench-otelcol-'));
  const [health, grpc, httpPort] = [await freePort(), await freePort(), await freePort()];
  const fullEnv = {
    ...process.env,
    OTELCOL_HEALTH_ENDPOINT: `127.0.0.1:${health}`,
    OTELCOL_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
    OTELCOL_OTLP_HTTP_ENDPOINT: `127.0.0.1:${httpPort}`,
    OTELCOL_STORAGE_DIR: join(dir, 'queue'),
    OTELCOL_HOSTMETRICS_INTERVAL: '30s',
    OTELCOL_SELF_METRICS_INTERVAL_MS: '60000',
    OTELCOL_LOG_LEVEL: 'warn',
    ...env,
  };
  const args = configs.map((c) => `--config=${c.startsWith('/') ? c : join(root, c)}`);
  const [cmd, cmdArgs] = pin ? ['taskset', ['-c', '1', bin, ...args]] : [bin, args];
  if (pin) fullEnv.GOMAXPROCS = '1';
  const child = spawn(cmd, cmdArgs, { env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let log = '';
  child.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${health}/`);
      if (r.ok) break;
    } catch {
      // not yet
    }
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`collector did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid,
    url: `http://127.0.0.1:${httpPort}`,
    grpc: `127.0.0.1:${grpc}`,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

// ---------------------------------------------------------------------------------------------
// One step: a target rate for STEP_MS after WARM_MS.

const agentPool = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url, body) {
  return new Promise((resolve) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: agentPool,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode >= 200 && res.statusCode < 300));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

async function step({ signal, rate, target, pids, pending, latencies }) {
  const sig = SIGNALS[signal];
  const url = `${target}${sig.path}`;
  const reqPerSec = rate / PER_REQ;
  let sentReq = 0;
  let inFlight = 0;
  let refused = 0;
  let behind = false;
  let measuredReq = 0;
  let probeSeq = 0;
  const t0 = Date.now();
  const end = t0 + WARM_MS + STEP_MS;
  let cpu0;
  let rssMax = 0;
  let measuring = false;
  latencies.length = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const probes = setInterval(() => {
    if (!measuring) return;
    const marker = randomFillSync(Buffer.alloc(16));
    if (signal === 'traces') PROBE_ID.copy(marker, 0);
    marker.writeUInt32BE(probeSeq++, 12);
    pending.set(marker.toString('hex'), { sentAt: Date.now() });
    void post(url, sig.probe(marker)).then((ok) => ok || refused++);
  }, 50);
  while (Date.now() < end) {
    const now = Date.now();
    if (!measuring && now >= t0 + WARM_MS) {
      measuring = true;
      cpu0 = pids.map(cpuTicks);
      measuredReq = 0;
      loop.enable();
    }
    const due = Math.floor(((now - t0) / 1000) * reqPerSec) - sentReq;
    for (let i = 0; i < due; i++) {
      if (inFlight >= 256) {
        behind = true;
        break;
      }
      sentReq++;
      if (measuring) measuredReq++;
      inFlight++;
      void post(url, sig.body()).then((ok) => {
        inFlight--;
        if (!ok && measuring) refused++;
      });
    }
    if (measuring) rssMax = Math.max(rssMax, ...pids.map(rssMiB));
    await new Promise((r) => setTimeout(r, 10));
  }
  clearInterval(probes);
  loop.disable();
  const loopP99 = loop.percentile(99) / 1e6;
  const cpu = pids.map(cpuTicks).reduce((a, b, i) => a + b - cpu0[i], 0) / TICKS / (STEP_MS / 1000);
  const achieved = (measuredReq * PER_REQ) / (STEP_MS / 1000);
  // Let the last probes land (bounded): a probe still missing then counts as lost.
  const drain = Date.now() + 15_000;
  while (pending.size > 0 && Date.now() < drain) await new Promise((r) => setTimeout(r, 50));
  const lost = pending.size;
  pending.clear();
  const sorted = [...latencies].sort((a, b) => a - b);
  const p = (q) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
  return { rate, achieved, refused, behind, lost, p50: p(0.5), p99: p(0.99), cpu, rssMax, loopP99 };
}

async function capacity({ name, signal, start, maxRate = 400_000 }) {
  const pending = new Map();
  const latencies = [];
  const sink = await startSink(pending, (ms) => latencies.push(ms), { signal });
  const sinkUrl = `http://127.0.0.1:${sink.address().port}`;
  const procs = await start(sinkUrl);
  const target = procs[0].url;
  const pids = procs.map((p) => p.pid);
  const rows = [];
  let best;
  let floor;
  let limitMs;
  try {
    // The config's own delays (batch flush timeout, decision wait) at a light load: what load adds
    // is measured on top of this.
    floor = await step({ signal, rate: 500, target, pids, pending, latencies });
    limitMs = floor.p99 + 1000;
    console.log(`  ${name} ${signal} floor at 500/s: p50 ${floor.p50} ms, p99 ${floor.p99} ms`);
    for (let rate = 2000; rate <= maxRate; rate = Math.round(rate * 1.5)) {
      const r = await step({ signal, rate, target, pids, pending, latencies });
      r.ok =
        !r.behind &&
        r.achieved >= 0.95 * rate &&
        r.refused === 0 &&
        r.lost === 0 &&
        r.p99 < limitMs;
      rows.push(r);
      console.log(
        `  ${name} ${signal} ${rate}/s: achieved ${Math.round(r.achieved)}/s, p50 ${r.p50} ms, p99 ${r.p99} ms, refused ${r.refused}, lost ${r.lost}, CPU ${(r.cpu * 100).toFixed(0)} %, RSS ${r.rssMax.toFixed(0)} MiB, bench event loop p99 ${r.loopP99.toFixed(0)} ms ${r.ok ? 'ok' : 'FAIL'}`,
      );
      if (!r.ok) break;
      best = r;
    }
  } finally {
    for (const p of procs) await p.stop();
    sink.close();
  }
  return { name, signal, best, rows, floor, limitMs };
}

// ---------------------------------------------------------------------------------------------

const sinkEnv = (sink) => ({
  OTELCOL_LOKI_ENDPOINT: `${sink}/otlp`,
  OTELCOL_TEMPO_ENDPOINT: sink,
  OTELCOL_PROMETHEUS_ENDPOINT: `${sink}/api/v1/otlp`,
});
const GATEWAY_ENV = { ECHOES_TAIL_DECISION_WAIT: '1s', OTELCOL_GATEWAY_ID: 'bench-gateway' };

// In-memory queues instead of file_storage (an overlay: `storage: null`), for the queue's cost.
const overlayDir = mkdtempSync(join(tmpdir(), 'echoes-bench-overlay-'));
process.on('exit', () => rmSync(overlayDir, { recursive: true, force: true }));
function overlay(name, exporters) {
  const file = join(overlayDir, name);
  writeFileSync(
    file,
    `exporters:\n${exporters.map((e) => `  ${e}:\n    sending_queue:\n      storage: null\n`).join('')}`,
  );
  return file;
}
const SINGLE_IN_MEMORY = overlay('single.yaml', ['otlp_http/tempo', 'otlp_http/loki']);
const AGENT_IN_MEMORY = overlay('agent.yaml', [
  'load_balancing/traces',
  'load_balancing/logs',
  'load_balancing/metrics',
]);

const single =
  (pin, inMemory = false) =>
  async (sink) => [
    await startCollector({
      bin: PATHS.otelcol,
      configs: ['collector/config.yaml', ...(inMemory ? [SINGLE_IN_MEMORY] : [])],
      env: sinkEnv(sink),
      pin,
    }),
  ];
const gateway = (pin) => async (sink) => [
  await startCollector({
    bin: PATHS.gateway,
    configs: ['collector/gateway/gateway.yaml'],
    env: { ...sinkEnv(sink), ...GATEWAY_ENV },
    pin,
  }),
];
const twoTier =
  (gateways, fsync, inMemory = false) =>
  async (sink) => {
    const gws = [];
    for (let i = 0; i < gateways; i++)
      gws.push(
        await startCollector({
          bin: PATHS.gateway,
          configs: ['collector/gateway/gateway.yaml'],
          env: { ...sinkEnv(sink), ...GATEWAY_ENV, OTELCOL_GATEWAY_ID: `bench-gateway-${i + 1}` },
        }),
      );
    const agent = await startCollector({
      bin: PATHS.gateway,
      configs: ['collector/gateway/agent.yaml', ...(inMemory ? [AGENT_IN_MEMORY] : [])],
      env: {
        ...sinkEnv(sink),
        OTELCOL_STORAGE_FSYNC: String(fsync),
        OTELCOL_LB_RESOLVER: `{static: {hostnames: [${gws.map((g) => g.grpc).join(', ')}]}}`,
      },
    });
    return [agent, ...gws];
  };

const only = process.argv.filter((a) => !a.startsWith('--')).slice(2);
const ALL_RUNS = [
  ['agent (collector/config.yaml), 1 core', 'traces', single(true)],
  ['agent (collector/config.yaml), 1 core', 'logs', single(true)],
  ['agent (collector/config.yaml), 1 core', 'metrics', single(true)],
  ['gateway (collector/gateway/gateway.yaml), 1 core', 'traces', gateway(true)],
  ['gateway (collector/gateway/gateway.yaml), 1 core', 'logs', gateway(true)],
  ['gateway (collector/gateway/gateway.yaml), 1 core', 'metrics', gateway(true)],
  ['one collector (config.yaml), 2 cores', 'traces', single(false), 'tier'],
  ['two tiers: agent + 2 gateways, 2 cores, fsync off', 'traces', twoTier(2, false), 'tier'],
  ['two tiers: agent + 2 gateways, 2 cores, fsync on', 'traces', twoTier(2, true), 'tier'],
  ['one collector, in-memory queues, 2 cores', 'traces', single(false, true), 'tier'],
  ['two tiers, agent with an in-memory queue, 2 cores', 'traces', twoTier(2, false, true), 'tier'],
];
const runs = ALL_RUNS.filter(
  ([name, signal]) => only.length === 0 || only.some((o) => `${name} ${signal}`.includes(o)),
);

const startedAt = new Date().toISOString();
const load0 = loadavg()[0];
const results = [];
for (const [name, signal, start, group] of runs) {
  console.log(`\n== ${name}: ${signal}`);
  results.push({ ...(await capacity({ name, signal, start })), group });
}
const load1 = loadavg()[0];

// A partial run (names on the command line) replaces its rows in the saved results, keeps the rest.
const saved = join(here, 'results/collectors.json');
let previous = [];
try {
  previous = JSON.parse(readFileSync(saved, 'utf8'));
} catch {
  // first run
}
const key = (r) => `${r.name} ${r.signal}`;
const stamp = `${startedAt}, load ${load0.toFixed(1)}→${load1.toFixed(1)}${quick ? ', --quick' : ''}`;
for (const r of results) r.run = stamp;
const order = ALL_RUNS.map(([name, signal]) => `${name} ${signal}`);
const merged = [
  ...results,
  ...previous.filter((p) => !results.some((r) => key(r) === key(p))),
].sort((a, b) => {
  const ia = order.indexOf(key(a));
  const ib = order.indexOf(key(b));
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
});
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(saved, JSON.stringify(merged, null, 1) + '\n');

const fmt = (n) => (n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
const lines = [
  '## Collector capacity and the two-tier setup',
  '',
  `Run: ${startedAt} · ${cpus().length} × ${cpus()[0]?.model.trim()} · ${(totalmem() / 2 ** 30).toFixed(1)} GiB · load average ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at end (other work shared the machine)${quick ? ' · --quick (6 s steps)' : ''}`,
  '',
  'Method: `node bench/collectors.mjs` (its header says it in full). Pre-encoded OTLP/HTTP protobuf requests',
  `of ${PER_REQ} small items at a paced rate, stepped ×1.5 from 2 000/s, each step ${STEP_MS / 1000} s after 2 s of warm-up; 20 marked`,
  'probe items a second measure the latency from POST to the sink. "Added latency" is taken over the',
  "config's own delays, measured first at 500 items/s (the floor: the exporters' 1 s batch flush timeout;",
  "the gateway's traces also wait the decision, 1 s here, plus the processor's 1 s tick): a rate passes when",
  'the generator kept up, nothing was refused, no probe was lost and the p99 stays under floor + 1 s.',
  'The row is the highest passing rate; CPU is the collector process(es) over the step (1.00 = one core),',
  "RSS the peak. Testbed anchor (collector-contrib's testbed): 10 000 small spans/s through OTLP at ~20 %",
  'of a core and ~100 MiB; logs ~30 % and ~99 MiB.',
  '',
  '| collector | signal | highest passing rate | p50 / p99 ms (floor p99) | CPU (cores) | CPU per 10 000/s | 10 000/s per CPU × (one core) | RSS MiB | first failing step | run (UTC, load average) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const r of merged) {
  const b = r.best;
  const fail = r.rows.find((x) => !x.ok);
  const why = fail
    ? `${fmt(fail.rate)}/s: ${[
        fail.achieved < 0.95 * fail.rate ? `sent ${fmt(fail.achieved)}/s` : '',
        fail.behind ? '256 requests in flight' : '',
        fail.refused ? `${fail.refused} refused` : '',
        fail.lost ? `${fail.lost} probes lost` : '',
        `p99 ${fail.p99} ms`,
        `collector CPU ${fail.cpu.toFixed(2)}`,
        // A busy generator/sink inflates the latency it measures: say so.
        `generator event loop p99 ${fail.loopP99.toFixed(0)} ms`,
      ]
        .filter(Boolean)
        .join(', ')}`
    : 'none up to the cap';
  lines.push(
    `| ${r.name} | ${SIGNALS[r.signal].unit.split('/')[0]} | ${b ? `${fmt(b.achieved)}/s` : 'below 2 000/s'} | ${b ? `${b.p50} / ${b.p99}` : '–'} (${r.floor?.p99}) | ${b ? b.cpu.toFixed(2) : '–'} | ${b ? ((b.cpu * 10_000) / b.achieved).toFixed(2) : '–'} | ${b ? fmt(b.achieved / b.cpu) : '–'} | ${b ? b.rssMax.toFixed(0) : '–'} | ${why} | ${r.run} |`,
  );
}
const tier = merged.filter((r) => r.group === 'tier');
const baseRow = tier.find((r) => r.name.startsWith('one collector ('))?.best;
if (baseRow && tier.length > 1) {
  const perSpan = (b) => b.cpu / b.achieved;
  lines.push(
    '',
    'Two tiers against one collector, same 2 cores: the highest passing span rate (noisy on a shared',
    'machine), and the CPU each span costs (all collector processes together; the steadier figure):',
    '',
  );
  for (const r of tier)
    lines.push(
      `- ${r.name}: ${r.best ? `rate **${(r.best.achieved / baseRow.achieved).toFixed(2)}×**, CPU per span **${(perSpan(r.best) / perSpan(baseRow)).toFixed(2)}×**` : 'below 2 000/s'}`,
    );
}
lines.push('');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results/collectors.md'), lines.join('\n'));
spawnSync(process.execPath, [join(here, 'run.mjs'), '--assemble'], { stdio: 'inherit' });
console.log(lines.join('\n'));
