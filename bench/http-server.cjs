/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app, on purpose */
/* global require */
// Benchmark fixture: a node:http server doing what a real handler does per request: one small
// file read (a 4 KiB template, `readFileSync`) and one cache lookup (a Map), then a small JSON
// answer. CommonJS so that upstream's `--import @opentelemetry/auto-instrumentations-node/register`
// (require hooks only) really instruments it. It reports its own CPU time over IPC, so the driver
// measures the server process only.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The file is written once at startup, in a directory of its own, removed at exit.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echoes-bench-http-app-'));
const template = path.join(dir, 'template.html');
fs.writeFileSync(template, 'x'.repeat(4096));
const cache = new Map();
for (let i = 0; i < 1000; i++) cache.set(`item:${i}`, { id: i, name: `item ${i}` });
let n = 0;

const server = http.createServer((req, res) => {
  const page = fs.readFileSync(template, 'utf8');
  const item = cache.get(`item:${n++ % 1000}`);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, service: 'bench', item, bytes: page.length }));
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
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections?.();
  process.disconnect?.();
});
