import type * as Http from 'node:http';
import type { Agent as HttpAgent, AgentOptions } from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { markRetryable } from './export-spool.js';
import { grpcTransport, httpTransportSlots, retryingTransport } from './sdk-internals.js';

/**
 * Keeps OTLP exports from holding the process at exit.
 *
 * Upstream's OTLP exporters retry a failing export with ref'd backoff timers for up to the export
 * timeout (10 s), over ref'd sockets, so a service that closes its server on SIGTERM lived ~9 s
 * longer with the collector down (measured: bench/results/exit.md). Here:
 * - retries use the same policy (5 attempts, 1 s backoff ×1.5 up to 5 s, ±20 % jitter, within the
 *   export timeout) but unref'd timers: a failing collector is never the reason the process stays;
 * - sockets come from our agents, and `release()` (called when the shutdown deadline passes)
 *   destroys them and stops further retries, so a collector that accepts and never answers cannot
 *   hold the process either (the pending exports fail at once and their timers are cleared).
 * While the app runs, nothing changes: a live request's socket is ref'd as usual, so a flush at a
 * natural exit still completes when the collector answers.
 */

export interface ExportControl {
  /** For the exporters' `httpAgentOptions`: one keep-alive agent per protocol, sockets tracked. */
  agentFactory(protocol: string): HttpAgent;
  /** Patches an OTLP exporter so its retries use unref'd timers and stop after `release()`. */
  adopt(exporter: object): boolean;
  /**
   * Shutdown has begun: every export gets its one attempt, no backoff (a retry 1 s later rarely
   * fits a 2 s exit deadline, and with the collector refusing it only delays the exit).
   */
  stopRetries(): void;
  /** The deadline has passed: stop everything and destroy open export sockets. */
  release(): void;
  readonly released: boolean;
  /** Shutdown has begun (`stopRetries` or `release`): an export failure is final from now on. */
  readonly stopping: boolean;
}

interface Response {
  status: 'success' | 'retryable' | 'failure';
  retryInMillis?: number;
  [k: string]: unknown;
}
interface Transport {
  send(data: Uint8Array, timeoutMillis: number): Promise<Response>;
  shutdown(): void;
}

// Loaded when the first agent is made, by `require`: an ESM import of node:http costs +13 MiB on
// Node 24 (it evaluates the module's lazy undici exports), and node:https (tls, crypto) about
// +6 MiB on both versions, which a plain-http collector endpoint never needs.
const require = createRequire(import.meta.url);

/**
 * gRPC status codes the OTLP spec calls retryable (CANCELLED, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS). Upstream's gRPC transport reports every error as a
 * plain `failure`; ours retries these and hands them to the spool, as with HTTP 429/502/503/504.
 */
const GRPC_RETRYABLE = new Set([1, 4, 10, 11, 14, 15]);

function grpcRetryable(result: Response): Response {
  if (result.status !== 'failure') return result;
  const code = (result.error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && GRPC_RETRYABLE.has(code)
    ? { ...result, status: 'retryable' }
    : result;
}

const MAX_ATTEMPTS = 5;
const INITIAL_BACKOFF = 1000;
const MAX_BACKOFF = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;

/**
 * Upstream's HTTP transport loads `http` or `https` with a dynamic `import()` at its first export
 * and asks the agent factory then. On Node 24 an ESM import of node:http costs +13 MiB (see above),
 * so it is handed the same two things up front: our agent and the module's `request`, by require.
 * Its `_utils` slot is what it fills itself (pinned exporter 0.223); any other shape is left alone.
 */
function primeHttpTransport(inner: object, agentFactory: (protocol: string) => HttpAgent): void {
  const slots = httpTransportSlots(inner);
  if (slots === undefined) return;
  try {
    const protocol = new URL(slots.url).protocol;
    const { request } = require(protocol === 'http:' ? 'node:http' : 'node:https') as typeof Http;
    slots.fill({ agent: agentFactory(protocol), request });
  } catch {
    // left to load its own on the first export
  }
}

export function createExportControl(): ExportControl {
  const sockets = new Set<Socket>();
  let released = false;
  let retrying = true;
  const agents = new Map<string, HttpAgent>();
  /** Pending backoff waits: release() ends them at once, so the export settles and the
   * processors clear their own (ref'd) export timeouts instead of waiting out the backoff. */
  const waking = new Set<() => void>();

  function track<A extends HttpAgent>(agent: A): A {
    // Every socket the agent opens passes through createConnection.
    const create = (
      agent as unknown as { createConnection: (...a: unknown[]) => Socket }
    ).createConnection.bind(agent);
    (agent as unknown as { createConnection: (...a: unknown[]) => Socket }).createConnection = (
      ...args: unknown[]
    ) => {
      const sock = create(...args);
      if (sock !== undefined && sock !== null) {
        sockets.add(sock);
        // After the deadline nothing new may hold the process: fail the request at once.
        if (released) process.nextTick(() => sock.destroy());
        sock.once('close', () => sockets.delete(sock));
      }
      return sock;
    };
    return agent;
  }

  class QuietRetryingTransport implements Transport {
    private readonly _send: (data: Uint8Array, timeoutMillis: number) => Promise<Response>;

    constructor(
      private readonly _inner: Transport,
      grpc: boolean,
    ) {
      this._send = grpc
        ? (data, timeoutMillis) => this._inner.send(data, timeoutMillis).then(grpcRetryable)
        : (data, timeoutMillis) => this._inner.send(data, timeoutMillis);
    }

    private _wait(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          waking.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        timer.unref();
        waking.add(wake);
      });
    }

    async send(data: Uint8Array, timeoutMillis: number): Promise<Response> {
      // Exports started after the deadline (a provider's final flush) fail at once instead of
      // opening a request that the batch processors' ref'd timers would then wait on.
      if (released)
        return {
          status: 'failure',
          error: new Error('echoes-otel: export after the shutdown deadline'),
        };
      const deadline = Date.now() + timeoutMillis;
      let nextBackoff = INITIAL_BACKOFF;
      let result = await this._send(data, timeoutMillis);
      for (
        let attempts = MAX_ATTEMPTS;
        result.status === 'retryable' && attempts > 0 && retrying && !released;
        attempts--
      ) {
        const backoff = Math.max(
          Math.min(nextBackoff * (1 + (Math.random() * 2 * JITTER - JITTER)), MAX_BACKOFF),
          0,
        );
        nextBackoff *= BACKOFF_MULTIPLIER;
        const retryIn = result.retryInMillis ?? backoff;
        const remaining = deadline - Date.now();
        if (retryIn > remaining) break;
        await this._wait(retryIn);
        if (released || !retrying) break;
        result = await this._send(data, deadline - Date.now());
      }
      // Out of attempts on an answer worth retrying: say so, for the export spool (it holds the
      // batch for a later resend instead of dropping it).
      if (result.status === 'retryable')
        return {
          ...result,
          error: markRetryable(result.error ?? new Error('export failed with a retryable status')),
        };
      return result;
    }

    shutdown(): void {
      this._inner.shutdown();
    }
  }

  return {
    agentFactory(protocol: string): HttpAgent {
      let agent = agents.get(protocol);
      if (agent === undefined) {
        const opts: AgentOptions = { keepAlive: true };
        agent = track(
          protocol === 'https:'
            ? (new (require('node:https') as typeof Https).Agent(opts) as unknown as HttpAgent)
            : new (require('node:http') as typeof Http).Agent(opts),
        );
        agents.set(protocol, agent);
      }
      return agent;
    },
    adopt(exporter: object): boolean {
      // The gRPC exporters keep their transport (an HTTP/2 channel of @grpc/grpc-js) with no
      // retrying wrapper: the retry policy and the spool apply to it, not the socket tracking
      // `release()` relies on. The HTTP ones wrap theirs in upstream's RetryingTransport. Both
      // shapes are named in sdk-internals.ts; any other leaves the exporter as it is.
      const grpc = grpcTransport(exporter);
      if (grpc !== undefined) {
        grpc.replace(new QuietRetryingTransport(grpc.inner as Transport, true));
        return true;
      }
      const found = retryingTransport(exporter);
      if (found === undefined) return false;
      primeHttpTransport(found.inner, this.agentFactory.bind(this));
      found.replace(new QuietRetryingTransport(found.inner as Transport, false));
      return true;
    },
    stopRetries(): void {
      retrying = false;
      for (const wake of [...waking]) wake();
    },
    release(): void {
      released = true;
      retrying = false;
      // Destroyed, not just unref'd: a request to a collector that never answers would otherwise
      // stay pending, and the batch processors' own (ref'd) export timeouts with it.
      for (const s of sockets) s.destroy();
      for (const wake of [...waking]) wake();
    },
    get released() {
      return released;
    },
    get stopping() {
      return !retrying || released;
    },
  };
}
