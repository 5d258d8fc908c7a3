import { diag, type Attributes } from '@opentelemetry/api';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { instrumentOptions, METRIC } from '../catalog.js';
import type { Feature, SetupContext } from '../feature.js';
import { narrowRequireHook } from './require-hook.js';

/**
 * Runtime metrics: instrumentation-runtime-node (event-loop delay, time and utilization, V8 heap
 * by space, GC pauses, active resources) on the SDK's meter provider, plus the process resident
 * set size, which runtime-node does not report and which is what "memory bounded" is judged by,
 * and the process CPU time (semconv process.cpu.time), which runtime-node does not report either.
 */
export function setupRuntimeMetrics(ctx: SetupContext): Feature {
  let runtime: RuntimeNodeInstrumentation | undefined;
  try {
    // An InstrumentationBase: upstream's require hook narrowed before it creates it.
    narrowRequireHook();
    // enabled: false so the collectors only start once they have our meter, not the global no-op.
    runtime = new RuntimeNodeInstrumentation({ enabled: false, monitoringPrecision: 10 });
    runtime.setMeterProvider(ctx.meterProvider);
    runtime.enable();
  } catch (err) {
    runtime = undefined;
    diag.warn(
      `echoes-otel: runtime metrics (instrumentation-runtime-node) could not start (${String(err)}); event-loop, heap and GC metrics are off`,
    );
  }

  const rss = ctx.meter.createObservableGauge(
    METRIC.processMemory,
    instrumentOptions(METRIC.processMemory),
  );
  const observeRss = (result: { observe(v: number): void }): void => {
    try {
      // memoryUsage.rss() reads one number; memoryUsage() walks every heap space.
      result.observe(process.memoryUsage.rss());
    } catch {
      // an observation we cannot make is simply absent
    }
  };
  rss.addCallback(observeRss);

  // process.cpu.time (semconv): read at collection only, so it costs nothing between exports.
  const cpu = ctx.meter.createObservableCounter(
    METRIC.processCpu,
    instrumentOptions(METRIC.processCpu),
  );
  const USER: Attributes = Object.freeze({ 'cpu.mode': 'user' });
  const SYSTEM: Attributes = Object.freeze({ 'cpu.mode': 'system' });
  const observeCpu = (result: { observe(v: number, a: Attributes): void }): void => {
    try {
      const u = process.cpuUsage();
      result.observe(u.user / 1e6, USER);
      result.observe(u.system / 1e6, SYSTEM);
    } catch {
      // an observation we cannot make is simply absent
    }
  };
  cpu.addCallback(observeCpu);

  return {
    name: 'runtime',
    shutdown() {
      try {
        rss.removeCallback(observeRss);
        cpu.removeCallback(observeCpu);
        runtime?.disable();
      } catch {
        // shutdown never throws
      }
    },
  };
}
