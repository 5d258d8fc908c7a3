// The public surface of `echoes-otel`. Listed explicitly: nothing is exported by accident.
export { logger, createLogger } from './logging/logger.js';
export type { EchoesLogger } from './logging/logger.js';
export { createCache, instrumentCache } from './signals/cache.js';
export type { BoundedCache, CacheOptions } from './signals/cache.js';
export { setHttpRoute, UNTRACED_SERVER } from './signals/http.js';
export { startEchoes, shutdownEchoes } from './sdk.js';
export type { EchoesHandle } from './sdk.js';
export { loadConfig } from './config/config.js';
export type { ConfigProblem, LoadedConfig } from './config/config.js';
export { CATALOG, METRIC, catalogSeriesNames } from './catalog.js';
export type { CatalogEntry } from './catalog.js';
export type { EchoesConfig, EchoesOptions, LogLevel } from './types.js';
