/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app, on purpose */
/* global require, __filename */
// Benchmark fixture for outbound HTTP (`BENCH_SERVER=http-fetch-server.cjs node bench/http.mjs`):
// a node:http server whose handler makes one global fetch() to a downstream service per request,
// as a handler calling the next service or a model API does. The downstream is a plain node:http
// server in a child process started without any preload (NODE_OPTIONS and exec args cleared), so
// the measured CPU is the instrumented server's alone. Reports its CPU over IPC like
// http-server.cjs.
//
// BENCH_UPSTREAM_UNDICI=1 registers @opentelemetry/instrumentation-undici on the global providers
// (run it beside the preload with ECHOES_DISABLED_INSTRUMENTATIONS=undici): upstream's fetch
// instrumentation on our SDK, to compare with ours.
'use strict';
const http = require('node:http');
const { fork } = require('node:child_process');

if (process.argv[2] === 'downstream') {
  const body = JSON.stringify({ ok: true, service: 'downstream' });
  const down = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(body);
  });
  down.keepAliveTimeout = 30_000;
  down.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: down.address().port }));
  process.on('disconnect', () => process.exit(0));
  return;
}

if (process.env.BENCH_UPSTREAM_UNDICI === '1') {
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
  registerInstrumentations({ instrumentations: [new UndiciInstrumentation()] });
}

const env = { ...process.env };
delete env.NODE_OPTIONS;
const child = fork(__filename, ['downstream'], { execArgv: [], env, stdio: 'ignore' });
child.once('message', (m) => {
  const target = `http://127.0.0.1:${m.port}/down`;
  const server = http.createServer(async (_req, res) => {
    try {
      const down = await fetch(target);
      const data = await down.json();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: data.ok, service: 'bench' }));
    } catch {
      res.statusCode = 502;
      res.end();
    }
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ type: 'ready', port: server.address().port });
  });
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections?.();
    child.disconnect();
    process.disconnect?.();
  });
});
process.on('message', (m) => {
  if (m === 'cpu') {
    process.send?.({ type: 'cpu', cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
  }
});
