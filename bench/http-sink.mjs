// A local OTLP/HTTP sink for the benchmark: accepts every export and discards it, answering with
// an empty 200 as a collector would (an empty protobuf Export*ServiceResponse is zero bytes).
import http from 'node:http';

let requests = 0;
let bytes = 0;
const server = http.createServer((req, res) => {
  requests++;
  req.on('data', (c) => (bytes += c.length));
  req.on('end', () => {
    res.statusCode = 200;
    res.setHeader('content-type', req.headers['content-type'] ?? 'application/x-protobuf');
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: server.address().port }));
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ type: 'stats', requests, bytes });
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections?.();
  process.disconnect?.();
});
