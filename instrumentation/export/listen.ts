import { createRequire } from 'node:module';
import type * as Net from 'node:net';
import type { Server } from 'node:net';
import { isClusterWorker } from '../config/config.js';

// `require`, not `import`: node:net is loaded when a server is made, not when this module is.
const require = createRequire(import.meta.url);

/** `net.Server`'s own listen step, which `listen()` calls once `cluster` has had its say. */
type ListenStep = (
  address: string,
  port: number,
  addressType: number,
  backlog: number | undefined,
  fd: number | undefined,
  flags: number,
) => void;

/**
 * Listens on `host:port` as `server.listen({ host, port }, onListening)` does, without loading
 * Node's `cluster` module when this process is not a cluster worker.
 *
 * `net.Server.prototype.listen` requires `cluster` on every call (`listenInCluster` in Node's
 * net.js, Node 20 to 24), and the cluster primary module loads `child_process`, `dgram` and their
 * bindings with it: 0.6 MiB (Node 20) and 1.2 MiB (Node 24) of peak RSS for an app that loads
 * express, pg and openai but listens nowhere itself (a worker, a job, a CLI), for our embedded
 * `/metrics` endpoint alone (docs/performance.md, "Startup"). Outside a cluster worker
 * (`NODE_UNIQUE_ID` unset, which is how `cluster` itself decides), that function calls
 * `server._listen2(address, port, addressType, backlog, fd, flags)` and nothing else; so do we,
 * for an IP literal (a host name takes `listen`'s DNS lookup). In a worker, or on a Node without
 * `_listen2`, this is `listen()` itself. Errors (EADDRINUSE, EACCES) arrive as `'error'` events
 * either way.
 */
export function listenOutsideCluster(
  server: Server,
  host: string,
  port: number,
  onListening: () => void,
): void {
  const step = (server as unknown as { _listen2?: ListenStep })._listen2;
  const addressType = (require('node:net') as typeof Net).isIP(host);
  if (addressType === 0 || typeof step !== 'function' || isClusterWorker()) {
    server.listen({ host, port }, onListening);
    return;
  }
  server.once('listening', onListening);
  // listen() passes no backlog (the handle then takes 511), no fd, and flags 0 without ipv6Only.
  step.call(server, host, port, addressType, undefined, undefined, 0);
}
