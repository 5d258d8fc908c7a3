#!/usr/bin/env node
// `npm start` (after `npm run build`): run the reference service under the preload, in the
// foreground, and say where its telemetry goes. With a collector answering on
// OTEL_EXPORTER_OTLP_ENDPOINT it ships there; otherwise it runs on the embedded default (rotated
// JSON log files and the /metrics endpoint) with OTLP export off, so nothing retries in vain.
// Ctrl-C (SIGINT) or SIGTERM stops it cleanly: sessions and telemetry are flushed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hostNode } from './host-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const register = join(root, 'dist/bundle/register.js');
const main = join(root, 'dist/src/service/main.js');
const cli = relative(process.cwd(), join(root, 'dist/src/cli/main.js')) || 'dist/src/cli/main.js';

for (const f of [register, main]) {
  if (!existsSync(f)) {
    console.error(
      `npm start: ${relative(root, f)} is missing; run \`npm run build\` first (npm start does).`,
    );
    process.exit(1);
  }
}

const env = { ...process.env };
env.OTEL_SERVICE_NAME ||= 'echoes-api';
const endpoint = (env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318').replace(/\/+$/, '');

/** Does an OTLP/HTTP receiver answer? An empty JSON export request is valid and cheap. */
function probeCollector(base) {
  return new Promise((resolve) => {
    let url;
    try {
      url = new URL(`${base}/v1/traces`);
    } catch {
      resolve(`OTEL_EXPORTER_OTLP_ENDPOINT=${JSON.stringify(base)} is not a URL`);
      return;
    }
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': 2 },
        timeout: 1500,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve(res.statusCode === 200 ? true : `HTTP ${res.statusCode} from ${url.href}`),
        );
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('no answer within 1.5 s'), { code: 'timeout' })),
    );
    req.on('error', (e) =>
      resolve(
        e.code === 'ECONNREFUSED'
          ? `nothing listening at ${url.host}`
          : `${e.code ?? ''} ${e.message}`.trim(),
      ),
    );
    req.end('{}');
  });
}

const shipping = await probeCollector(endpoint);
if (shipping !== true) {
  // The embedded default: files + /metrics. Explicit user choices win.
  env.OTEL_TRACES_EXPORTER ||= 'none';
  env.OTEL_LOGS_EXPORTER ||= 'none';
  env.OTEL_METRICS_EXPORTER ||= 'prometheus';
}

// The same configuration the preload will compute, for the banner.
let cfg;
try {
  const { loadConfig } = await import(
    pathToFileURL(join(root, 'dist/instrumentation/config/config.js')).href
  );
  cfg = loadConfig({}, { env, cwd: process.cwd() }).config;
} catch {
  cfg = undefined;
}
// The service's own directories and path groups (echoes-otel's defaults name only its log and
// config directories): told to the preload through the environment, unless the user set them.
const { serviceTelemetryEnv } = await import(
  pathToFileURL(join(root, 'dist/src/service/options.js')).href
);
for (const [k, v] of Object.entries(
  serviceTelemetryEnv(env.ECHOES_SERVICE_DATA_DIR?.trim() || '.', cfg?.logs.file.dir ?? 'logs'),
))
  env[k] ||= v;

const logDir = cfg?.logs.file.enabled
  ? relative(process.cwd(), cfg.logs.file.dir) || '.'
  : undefined;
const prom = cfg?.metrics.prometheus;
const promBase = prom?.enabled
  ? `http://${prom.host.includes(':') ? `[${prom.host}]` : prom.host}:${prom.port}`
  : undefined;
const metricsUrl = promBase && `${promBase}/metrics`;
// The live page (instrumentation/export/live-page.ts): the same server, at /.
const liveUrl = promBase && `${promBase}/`;

// The service runs on the user's own Node, not the bundled Node 24 (scripts/host-node.mjs).
const child = spawn(hostNode(), ['--import', register, main], {
  cwd: process.cwd(),
  env,
  stdio: ['inherit', 'pipe', 'inherit'],
});

let bannerShown = false;
let buffered = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (bannerShown) return;
  buffered += chunk.toString();
  const m = /listening on (http:\/\/\S+)/.exec(buffered);
  if (!m) return;
  bannerShown = true;
  buffered = '';
  const lines = [
    '',
    `echoes-otel: the reference service is up (service.name ${env.OTEL_SERVICE_NAME})`,
    `  service    ${m[1]}  POST /chat, GET /sessions/:id, GET /healthz`,
    shipping === true
      ? `  telemetry  shipping traces, metrics and logs to the collector at ${endpoint}`
      : `  telemetry  embedded default: no collector at ${endpoint} (${shipping}); OTLP export off`,
    `  logs       ${logDir ? `${logDir}/ (JSON lines, rotated at ${Math.round(cfg.logs.file.maxBytes / 1048576)} MiB, ${cfg.logs.file.backupCount} backups, gzip)` : 'local log files are off'}`,
    `  live page  ${liveUrl ? `${liveUrl}  (open it in a browser: rates, p50/p95/p99, caches, disk, logs, memory against the audit's targets)` : 'off with the /metrics endpoint'}`,
    `  metrics    ${metricsUrl ?? 'embedded /metrics endpoint is off'}`,
    `  try        node ${cli} load --url ${m[1]} --rate 20 --duration 30s`,
    metricsUrl
      ? `             node ${cli} report --metrics-url ${metricsUrl} --window 30s`
      : `             node ${cli} report --prometheus http://127.0.0.1:9090`,
    shipping === true
      ? `             node ${cli} report --prometheus http://127.0.0.1:9090 --job ${env.OTEL_SERVICE_NAME}`
      : undefined,
    `             node ${cli} doctor`,
    '  stop       Ctrl-C (flushes session files and telemetry)',
    '',
  ].filter((l) => l !== undefined);
  process.stdout.write(`${lines.join('\n')}\n`);
});

// Ctrl-C reaches the whole foreground process group, the child included; a signal sent to this
// process alone is passed on. The service's handlers are idempotent, so a second copy is harmless.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}

child.on('exit', (code, signal) => {
  process.exitCode =
    code ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 }[signal] ?? 1) : 1);
});
