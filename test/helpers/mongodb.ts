import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PATHS } from '../../scripts/backends.mjs';
import {
  failIfExited,
  freeLoopbackPort,
  pollUntil,
  spawnServer,
  stopOnce,
} from './real-process.js';

/**
 * A real MongoDB wire-protocol server for the mongodb tests: FerretDB 1.x with its SQLite backend
 * (built from its Go module by `scripts/backends.mjs ferretdb`, part of `npm test`'s backends
 * step), a fresh data dir in a temp dir, on 127.0.0.1:<free port>. No MongoDB server can be had
 * from the registries here; FerretDB speaks the same OP_MSG protocol to the same `mongodb` driver,
 * so the driver's command path (and the instrumentation on it) runs for real.
 *
 *   const db = await startMongo();   // throws with the reason when it cannot be had
 *   db.url                           // mongodb://127.0.0.1:<port>/
 *   await db.stop();
 *
 * Its usage telemetry (a beacon to ferretdb.com) is switched off twice: the flag and DO_NOT_TRACK.
 */
export interface MongoServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Why a MongoDB-wire server cannot be started here, or undefined when it can. */
export function mongoUnavailable(): string | undefined {
  if (!existsSync(PATHS.ferretdb))
    return `FerretDB is not built (${PATHS.ferretdb}; \`node scripts/backends.mjs ferretdb\`, which npm test runs)`;
  return undefined;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startMongo(): Promise<MongoServer> {
  const why = mongoUnavailable();
  if (why !== undefined) throw new Error(`MongoDB-wire server unavailable: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), 'echoes-ferretdb-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const port = await freeLoopbackPort();
  const server = spawnServer(
    PATHS.ferretdb,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${data}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
    ],
    { env: { ...process.env, DO_NOT_TRACK: '1' } },
  );
  const stop = stopOnce(() => server, dir);
  try {
    await pollUntil(
      `FerretDB listening on 127.0.0.1:${port}`,
      async () => {
        failIfExited(server, 'ferretdb');
        return (await accepts(port)) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    return { url: `mongodb://127.0.0.1:${port}/`, port, stop };
  } catch (err) {
    const log = server.logs().slice(-3000);
    await stop();
    throw new Error(`FerretDB could not be started: ${(err as Error).message}\n${log}`);
  }
}
