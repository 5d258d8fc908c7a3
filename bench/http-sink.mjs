// A local OTLP/HTTP sink for the benchmark: accepts every export and discards it, answering with
// an empty 200 as a collector would (an empty protobuf Export*ServiceResponse is zero bytes).
import http from 'node:http';

let requests = 0;
let bytes = 0;
/** TCP connections accepted: an exporter that keeps its connection alive opens a handful. */
let connections = 0;
/** Per signal path (`/v1/traces`…): exports and bytes, to see what each variant really sends. */
const byPath = {};
const server = http.createServer((req, res) => {
  requests++;
  const p = (byPath[req.url ?? '/'] ??= { requests: 0, bytes: 0 });
  p.requests++;
  req.on('data', (c) => {
    bytes += c.length;
    p.bytes += c.length;
  });
  req.on('end', () => {
    res.statusCode = 200;
    res.setHeader('content-type', req.headers['content-type'] ?? 'application/x-protobuf');
    res.end();
  });
});
server.on('connection', () => connections++);
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: server.address().port }));
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ type: 'stats', requests, bytes, byPath, connections });
  if (m === 'reset') {
    requests = 0;
    bytes = 0;
    connections = 0;
    for (const k of Object.keys(byPath)) delete byPath[k];
  }
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections?.();
  process.disconnect?.();
});
