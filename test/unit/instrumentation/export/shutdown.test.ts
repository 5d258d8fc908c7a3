import { describe, expect, it } from 'vitest';
import { once, raceDeadline, runPhases } from '../../../../instrumentation/export/shutdown.js';

describe('raceDeadline', () => {
  it('reports done, failed and thrown steps without rejecting', async () => {
    const deadline = Date.now() + 1000;
    expect(await raceDeadline('ok', () => Promise.resolve(1), deadline)).toEqual({
      name: 'ok',
      outcome: 'done',
    });
    expect(await raceDeadline('sync', () => 1, deadline)).toEqual({
      name: 'sync',
      outcome: 'done',
    });
    expect(await raceDeadline('rej', () => Promise.reject(new Error('boom')), deadline)).toEqual({
      name: 'rej',
      outcome: 'failed',
      error: 'boom',
    });
    expect(
      await raceDeadline(
        'throw',
        () => {
          throw new Error('sync boom');
        },
        deadline,
      ),
    ).toEqual({ name: 'throw', outcome: 'failed', error: 'sync boom' });
  });

  it('gives up on a step that never settles at the deadline', async () => {
    const t0 = Date.now();
    const r = await raceDeadline('hang', () => new Promise(() => {}), Date.now() + 50);
    expect(r.outcome).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('runPhases', () => {
  it('runs phases in order and steps of a phase together, within one deadline', async () => {
    const order: string[] = [];
    const step = (name: string, ms: number) => ({
      name,
      run: () =>
        new Promise<void>((r) =>
          setTimeout(() => {
            order.push(name);
            r();
          }, ms),
        ),
    });
    const results = await runPhases(
      [
        { name: 'a', steps: [step('a1', 20), step('a2', 5)] },
        { name: 'b', steps: [step('b1', 1)] },
      ],
      1000,
    );
    expect(order).toEqual(['a2', 'a1', 'b1']);
    expect(results.map((r) => `${r.name}=${r.outcome}`)).toEqual([
      'a:a1=done',
      'a:a2=done',
      'b:b1=done',
    ]);
  });

  it('shares the deadline: a hanging first phase leaves the second only what is left', async () => {
    const t0 = Date.now();
    const results = await runPhases(
      [
        { name: 'a', steps: [{ name: 'hang', run: () => new Promise(() => {}) }] },
        { name: 'b', steps: [{ name: 'hang', run: () => new Promise(() => {}) }] },
      ],
      100,
    );
    expect(results.map((r) => r.outcome)).toEqual(['timeout', 'timeout']);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('once', () => {
  it('runs the function once and hands every caller the same promise', async () => {
    let calls = 0;
    const f = once(async () => ++calls);
    const [a, b] = await Promise.all([f(), f()]);
    expect([a, b, await f(), calls]).toEqual([1, 1, 1, 1]);
  });
});
