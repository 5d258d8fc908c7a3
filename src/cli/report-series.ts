import { CATALOG } from '../../instrumentation/catalog.js';
import type { CatalogEntry } from '../../instrumentation/catalog.js';

/** Which series name the signal catalog gives a metric on each of the report's two sources. */

function entry(name: string): CatalogEntry {
  const e = CATALOG.find((c) => c.name === name);
  if (!e) throw new Error(`${name} is not in the signal catalog`);
  return e;
}

/** Series names from the catalog: Prometheus (after OTLP translation) or the embedded exporter's. */
export function seriesName(name: string, source: 'prometheus' | 'embedded', suffix = ''): string {
  const e = entry(name);
  const base = source === 'prometheus' ? e.prometheus : e.embedded;
  if (base === undefined) throw new Error(`${name} has no embedded series in the catalog`);
  return base + suffix;
}

/**
 * The names a metric may carry on an embedded /metrics page: the catalog's Prometheus name (what
 * the collector path gives, unit suffixes included) and its exporter-prometheus name (no unit
 * suffix). Which one the endpoint serves depends on how the preload configures the exporter, so
 * the report takes whichever is on the page, and never a name outside the catalog.
 */
export function embeddedCandidates(name: string, suffix = ''): string[] {
  const e = entry(name);
  return [...new Set([e.prometheus, e.embedded].filter((n): n is string => n !== undefined))].map(
    (n) => n + suffix,
  );
}

export const HEAP_USED = 'v8js.memory.heap.used';
