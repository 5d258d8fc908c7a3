import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/**
 * The on-disk embeddings cache (`.cache/embeddings`). The audit found it unbounded; here it has a
 * byte limit and evicts the oldest files once past it. Embeddings are fake but deterministic (a
 * hash expanded to a vector), so there is no external call.
 */

export interface EmbeddingsCacheOptions {
  readonly dir: string;
  /** Total bytes kept on disk; oldest files are removed past it. Default 5 MiB. */
  readonly maxBytes?: number;
  readonly dimensions?: number;
}

export interface EmbeddingsCache {
  /** The embedding of `text`, and whether it came from disk. */
  embed(text: string): Promise<{ vector: number[]; hit: boolean }>;
  stats(): { hits: number; misses: number; evictions: number; bytes: number; files: number };
}

interface Entry {
  bytes: number;
  mtimeMs: number;
}

export function fakeEmbedding(text: string, dimensions: number): number[] {
  const out: number[] = [];
  let block = createHash('sha256').update(text).digest();
  for (let i = 0; out.length < dimensions; i++) {
    if (i * 4 + 4 > block.length) {
      block = createHash('sha256').update(block).digest();
      i = 0;
    }
    out.push(Math.round((block.readUInt32BE(i * 4) / 0xffffffff - 0.5) * 1e6) / 1e6);
  }
  return out;
}

export function createEmbeddingsCache(options: EmbeddingsCacheOptions): EmbeddingsCache {
  const dir = options.dir;
  const maxBytes = Math.max(1, options.maxBytes ?? 5 * 1024 * 1024);
  const dimensions = options.dimensions ?? 64;
  // In-memory index of what is on disk, insertion-ordered by age, so eviction never lists the dir.
  const index = new Map<string, Entry>();
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  let evictions = 0;
  let ready: Promise<void> | undefined;

  async function scan(): Promise<void> {
    await fsp.mkdir(dir, { recursive: true });
    const names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.json'));
    const found: Array<[string, Entry]> = [];
    for (const name of names) {
      try {
        const st = await fsp.stat(join(dir, name));
        found.push([name, { bytes: st.size, mtimeMs: st.mtimeMs }]);
      } catch {
        // Vanished between readdir and stat: nothing to index.
      }
    }
    found.sort((a, b) => a[1].mtimeMs - b[1].mtimeMs);
    for (const [name, e] of found) {
      index.set(name, e);
      bytes += e.bytes;
    }
    await evict();
  }

  async function evict(): Promise<void> {
    for (const [name, e] of index) {
      if (bytes <= maxBytes) break;
      index.delete(name);
      bytes -= e.bytes;
      evictions++;
      await fsp.unlink(join(dir, name)).catch(() => undefined);
    }
  }

  return {
    async embed(text) {
      ready ??= scan().catch((err) => {
        ready = undefined;
        throw err;
      });
      await ready;
      const name = `${createHash('sha256').update(text).digest('hex').slice(0, 32)}.json`;
      if (index.has(name)) {
        try {
          const vector = JSON.parse(await fsp.readFile(join(dir, name), 'utf8')) as number[];
          hits++;
          return { vector, hit: true };
        } catch {
          // Removed or damaged behind our back: recompute below.
          const e = index.get(name);
          if (e) bytes -= e.bytes;
          index.delete(name);
        }
      }
      misses++;
      const vector = fakeEmbedding(text, dimensions);
      const data = JSON.stringify(vector);
      await fsp.writeFile(join(dir, name), data, 'utf8');
      const size = Buffer.byteLength(data);
      index.set(name, { bytes: size, mtimeMs: Date.now() });
      bytes += size;
      await evict();
      return { vector, hit: false };
    },
    stats: () => ({ hits, misses, evictions, bytes, files: index.size }),
  };
}
