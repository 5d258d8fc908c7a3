/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app, on purpose */
/* global require */
// Benchmark fixture for framework routes (`BENCH_SERVER=http-express-server.cjs node bench/http.mjs`):
// an express 5 app shaped like a real one (three app-level middlewares, a router mounted at /api
// with one of its own, the route the load generator hits: GET /api/items), answering a small JSON
// body. Reports its CPU over IPC like http-server.cjs.
//
// BENCH_UPSTREAM_EXPRESS=1 registers @opentelemetry/instrumentation-express on the global
// providers (run it beside the preload with ECHOES_DISABLED_INSTRUMENTATIONS=express): upstream's
// express instrumentation (a span per middleware and handler) on our SDK, to compare with ours.
'use strict';
if (process.env.BENCH_UPSTREAM_EXPRESS === '1') {
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
  registerInstrumentations({ instrumentations: [new ExpressInstrumentation()] });
}
const express = require('express');

const app = express();
app.disable('x-powered-by');
app.use((req, _res, next) => {
  req.startedAt = Date.now();
  next();
});
app.use((_req, res, next) => {
  res.setHeader('cache-control', 'no-store');
  next();
});
app.use((_req, _res, next) => next());
const api = express.Router();
api.use((_req, _res, next) => next());
api.get('/items', (req, res) => res.json({ ok: true, page: req.query.page }));
api.get('/items/:id', (req, res) => res.json({ ok: true, id: req.params.id }));
app.use('/api', api);

const server = app.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: server.address().port });
});
server.keepAliveTimeout = 30_000;
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
