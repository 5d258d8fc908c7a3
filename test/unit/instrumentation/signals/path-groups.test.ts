import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createPathGrouper } from '../../../../instrumentation/signals/path-groups.js';

describe('createPathGrouper', () => {
  const root = '/srv/app';
  const g = createPathGrouper(
    [
      { name: 'logs', prefix: `${root}/logs` },
      { name: 'cache', prefix: `${root}/.cache` },
      { name: 'embeddings', prefix: `${root}/.cache/embeddings/` },
      { name: 'sessions', prefix: `${root}/data/memory` },
    ],
    { cwd: () => root },
  );

  it('maps a path under a configured prefix to its group name', () => {
    expect(g.groupOf(`${root}/logs/app-2026-01-01.log`)).toBe('logs');
    expect(g.groupOf(`${root}/data/memory/s1.json`)).toBe('sessions');
  });

  it('prefers the longest matching prefix', () => {
    expect(g.groupOf(`${root}/.cache/embeddings/a.bin`)).toBe('embeddings');
    expect(g.groupOf(`${root}/.cache/other.bin`)).toBe('cache');
  });

  it('matches whole path segments only', () => {
    expect(g.groupOf(`${root}/logsX/a.log`)).toBe('other');
    expect(g.groupOf(`${root}/logs`)).toBe('logs');
  });

  it('resolves relative paths, Buffers and file URLs', () => {
    expect(g.groupOf('logs/a.log')).toBe('logs');
    expect(g.groupOf('./data/memory/../memory/x')).toBe('sessions');
    expect(g.groupOf(Buffer.from(`${root}/logs/b.log`))).toBe('logs');
    expect(g.groupOf(pathToFileURL(join(root, 'logs', 'c.log')))).toBe('logs');
  });

  it('maps anything else (fds, unknown types, unmatched paths) to other', () => {
    expect(g.groupOf(3)).toBe('other');
    expect(g.groupOf(undefined)).toBe('other');
    expect(g.groupOf('/etc/passwd')).toBe('other');
    expect(g.groupOf(new URL('http://x/y'))).toBe('other');
  });

  it('lists every name it can return', () => {
    expect([...g.names].sort()).toEqual(['cache', 'embeddings', 'logs', 'other', 'sessions']);
  });

  it('keeps 10 000 distinct paths within the group names and a bounded cache', () => {
    const small = createPathGrouper([{ name: 'logs', prefix: '/l' }], { maxCached: 100 });
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(small.groupOf(i % 2 ? `/l/${i}` : `/x/${i}`));
    expect([...seen].sort()).toEqual(['logs', 'other']);
  });

  it('returns other for everything when no group is configured', () => {
    expect(createPathGrouper([]).groupOf('/srv/app/logs/a')).toBe('other');
  });
});
