import { isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PathGroup } from '../types.js';

/** The `fs.path.group` of a path no configured prefix matches. */
export const OTHER_GROUP = 'other';

/**
 * Maps a path (string, Buffer or file: URL, as node:fs accepts) to a low-cardinality group name.
 * Raw paths never become attributes: the first matching configured prefix (longest first) wins,
 * everything else is `other`. Mappings are cached because the same few paths recur (log files,
 * session files) and prefix matching is the expensive part; the cache is bounded so 10 000 distinct
 * paths cost at most `maxCached` entries.
 */
export interface PathGrouper {
  groupOf(path: unknown): string;
  /** Every name `groupOf` can return, `other` included (bounded by configuration). */
  readonly names: readonly string[];
}

export interface PathGrouperOptions {
  /** Upper bound on cached path → group mappings; the cache is cleared when it fills. */
  readonly maxCached?: number;
  /** Base for relative paths; the working directory at lookup time when unset. */
  readonly cwd?: () => string;
}

interface Prefix {
  readonly name: string;
  /** Normalised absolute prefix without a trailing separator. */
  readonly dir: string;
  /** `dir` + separator, so `/data/logs` does not match `/data/logsX`. */
  readonly dirSlash: string;
}

export function createPathGrouper(
  groups: readonly PathGroup[],
  opts: PathGrouperOptions = {},
): PathGrouper {
  const maxCached = opts.maxCached ?? 4096;
  const cwd = opts.cwd ?? (() => process.cwd());
  const prefixes: Prefix[] = groups
    .filter((g) => g.name !== '' && g.prefix !== '')
    .map((g) => {
      let dir = resolve(g.prefix);
      if (dir.length > 1 && dir.endsWith(sep)) dir = dir.slice(0, -1);
      return { name: g.name, dir, dirSlash: dir === sep ? sep : dir + sep };
    })
    // Longest prefix first: `.cache/embeddings` beats `.cache`.
    .sort((a, b) => b.dir.length - a.dir.length);
  const names = [...new Set([...prefixes.map((p) => p.name), OTHER_GROUP])];
  const cache = new Map<string, string>();
  // The same path object in a row (a logger's file, a stat loop) skips even the Map lookup.
  let lastPath: unknown;
  let lastGroup = OTHER_GROUP;

  function match(abs: string): string {
    for (const p of prefixes) {
      if (abs === p.dir || abs.startsWith(p.dirSlash)) return p.name;
    }
    return OTHER_GROUP;
  }

  function toPathString(path: unknown): string | undefined {
    if (typeof path === 'string') return path;
    if (path instanceof URL) return path.protocol === 'file:' ? fileURLToPath(path) : undefined;
    if (Buffer.isBuffer(path)) return path.toString('utf8');
    return undefined;
  }

  return {
    names,
    groupOf(path: unknown): string {
      if (prefixes.length === 0) return OTHER_GROUP;
      if (path === lastPath && typeof path === 'string') return lastGroup;
      const s = toPathString(path);
      if (s === undefined) return OTHER_GROUP;
      const hit = cache.get(s);
      if (hit !== undefined) {
        lastPath = path;
        lastGroup = hit;
        return hit;
      }
      let group: string;
      try {
        group = match(isAbsolute(s) ? resolve(s) : resolve(cwd(), s));
      } catch {
        group = OTHER_GROUP;
      }
      // Relative paths depend on the cwd, which rarely changes; clearing on overflow keeps the
      // bound without LRU bookkeeping on the hot path.
      if (cache.size >= maxCached) cache.clear();
      cache.set(s, group);
      lastPath = path;
      lastGroup = group;
      return group;
    },
  };
}
