import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  failIfExited,
  findBinary,
  freeLoopbackPort,
  pollUntil,
  run,
  spawnServer,
  stopOnce,
  type ServerProcess,
} from './real-process.js';

/**
 * A real PostgreSQL server for a test: this machine's server binaries (PostgreSQL 15 from Debian;
 * `initdb`, `postgres`, `psql` on PATH or under /usr/lib/postgresql/<version>/bin), a fresh
 * cluster in a temp dir, listening on 127.0.0.1:<free port> with its unix socket in the temp dir,
 * one database and one login role with a random password.
 *
 *   const pg = await startPostgres();          // throws with the reason when it cannot be had
 *   process.env.DATABASE_URL = pg.url;         // postgres://app:<pw>@127.0.0.1:<port>/app
 *   await pg.sql('create table t (id int)');   // as the superuser, over the socket
 *   await pg.stop();                           // fast shutdown + temp dir removed
 *
 * `initdb` and `postgres` refuse to run as root, so when the tests run as root both run as the
 * `postgres` system user (spawned with its uid/gid), in a temp dir that user owns.
 * `postgresUnavailable()` says why a server cannot be had here (for a visible skip or failure).
 */

export interface PostgresServer {
  /** `postgres://<user>:<password>@127.0.0.1:<port>/<database>` (TCP, password auth). */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** The temp dir holding the cluster, its socket and the server log. */
  readonly dir: string;
  /** The `psql` of the same installation (for tests that connect as a client would). */
  readonly psqlPath: string;
  /**
   * Run SQL over the unix socket (psql -v ON_ERROR_STOP=1) in `database` (default: the app's),
   * as the app's role (so what it creates belongs to the app), or as the superuser with
   * `{ superuser: true }`; returns psql's output.
   */
  sql(query: string, opts?: { database?: string; superuser?: boolean }): Promise<string>;
  /** The server's log so far. */
  logs(): string;
  /** Fast shutdown, then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** Database to create (default `app`). */
  database?: string;
  /** Login role to create, owner of the database (default `app`). */
  user?: string;
}

/** Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin: newest first. */
function searchDirs(): string[] {
  let versions: string[] = [];
  try {
    versions = readdirSync('/usr/lib/postgresql');
  } catch {
    return [];
  }
  return versions
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => `/usr/lib/postgresql/${v}/bin`)
    .filter((d) => existsSync(join(d, 'postgres')));
}

interface Binaries {
  initdb: string;
  postgres: string;
  psql: string;
}

function binaries(): Binaries | string {
  const initdb = findBinary('initdb', searchDirs());
  if (initdb === undefined) {
    return "PostgreSQL server binaries not found (initdb is not on PATH nor under /usr/lib/postgresql/*/bin; `node scripts/test-deps.mjs` installs Debian's postgresql)";
  }
  // postgres and psql from the same installation as initdb when they are there.
  const near = [dirname(initdb), ...searchDirs()];
  const postgres = findBinary('postgres', near);
  const psql = findBinary('psql', near);
  if (postgres === undefined) return `found ${initdb} but no postgres binary next to it`;
  if (psql === undefined) return `found ${initdb} but no psql`;
  return { initdb, postgres, psql };
}

/** The `postgres` system user's uid/gid from /etc/passwd, when we are root and must drop to it. */
function runAs(): { uid: number; gid: number } | undefined | string {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return 'running as root and /etc/passwd is unreadable: cannot find the postgres user';
  }
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  if (line === undefined) {
    return 'running as root, and initdb refuses root, but there is no `postgres` system user to run it as';
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Why a PostgreSQL server cannot be started here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  const b = binaries();
  if (typeof b === 'string') return b;
  const who = runAs();
  return typeof who === 'string' ? who : undefined;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const bins = binaries();
  if (typeof bins === 'string') throw new Error(`PostgreSQL unavailable: ${bins}`);
  const who = runAs();
  if (typeof who === 'string') throw new Error(`PostgreSQL unavailable: ${who}`);
  const database = opts.database ?? 'app';
  const user = opts.user ?? 'app';
  const password = randomBytes(12).toString('hex');

  const dir = mkdtempSync(join(tmpdir(), 'echoes-pg-'));
  const data = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  mkdirSync(socketDir);
  if (who) {
    chownSync(dir, who.uid, who.gid);
    chownSync(socketDir, who.uid, who.gid);
  }
  const as = who ? { uid: who.uid, gid: who.gid } : {};
  // A minimal environment: no PG* variables of the caller's leak in, a HOME the user can read.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LC_ALL: 'C' };

  let server: ServerProcess | undefined;
  // SIGINT is PostgreSQL's "fast" shutdown: abort sessions, checkpoint, exit.
  const cleanup = stopOnce(() => server, dir, 'SIGINT', 10_000);

  try {
    await run(
      bins.initdb,
      [
        '-D',
        data,
        '-U',
        'postgres',
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        '--no-sync',
      ],
      { ...as, cwd: dir, env, timeoutMs: 120_000 },
    );
    const port = await freeLoopbackPort();
    server = spawnServer(
      bins.postgres,
      [
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${socketDir}`,
        // A throwaway test cluster: durability off, so it starts and answers fast.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=60',
      ],
      { ...as, cwd: dir, env },
    );
    const psql = (query: string, db = 'postgres', role?: string): Promise<string> =>
      run(
        bins.psql,
        [
          '-X',
          '-q',
          '-h',
          socketDir,
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          db,
          '-v',
          'ON_ERROR_STOP=1',
          ...(role ? ['-c', `set role "${role}"`] : []),
          '-c',
          query,
        ],
        { ...as, cwd: dir, env, timeoutMs: 30_000 },
      );
    const srv = server;
    await pollUntil(
      `PostgreSQL ready on 127.0.0.1:${port}`,
      async () => {
        failIfExited(srv, 'postgres');
        await psql('select 1');
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await psql(`create role "${user}" login password '${password}'`);
    await psql(`create database "${database}" owner "${user}"`);

    return {
      url: `postgres://${user}:${password}@127.0.0.1:${port}/${database}`,
      host: '127.0.0.1',
      port,
      database,
      user,
      password,
      dir,
      psqlPath: bins.psql,
      sql: (query, o = {}) => psql(query, o.database ?? database, o.superuser ? undefined : user),
      logs: () => srv.logs(),
      stop: cleanup,
    };
  } catch (err) {
    const log = server?.logs().slice(-3000) ?? '';
    await cleanup();
    throw new Error(
      `PostgreSQL could not be started: ${(err as Error).message}${log ? `\n--- postgres log ---\n${log}` : ''}`,
    );
  }
}
