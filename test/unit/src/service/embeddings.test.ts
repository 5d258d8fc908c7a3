import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddingsCache, fakeEmbedding } from '../../../../src/service/embeddings.js';

describe('createEmbeddingsCache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'echoes-emb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('computes deterministic vectors of the asked size', () => {
    expect(fakeEmbedding('a', 100)).toHaveLength(100);
    expect(fakeEmbedding('a', 8)).toEqual(fakeEmbedding('a', 8));
    expect(fakeEmbedding('a', 8)).not.toEqual(fakeEmbedding('b', 8));
  });

  it('misses first, then hits from disk', async () => {
    const c = createEmbeddingsCache({ dir });
    expect((await c.embed('hello')).hit).toBe(false);
    const again = await c.embed('hello');
    expect(again.hit).toBe(true);
    expect(again.vector).toEqual(fakeEmbedding('hello', 64));
    expect(c.stats()).toMatchObject({ hits: 1, misses: 1, files: 1 });
  });

  it('keeps the directory under its byte limit by evicting the oldest files', async () => {
    const c = createEmbeddingsCache({ dir, maxBytes: 3000 });
    for (let i = 0; i < 30; i++) await c.embed(`text ${i}`);
    const names = readdirSync(dir);
    const size = names.reduce((s, n) => s + statSync(join(dir, n)).size, 0);
    expect(size).toBeLessThanOrEqual(3000);
    expect(c.stats().evictions).toBeGreaterThan(0);
    expect(c.stats().bytes).toBe(size);
    // The newest entry survives, the oldest was evicted.
    expect((await c.embed('text 29')).hit).toBe(true);
    expect((await c.embed('text 0')).hit).toBe(false);
  });

  it('indexes files left by a previous run and enforces the limit on them', async () => {
    const a = createEmbeddingsCache({ dir });
    for (let i = 0; i < 10; i++) await a.embed(`t${i}`);
    const b = createEmbeddingsCache({ dir, maxBytes: 2000 });
    expect((await b.embed('t9')).hit).toBe(true);
    expect(b.stats().bytes).toBeLessThanOrEqual(2000);
  });
});
