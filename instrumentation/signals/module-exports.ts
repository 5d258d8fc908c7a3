/**
 * A library's exports as a module hook hands them over: the CommonJS object itself, or, for an
 * ES module namespace (`import` of a CommonJS library through the ESM hook), its `default`.
 * Shared by our own library instrumentations (db-pg.ts, db-ioredis.ts, genai-openai.ts).
 */
export function moduleExports<T>(exports: unknown): T | undefined {
  const m = exports as { [Symbol.toStringTag]?: unknown; default?: unknown } | undefined;
  return (m?.[Symbol.toStringTag] === 'Module' ? m.default : m) as T | undefined;
}
