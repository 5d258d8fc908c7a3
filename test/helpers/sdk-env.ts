/**
 * Env for an in-process `startEchoes` in a unit test: no exporter, no Prometheus endpoint, no log
 * file or console, a 1 s shutdown deadline. Tests add what they exercise (instrumentations, dirs).
 */
export const QUIET_SDK_ENV: Readonly<Record<string, string>> = {
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  ECHOES_PROMETHEUS: 'off',
  ECHOES_LOG_FILE: 'off',
  ECHOES_LOG_CONSOLE: 'off',
  ECHOES_SHUTDOWN_TIMEOUT_MS: '1000',
};
