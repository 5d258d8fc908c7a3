import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/**
 * Shared plumbing of the real-server helpers (postgres.ts, redis.ts): find a binary, pick a free
 * loopback port, poll with a deadline, and make sure no server outlives the test process (exit
 * and signal hooks, plus a watchdog for a SIGKILLed test worker). Node built-ins only, so the
 * benchmarks can bundle these helpers with esbuild and run them outside vitest.
 */

/** The first executable named `name` on PATH or in `extraDirs`, else undefined. */
export function findBinary(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `check` until it returns a value (not undefined) or the deadline passes; never a fixed sleep. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
      if ((e as { fatal?: boolean }).fatal) throw e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const live = new Set<ChildProcess>();
let hooked = false;

function killLive(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function installExitHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killLive);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killLive();
      process.kill(process.pid, sig);
    });
  }
}

/**
 * If the test process is SIGKILLed (no exit hooks run), a detached shell notices within a second
 * and SIGKILLs the server: the only portable way to outlive a killed parent without native code.
 */
function watchdog(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const w = spawn(
    '/bin/sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null`,
    ],
    { stdio: 'ignore', detached: true },
  );
  w.unref();
}

/**
 * Track a child so that it never outlives the test process (exit and signal hooks, a watchdog for
 * a SIGKILLed worker) until it exits. Used by spawnServer here and by backends.ts.
 */
export function trackChild(child: ChildProcess): void {
  installExitHooks();
  live.add(child);
  watchdog(child);
  const drop = (): void => void live.delete(child);
  child.once('exit', drop);
  child.once('error', drop);
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** stdout + stderr so far (last 256 KiB), for failure messages. */
  logs(): string;
  readonly running: boolean;
  /** Resolves when the process has exited (at once if it already has). */
  readonly exited: Promise<void>;
  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves on exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Spawn a long-running server, tracked so that it never outlives the test process. */
export function spawnServer(
  bin: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): ServerProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  trackChild(child);
  let buf = '';
  const onData = (d: Buffer): void => {
    buf = (buf + d.toString('utf8')).slice(-256 * 1024);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (e) => {
      buf += `\n[spawn error] ${e.message}\n`;
      resolve();
    });
  });
  const proc: ServerProcess = {
    child,
    logs: () => buf,
    get running() {
      return child.exitCode === null && child.signalCode === null && live.has(child);
    },
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000) {
      if (!proc.running) return exited;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      t.unref();
      await exited;
      clearTimeout(t);
    },
  };
  return proc;
}

/**
 * The stop of a real server the tests run in a temp dir of its own: `signal` (SIGKILL after
 * `graceMs`), then the dir removed; idempotent. `server` is read when stopping (a start that
 * failed early may have none yet).
 */
export function stopOnce(
  server: () => ServerProcess | undefined,
  dir: string,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): () => Promise<void> {
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    await server()?.stop(signal, graceMs);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** In a `pollUntil` check: a fatal error (the poll ends at once) when the server has exited. */
export function failIfExited(server: ServerProcess, name: string): void {
  if (server.running) return;
  const e = new Error(`${name} exited during startup:\n${server.logs().slice(-3000)}`);
  (e as { fatal?: boolean }).fatal = true;
  throw e;
}

/** Run a command to completion; rejects with its output on a non-zero exit. */
export function run(
  bin: string,
  args: readonly string[],
  opts: SpawnOptions & { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  const { input, timeoutMs = 60_000, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOpts });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(`${bin} ${args.join(' ')} failed (code ${code}, signal ${signal}):\n${out}`),
        );
    });
    child.stdin?.end(input ?? '');
  });
}
