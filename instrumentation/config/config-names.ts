import type { EchoesConfig, PropagatorName, SignalExporter } from '../types.js';

/** Names the schema's value types accept, shared with the modules that act on them. */

/** Upstream's names (`OTEL_NODE_ENABLED_INSTRUMENTATIONS`), then ours. */
export const INSTRUMENTATION_NAMES = [
  'http',
  'undici',
  'express',
  'fastify',
  'koa',
  'pg',
  'mysql2',
  'ioredis',
  'redis',
  'mongodb',
  'openai',
  'winston',
  'fs',
  'runtime-node',
  'lru-cache',
  'cache',
  'dirs',
] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];
/** Other spellings accepted in the lists. */
export const INSTRUMENTATION_ALIASES: Readonly<Record<string, InstrumentationName>> = {
  runtime: 'runtime-node',
  fetch: 'undici',
};
/** The `config.instrumentations` key of each name. */
export const INSTRUMENTATION_KEYS: Readonly<
  Record<InstrumentationName, keyof EchoesConfig['instrumentations']>
> = {
  http: 'http',
  undici: 'undici',
  express: 'express',
  fastify: 'fastify',
  koa: 'koa',
  pg: 'pg',
  mysql2: 'mysql2',
  ioredis: 'ioredis',
  redis: 'redis',
  mongodb: 'mongodb',
  openai: 'openai',
  winston: 'winston',
  fs: 'fs',
  'runtime-node': 'runtime',
  'lru-cache': 'lruCache',
  cache: 'cache',
  dirs: 'dirs',
};

export const PROPAGATOR_NAMES: readonly PropagatorName[] = [
  'tracecontext',
  'baggage',
  'b3',
  'b3multi',
];
export const SIGNAL_EXPORTERS: readonly SignalExporter[] = ['otlp', 'console', 'none'];
export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export type DiagLevelName = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
export const DIAG_LEVELS: readonly DiagLevelName[] = [
  'none',
  'error',
  'warn',
  'info',
  'debug',
  'verbose',
  'all',
];

/**
 * The secret-looking keys: the one list. Redaction uses it (config.redaction.keys starts from it;
 * a key matches when its normalised form equals or ends with one of these), `check-config` masks
 * config values under such keys, and a test holds the collector's attribute filter to it.
 */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'authorization',
  'api_key',
  'apikey',
  'api-key',
  'token',
  'access_token',
  'refresh_token',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'cookie',
  'set-cookie',
  'x-api-key',
];
