import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  failIfExited,
  findBinary,
  freeLoopbackPort,
  pollUntil,
  run,
  spawnServer,
  stopOnce,
} from './real-process.js';

/**
 * A real MariaDB server for the mysql2 tests: Debian's `mariadb-server` (installed by
 * scripts/test-deps.mjs when missing, about 35 s here), a fresh data dir in a temp dir,
 * listening on 127.0.0.1:<free port>, one database and one role with a random password.
 *
 *   const db = await startMariaDb();   // throws with the reason when it cannot be had
 *   db.url                             // mysql://app:<pw>@127.0.0.1:<port>/app
 *   await db.stop();
 *
 * Run as root (as the tests are here) with `--user=root`; the admin client talks over the
 * temp dir's unix socket, where root authenticates as the OS user.
 */
export interface MariaDbServer {
  readonly url: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  stop(): Promise<void>;
}

const SBIN = ['/usr/sbin', '/usr/bin'];

/** Why a MariaDB server cannot be started here, or undefined when it can. */
export function mariaDbUnavailable(): string | undefined {
  if (findBinary('mariadbd', SBIN) === undefined)
    return 'mariadbd not found (apt-get install mariadb-server; scripts/test-deps.mjs does it)';
  if (findBinary('mariadb-install-db', SBIN) === undefined) return 'mariadb-install-db not found';
  return undefined;
}

export async function startMariaDb(): Promise<MariaDbServer> {
  const why = mariaDbUnavailable();
  if (why !== undefined) throw new Error(`MariaDB unavailable: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), 'echoes-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const port = await freeLoopbackPort();
  const password = randomBytes(12).toString('hex');
  await run(
    findBinary('mariadb-install-db', SBIN)!,
    ['--no-defaults', `--datadir=${data}`, '--user=root', '--skip-test-db', '--skip-name-resolve'],
    { timeoutMs: 60_000 },
  );
  const server = spawnServer(findBinary('mariadbd', SBIN)!, [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--user=root',
    '--skip-name-resolve',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=16M',
  ]);
  const client = findBinary('mariadb', SBIN) ?? findBinary('mysql', SBIN)!;
  const admin = (sql: string): Promise<string> =>
    run(client, ['--no-defaults', '-uroot', `--socket=${socket}`, '-e', sql], {
      timeoutMs: 20_000,
    });
  const stop = stopOnce(() => server, dir);
  try {
    await pollUntil(
      `MariaDB ready on 127.0.0.1:${port}`,
      async () => {
        failIfExited(server, 'mariadbd');
        try {
          await admin('SELECT 1');
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await admin(
      `CREATE DATABASE app; CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL ON app.* TO 'app'@'127.0.0.1';`,
    );
    return {
      url: `mysql://app:${password}@127.0.0.1:${port}/app`,
      port,
      database: 'app',
      user: 'app',
      password,
      stop,
    };
  } catch (err) {
    const log = server.logs().slice(-3000);
    await stop();
    throw new Error(`MariaDB could not be started: ${(err as Error).message}\n${log}`);
  }
}
