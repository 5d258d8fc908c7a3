/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app, on purpose */
/* global require */
// Benchmark fixture: the plainest node:http server, CommonJS so that upstream's
// `--import @opentelemetry/auto-instrumentations-node/register` (require hooks only) really
// instruments it. It answers every request with a small JSON body and reports its own CPU time
// over IPC, so the driver measures the server process only.
'use strict';
const http = require('node:http');

const body = JSON.stringify({ ok: true, service: 'bench' });
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(body);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: server.address().port });
});
process.on('message', (m) => {
  if (m === 'cpu') {
    process.send?.({ type: 'cpu', cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
  }
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections?.();
  process.disconnect?.();
});
