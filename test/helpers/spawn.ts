import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { REGISTER } from './paths.js';

export function requireBuilt(): void {
  if (!existsSync(REGISTER)) {
    throw new Error(
      `${REGISTER} is missing: run \`npm run build\` (npm test builds before running vitest)`,
    );
  }
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Milliseconds from spawn (or from `markTime()`) to exit. */
  readonly ms: number;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` on stdout (or stderr with `stream`), rejects at the deadline or on exit. */
  waitFor(re: RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  readonly exited: Promise<Exit>;
  /** Restart the clock `exited.ms` is measured from (e.g. when sending SIGTERM). */
  markTime(): void;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();

/** Kill every child still running (afterAll / on failure): no orphans. */
export function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

export function spawnNode(
  node: string,
  args: readonly string[],
  opts: SpawnOptions & { env?: NodeJS.ProcessEnv } = {},
): Spawned {
  const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  let out = '';
  let err = '';
  let t0 = Date.now();
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    notify();
  });
  let done = false;
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    // 'close' comes after 'exit' once stdout and stderr are drained, so stdout()/stderr() are complete.
    child.once('close', (code, signal) => {
      done = true;
      live.delete(child);
      notify();
      resolve({ code, signal, ms: Date.now() - t0 });
    });
  });
  exited.catch(() => undefined);

  return {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited,
    markTime() {
      t0 = Date.now();
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      child.kill(signal);
    },
    waitFor(re: RegExp, timeoutMs = 20_000, stream: 'stdout' | 'stderr' = 'stdout') {
      return new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = (): void => {
          const m = (stream === 'stdout' ? out : err).match(re);
          if (m) {
            cleanup();
            resolve(m);
          } else if (done) {
            cleanup();
            reject(
              new Error(
                `process exited before ${re} appeared on ${stream}\nstdout:\n${out}\nstderr:\n${err}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${re} on ${stream}\nstdout:\n${out}\nstderr:\n${err}`,
            ),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/**
 * The environment of a preload test that needs nothing exported: PATH only from this process, no
 * exporter, no Prometheus endpoint, no directory scan, log files in `logDir` and none on the
 * console, so a run's stderr is empty unless something warned. `extra` is spread last.
 */
export function quietPreloadEnv(
  logDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ECHOES_LOG_DIR: logDir,
    ECHOES_LOG_CONSOLE: 'off',
    ECHOES_PROMETHEUS: 'off',
    ECHOES_DIRS: 'none',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    ...extra,
  };
}
