// The public surface of `echoes-otel`. Listed explicitly: nothing is exported by accident.
export { logger, createLogger } from './logger.js';
export type { EchoesLogger } from './logger.js';
export { createCache, instrumentCache } from './cache.js';
export type { BoundedCache, CacheOptions } from './cache.js';
export { setHttpRoute, UNTRACED_SERVER } from './http.js';
export { startEchoes, shutdownEchoes } from './sdk.js';
export type { EchoesHandle } from './sdk.js';
export { loadConfig } from './config.js';
export type { ConfigProblem, LoadedConfig } from './config.js';
export { CATALOG, METRIC, catalogSeriesNames } from './catalog.js';
export type { CatalogEntry } from './catalog.js';
export type { EchoesConfig, EchoesOptions, LogLevel } from './types.js';
