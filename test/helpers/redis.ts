import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  failIfExited,
  findBinary,
  freeLoopbackPort,
  pollUntil,
  spawnServer,
  stopOnce,
  type ServerProcess,
} from './real-process.js';

/**
 * A real Redis server for a test: Debian's `redis-server` (installed by scripts/test-deps.mjs,
 * which `npm test` runs, when missing) on 127.0.0.1:<free port>, no persistence (no RDB, no AOF),
 * its working dir a temp dir removed on stop.
 *
 *   const redis = await startRedis();   // throws with the reason when it cannot be had
 *   redis.url                           // redis://127.0.0.1:<port>
 *   await redis.command('SET', 'k', 'v');
 *   await redis.stop();
 */

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  /** Send one command over a fresh connection (RESP); resolves with the raw reply line(s). */
  command(...args: string[]): Promise<string>;
  logs(): string;
  /** SIGTERM (no save: persistence is off), then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Why a Redis server cannot be started here, or undefined when it can. */
export function redisUnavailable(): string | undefined {
  return findBinary('redis-server') === undefined
    ? "redis-server is not on PATH (`node scripts/test-deps.mjs` installs Debian's redis-server; npm test runs it)"
    : undefined;
}

/** One RESP command on a fresh connection; the reply as text (errors reject). */
export function redisCommand(
  port: number,
  args: readonly string[],
  timeoutMs = 2_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (err?: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply);
    };
    const timer = setTimeout(
      () => done(new Error(`redis ${args[0]}: no reply in ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.setEncoding('utf8');
    sock.on('error', (e) => done(e));
    sock.on('data', (d: string) => {
      reply += d;
      // Enough for the simple replies the tests need: one line, or a bulk string's two lines.
      const lines = reply.split('\r\n');
      if (lines.length < 2) return;
      if (reply.startsWith('-')) done(new Error(`redis ${args[0]}: ${lines[0]}`));
      else if (reply.startsWith('$') && !reply.startsWith('$-1') && lines.length < 3) return;
      else done();
    });
    sock.on('connect', () => {
      sock.write(
        `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
      );
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const bin = findBinary('redis-server');
  if (bin === undefined) throw new Error(`Redis unavailable: ${redisUnavailable()}`);
  const dir = mkdtempSync(join(tmpdir(), 'echoes-redis-'));
  const port = await freeLoopbackPort();
  let server: ServerProcess | undefined;
  const stop = stopOnce(() => server, dir, 'SIGTERM', 5_000);
  try {
    server = spawnServer(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
        '--loglevel',
        'warning',
      ],
      { cwd: dir },
    );
    const srv = server;
    await pollUntil(
      `Redis ready on 127.0.0.1:${port}`,
      async () => {
        failIfExited(srv, 'redis-server');
        return (await redisCommand(port, ['PING'])).startsWith('+PONG') ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    return {
      url: `redis://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      dir,
      command: (...args) => redisCommand(port, args),
      logs: () => srv.logs(),
      stop,
    };
  } catch (err) {
    const log = server?.logs().slice(-3000) ?? '';
    await stop();
    throw new Error(
      `Redis could not be started: ${(err as Error).message}${log ? `\n--- redis log ---\n${log}` : ''}`,
    );
  }
}
