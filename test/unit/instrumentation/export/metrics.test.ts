import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createMeterProvider } from '../../../../instrumentation/export/metrics.js';
import { createResource } from '../../../../instrumentation/export/resource.js';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../../helpers/otlp-receiver.js';

// The shutdown sequence of sdk.ts: readBeforeShutdown while the features run, then the features
// stop (an observable loses its callback, a counter still counts), then the provider's shutdown.
async function exitSequence(url: string): Promise<void> {
  const { config } = loadConfig(
    {},
    {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: url,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        ECHOES_PROMETHEUS: 'off',
      },
      cwd: process.cwd(),
    },
  );
  const fast = createFastMetrics({ cardinalityLimit: config.metrics.cardinalityLimit });
  const { meterProvider, readBeforeShutdown } = createMeterProvider(
    config,
    createResource(config),
    fast.producer,
  );
  const meter = meterProvider.getMeter('exit-test');
  const gauge = meter.createObservableGauge('exit.gauge');
  const observe = (r: { observe(v: number): void }): void => r.observe(42);
  gauge.addCallback(observe);
  const counter = meter.createCounter('exit.counter');
  counter.add(1);
  await readBeforeShutdown();
  gauge.removeCallback(observe);
  counter.add(2);
  await meterProvider.shutdown();
}

describe('createMeterProvider readBeforeShutdown', () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => {
    await rx.close();
  });
  afterEach(() => {
    rx.clear();
    vi.unstubAllEnvs();
  });

  it('with cumulative temporality, lets the shutdown export once, an observable read before its callback went included', async () => {
    await exitSequence(rx.url);
    const requests = rx.requests.filter((r) => r.signal === 'metrics');
    expect(requests).toHaveLength(1);
    const byName = new Map(rx.metrics().map((m) => [m.name, m]));
    expect(byName.get('exit.gauge')?.dataPoints.map((p) => p.value)).toEqual([42]);
    expect(byName.get('exit.counter')?.dataPoints.map((p) => p.value)).toEqual([3]);
  });

  it('with delta temporality, exports what it read, so that no point is lost', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', 'delta');
    await exitSequence(rx.url);
    expect(rx.requests.filter((r) => r.signal === 'metrics')).toHaveLength(2);
    const points = (name: string): unknown[] =>
      rx
        .metrics()
        .filter((m) => m.name === name)
        .flatMap((m) => m.dataPoints.map((p) => p.value));
    expect(points('exit.gauge')).toEqual([42]);
    expect(points('exit.counter')).toEqual([1, 2]);
  });
});
