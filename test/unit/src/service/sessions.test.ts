import { promises as fsp, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSessionStore, isValidSessionId } from '../../../../src/service/sessions.js';

const at = '2026-01-01T00:00:00.000Z';
const msg = (content: string) => ({ role: 'user' as const, content, at });

describe('createSessionStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'echoes-sessions-'));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every update in immediate mode, one rename per update', async () => {
    const renames = vi.spyOn(fsp, 'rename');
    const store = createSessionStore({ dir, mode: 'immediate' });
    for (let i = 0; i < 10; i++) await store.append('a', msg(`m${i}`));
    expect(renames).toHaveBeenCalledTimes(10);
    expect(store.stats().writes).toBe(10);
    await store.close();
  });

  it('batches 100 updates into far fewer writes in batched mode', async () => {
    const renames = vi.spyOn(fsp, 'rename');
    const opens = vi.spyOn(fsp, 'open');
    const store = createSessionStore({
      dir,
      mode: 'batched',
      flushEvery: 20,
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 100; i++) await store.append(`s${i % 2}`, msg(`m${i}`));
    await store.close();
    // 100 updates over 2 sessions, flushed every 20 updates: 5 rounds x 2 files.
    expect(renames).toHaveBeenCalledTimes(10);
    expect(opens).toHaveBeenCalledTimes(10);
    const saved = JSON.parse(readFileSync(join(dir, 's0.json'), 'utf8'));
    expect(saved.updates).toBe(50);
    expect(saved.messages.at(-1).content).toBe('m98');
  });

  it('flushes after the interval when fewer than N updates are pending', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = createSessionStore({ dir, flushEvery: 100, flushIntervalMs: 500 });
    await store.append('x', msg('one'));
    expect(store.stats().writes).toBe(0);
    await vi.advanceTimersByTimeAsync(500);
    await store.flush();
    expect(store.stats().writes).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, 'x.json'), 'utf8')).updates).toBe(1);
    await store.close();
  });

  it('close() writes everything still pending', async () => {
    const store = createSessionStore({ dir, flushEvery: 1000, flushIntervalMs: 60_000 });
    for (let i = 0; i < 7; i++) await store.append('p', msg(`m${i}`));
    expect(store.stats().pending).toBe(7);
    await store.close();
    expect(JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')).updates).toBe(7);
    expect(store.stats().pending).toBe(0);
  });

  it('leaves no temp files behind and keeps files valid JSON', async () => {
    const store = createSessionStore({ dir, flushEvery: 3 });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.append(`s${i % 5}`, msg(`m${i}`))),
    );
    await store.close();
    const names = readdirSync(dir);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(names.sort()).toEqual(['s0.json', 's1.json', 's2.json', 's3.json', 's4.json']);
    let total = 0;
    for (const n of names) total += JSON.parse(readFileSync(join(dir, n), 'utf8')).updates;
    expect(total).toBe(50);
  });

  it('removes temp files a killed process left behind, keeping the session files', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, 'old.json'),
      JSON.stringify({ id: 'old', createdAt: at, updatedAt: at, updates: 1, messages: [] }),
    );
    writeFileSync(join(dir, 'old.json.123.4.tmp'), '{"id":"old","upd');
    const store = createSessionStore({ dir, mode: 'immediate' });
    await store.append('new', msg('m'));
    expect(readdirSync(dir).sort()).toEqual(['new.json', 'old.json']);
    expect((await store.get('old'))?.updates).toBe(1);
    await store.close();
  });

  it('holds an update back while two batches are still unwritten (bounded crash window)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = fsp.rename.bind(fsp);
    vi.spyOn(fsp, 'rename').mockImplementation(async (a, b) => {
      await gate;
      return real(a, b);
    });
    const store = createSessionStore({ dir, flushEvery: 5, flushIntervalMs: 60_000 });
    let acked = 0;
    const all = Array.from({ length: 12 }, (_, i) =>
      store.append(`s${i % 3}`, msg(`m${i}`)).then(() => acked++),
    );
    // The disk is stuck: all 12 updates are applied in memory, but only those up to two batches
    // unwritten are acknowledged; the rest wait for the disk.
    await vi.waitFor(() => {
      expect(store.stats().updates).toBe(12);
      expect(acked).toBe(9);
    });
    release();
    await Promise.all(all);
    await store.close();
    expect(acked).toBe(12);
  });

  it('keeps a session dirty and retries when a write fails', async () => {
    const errors: unknown[] = [];
    const store = createSessionStore({ dir, mode: 'immediate', onError: (e) => errors.push(e) });
    const spy = vi
      .spyOn(fsp, 'rename')
      .mockRejectedValueOnce(Object.assign(new Error('EIO'), { code: 'EIO' }));
    await store.append('r', msg('first'));
    expect(errors).toHaveLength(1);
    spy.mockRestore();
    await store.close();
    expect(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).updates).toBe(1);
  });

  it('reloads a session from disk after a restart', async () => {
    const a = createSessionStore({ dir, mode: 'immediate' });
    await a.append('k', msg('before'));
    await a.close();
    const b = createSessionStore({ dir, mode: 'immediate' });
    const s = await b.append('k', msg('after'));
    expect(s.updates).toBe(2);
    expect(s.messages.map((m) => m.content)).toEqual(['before', 'after']);
    await b.close();
  });

  it('bounds the messages kept per session', async () => {
    const store = createSessionStore({ dir, maxMessages: 3 });
    for (let i = 0; i < 10; i++) await store.append('b', msg(`m${i}`));
    const s = await store.get('b');
    expect(s?.messages.map((m) => m.content)).toEqual(['m7', 'm8', 'm9']);
    await store.close();
  });

  it('rejects ids that could escape the directory', async () => {
    expect(isValidSessionId('../etc/passwd')).toBe(false);
    expect(isValidSessionId('abc_DEF-1')).toBe(true);
    const store = createSessionStore({ dir });
    await expect(store.append('../x', msg('m'))).rejects.toThrow(/invalid session id/);
    await store.close();
  });
});
