import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CATALOG } from '../../../../instrumentation/catalog.js';
import type { Feature, SetupContext } from '../../../../instrumentation/feature.js';
import { setupRuntimeMetrics } from '../../../../instrumentation/signals/runtime.js';
import {
  createTestMetrics,
  pointsOf,
  type TestMetrics,
} from '../../../fixtures/metrics/collect.js';

describe('setupRuntimeMetrics', () => {
  let t: TestMetrics;
  let feature: Feature;
  beforeEach(() => {
    t = createTestMetrics();
    feature = setupRuntimeMetrics({
      meterProvider: t.provider,
      meter: t.provider.getMeter('echoes-otel'),
    } as unknown as SetupContext);
  });
  afterEach(async () => {
    await feature.shutdown();
    await t.shutdown();
  });

  it('reports process RSS as process.memory.usage in bytes', async () => {
    const m = await t.collect();
    const [p] = pointsOf(m, 'process.memory.usage');
    const rss = p!.value as number;
    // Between collect and this read RSS moves a little; same order of magnitude is the contract.
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(Math.abs(rss - process.memoryUsage.rss()) / rss).toBeLessThan(0.5);
    expect(m.find((x) => x.descriptor.name === 'process.memory.usage')!.descriptor.unit).toBe('By');
  });

  it('reports process CPU time by mode as process.cpu.time in seconds, growing with work', async () => {
    const cpuOf = async (mode: string) => {
      const m = await t.collect();
      const metric = m.find((x) => x.descriptor.name === 'process.cpu.time');
      expect(metric?.descriptor.unit).toBe('s');
      const p = pointsOf(m, 'process.cpu.time').find((x) => x.attributes['cpu.mode'] === mode);
      return p!.value as number;
    };
    const before = await cpuOf('user');
    const own = process.cpuUsage().user / 1e6;
    expect(Math.abs(before - own)).toBeLessThan(1);
    let sink = 0;
    const until = process.cpuUsage().user + 50_000;
    while (process.cpuUsage().user < until) sink += Math.sqrt(sink + 1);
    expect(sink).toBeGreaterThan(0);
    expect(await cpuOf('user')).toBeGreaterThan(before + 0.04);
    expect(await cpuOf('system')).toBeGreaterThanOrEqual(0);
  });

  it('emits every runtime-node metric the catalog lists, with the catalog unit and attributes', async () => {
    // Event-loop delay gauges appear once the delay histogram has 5 samples (10 ms resolution):
    // poll with a deadline rather than sleeping a guessed time.
    // GC pauses appear after a collection: churn short-lived objects until a scavenge is observed.
    const has = (ms: typeof m, name: string) => ms.some((x) => x.descriptor.name === name);
    const deadline = Date.now() + 5000;
    let m = await t.collect();
    let sink = 0;
    while (
      !(has(m, 'nodejs.eventloop.delay.p99') && has(m, 'v8js.gc.duration')) &&
      Date.now() < deadline
    ) {
      for (let i = 0; i < 100_000; i++) sink += [i, i + 1].length;
      await new Promise((r) => setTimeout(r, 10));
      const next = await t.collect();
      // the delay gauges reset after each report: keep the first collection that had them
      m =
        has(m, 'nodejs.eventloop.delay.p99') && !has(next, 'nodejs.eventloop.delay.p99')
          ? [...next, ...m.filter((x) => x.descriptor.name.startsWith('nodejs.eventloop.delay'))]
          : next;
    }
    expect(sink).toBeGreaterThan(0);
    const byName = new Map(m.map((x) => [x.descriptor.name, x]));
    for (const e of CATALOG.filter((c) => c.source === 'runtime-node')) {
      const got = byName.get(e.name);
      expect(got, e.name).toBeDefined();
      expect(got!.descriptor.unit, e.name).toBe(e.unit);
      for (const p of got!.dataPoints) {
        expect(Object.keys(p.attributes).sort(), e.name).toEqual([...e.attributes].sort());
      }
    }
  });

  it('stops the collectors on shutdown', async () => {
    await feature.shutdown();
    const m = await t.collect();
    expect(pointsOf(m, 'process.memory.usage')).toHaveLength(0);
  });
});
