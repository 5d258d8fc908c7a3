import { join } from 'node:path';
import type { ServiceOptions } from './server.js';
import type { SessionWriteMode } from './sessions.js';

/**
 * The reference service's own knobs (not echoes-otel's configuration, which lives in
 * `instrumentation/config/config.ts`). Read from the environment of the service process; a bad value is
 * reported and the default used, the way the instrumentation treats its own variables.
 */

export interface ServiceSettings extends ServiceOptions {
  readonly port: number;
  readonly host: string;
}

export interface SettingsResult {
  readonly settings: ServiceSettings;
  readonly warnings: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

export function readServiceSettings(env: Env, cwd: string): SettingsResult {
  const warnings: string[] = [];
  const num = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      warnings.push(
        `${name}=${JSON.stringify(raw)} is not a number from ${min} to ${max}; using ${fallback}`,
      );
      return fallback;
    }
    return n;
  };
  let mode: SessionWriteMode = 'batched';
  const rawMode = env.ECHOES_SERVICE_SESSION_WRITES;
  if (rawMode !== undefined && rawMode.trim() !== '') {
    if (rawMode === 'batched' || rawMode === 'immediate') mode = rawMode;
    else
      warnings.push(
        `ECHOES_SERVICE_SESSION_WRITES=${JSON.stringify(rawMode)} is not batched or immediate; using batched`,
      );
  }
  const settings: ServiceSettings = {
    port: Math.trunc(num('ECHOES_SERVICE_PORT', 8080, 0, 65535)),
    host: env.ECHOES_SERVICE_HOST?.trim() || '127.0.0.1',
    dataDir: env.ECHOES_SERVICE_DATA_DIR?.trim() || cwd,
    sessionMode: mode,
    flushEvery: Math.trunc(num('ECHOES_SERVICE_FLUSH_EVERY', 100, 1, 1_000_000)),
    flushIntervalMs: num('ECHOES_SERVICE_FLUSH_MS', 1000, 1, 3_600_000),
    latencyScale: num('ECHOES_SERVICE_LATENCY_SCALE', 1, 0, 100),
    failureRate: num('ECHOES_SERVICE_FAILURE_RATE', 0, 0, 1),
    embeddingsMaxBytes: Math.trunc(
      num('ECHOES_SERVICE_EMBEDDINGS_MAX_BYTES', 5 * 1024 * 1024, 1, 1e12),
    ),
  };
  return { settings, warnings };
}

/** The service's layout under its data directory (main.ts creates the first two). */
export const SERVICE_DIRS = {
  sessions: 'data/memory',
  embeddings: '.cache/embeddings',
  cache: '.cache',
} as const;

/**
 * The reference service's directories and path groups, for echoes-otel's `ECHOES_DIRS` and
 * `ECHOES_FS_PATH_GROUPS`. The library's defaults name only its own log and config directories, so
 * the service tells it its layout; through the environment of the service process (set by
 * scripts/start.mjs, docker/app.Dockerfile and the test harness), because the `--import` preload
 * reads its configuration before any of the service's code runs. `dataDir` and `logDir` are as the
 * service and the preload resolve them (relative ones against the working directory).
 */
export function serviceTelemetryEnv(
  dataDir: string,
  logDir: string,
): { ECHOES_DIRS: string; ECHOES_FS_PATH_GROUPS: string } {
  const at = (p: string): string => join(dataDir, p);
  return {
    ECHOES_DIRS: [
      `logs=${logDir}`,
      `cache/embeddings=${at(SERVICE_DIRS.embeddings)}`,
      `sessions=${at(SERVICE_DIRS.sessions)}`,
    ].join(','),
    ECHOES_FS_PATH_GROUPS: [
      `logs=${logDir}`,
      `sessions=${at(SERVICE_DIRS.sessions)}`,
      `cache=${at(SERVICE_DIRS.cache)}`,
      'config=config',
    ].join(','),
  };
}
