import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A downstream service on 127.0.0.1:<random port> that records the headers of every request it
 * gets, so a test sees what an instrumented client propagated (`traceparent`, `tracestate`,
 * `baggage`, `b3`, `x-b3-traceid`, ...). It answers 200 with JSON `{ ok, path, traceparent, b3 }`
 * (or what `respond` writes).
 *
 *   const down = await startDownstream();
 *   // app fetches `${down.url}/anything`
 *   const [seen] = await down.waitForRequests(1);
 *   traceIdOf(seen.headers)   // from traceparent, b3 or x-b3-traceid, whichever came
 *   await down.close();
 */

export interface DownstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly receivedAt: number;
}

export interface DownstreamServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly DownstreamRequest[];
  /** Resolves with the matching requests once there are `count` of them. */
  waitForRequests(
    count: number,
    predicate?: (r: DownstreamRequest) => boolean,
    timeoutMs?: number,
  ): Promise<DownstreamRequest[]>;
  clear(): void;
  close(): Promise<void>;
}

export interface DownstreamOptions {
  /** Write the response yourself (default: 200 JSON echoing the path and trace headers). */
  respond?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** The trace id a request carried, from W3C `traceparent`, single-header `b3` or B3 multi-header. */
export function traceIdOf(headers: IncomingHttpHeaders): string | undefined {
  const tp = headers.traceparent;
  if (typeof tp === 'string') return tp.split('-')[1];
  const b3 = headers.b3;
  if (typeof b3 === 'string') return b3.split('-')[0];
  const multi = headers['x-b3-traceid'];
  return typeof multi === 'string' ? multi : undefined;
}

export async function startDownstream(opts: DownstreamOptions = {}): Promise<DownstreamServer> {
  const requests: DownstreamRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push({ method: req.method ?? '', path, headers: req.headers, receivedAt: Date.now() });
    for (const w of [...waiters]) w();
    // Drain the body (if any) before answering, as a real service would.
    req.resume();
    req.on('end', () => {
      if (opts.respond) {
        opts.respond(req, res);
        return;
      }
      const body = JSON.stringify({
        ok: true,
        path,
        traceparent: req.headers.traceparent ?? null,
        b3: req.headers.b3 ?? null,
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    waitForRequests(count, predicate = () => true, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = requests.filter(predicate);
          if (found.length >= count) {
            cleanup();
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `downstream: timed out after ${timeoutMs} ms waiting for ${count} request(s) (${requests.length} received)`,
            ),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    clear() {
      requests.length = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
