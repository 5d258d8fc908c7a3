import type { ServiceOptions } from './server.js';
import type { SessionWriteMode } from './sessions.js';

/**
 * The reference service's own knobs (not echoes-otel's configuration, which lives in
 * `instrumentation/config.ts`). Read from the environment of the service process; a bad value is
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
