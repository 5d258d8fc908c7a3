import { diag, metrics } from '@opentelemetry/api';
import type { BatchObservableCallback, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { instrumentOptions, METRIC } from '../catalog.js';
import type { Feature, SetupContext } from '../feature.js';
import { onCacheRegistered, registeredCaches } from './cache-registry.js';

/**
 * The cache instruments: observable counters and gauges that read the registry
 * (cache-registry.ts) at collect time, on the SDK's meter provider (`setupCacheMetrics`) or,
 * without our preload, on the global one as soon as an app has registered it.
 */

// ---------------------------------------------------------------------------------------------
// Observable instruments

const EVICTION_REASONS = ['capacity', 'ttl', 'manual'] as const;

interface Registration {
  readonly meter: Meter;
  readonly observables: Observable[];
  readonly callback: BatchObservableCallback;
}

/** Where a cache whose size could not be read is counted (`echoes.monitor.errors`). */
export const CACHE_COMPONENT = 'cache-metrics';

function registerObservers(meter: Meter): Registration {
  // `duplicates` pairs these declarations with each other and with log-metrics.ts's: one
  // instrument per catalog row, each spelled out so a reader sees which name is which kind.
  const requests = meter.createObservableCounter(
    METRIC.cacheRequests,
    instrumentOptions(METRIC.cacheRequests),
  );
  const evictions = meter.createObservableCounter(
    METRIC.cacheEvictions,
    instrumentOptions(METRIC.cacheEvictions),
  );
  const entries = meter.createObservableGauge(
    METRIC.cacheEntries,
    instrumentOptions(METRIC.cacheEntries),
  );
  const capacity = meter.createObservableGauge(
    METRIC.cacheCapacity,
    instrumentOptions(METRIC.cacheCapacity),
  );
  const errors = meter.createCounter(METRIC.monitorErrors, instrumentOptions(METRIC.monitorErrors));
  const onMemberError = (name: string, err: unknown): void => {
    const code = (err as { code?: unknown } | null)?.code;
    const type = typeof code === 'string' ? code : String((err as Error | null)?.name ?? 'Error');
    try {
      errors.add(1, { 'echoes.component': CACHE_COMPONENT, 'error.type': type });
    } catch {
      // never reaches the app
    }
    warnOnce(
      `member:${name}`,
      `the size of cache "${name}" could not be read (${String(err)}); its entries and capacity are not reported while that lasts, counted in ${METRIC.monitorErrors}`,
    );
  };
  const seen = new Set<string>();
  const callback: BatchObservableCallback = (result) => {
    try {
      observeAll(result, requests, evictions, entries, capacity, onMemberError, seen);
    } catch (err) {
      warnOnce(
        'observe',
        `cache metrics collection failed (${String(err)}); this collection is skipped`,
      );
    }
  };
  const observables = [requests, evictions, entries, capacity];
  meter.addBatchObservableCallback(callback, observables);
  return { meter, observables, callback };
}

function observeAll(
  result: { observe(o: Observable, v: number, a?: Record<string, string>): void },
  requests: Observable,
  evictions: Observable,
  entries: Observable,
  capacity: Observable,
  onMemberError: (name: string, err: unknown) => void,
  seen: Set<string>,
): void {
  for (const s of registeredCaches()) {
    const attrs = { 'cache.name': s.name };
    result.observe(requests, s.hits, { 'cache.name': s.name, 'cache.result': 'hit' });
    result.observe(requests, s.misses, { 'cache.name': s.name, 'cache.result': 'miss' });
    const counts = [s.evictCapacity, s.evictTtl, s.evictManual];
    for (let i = 0; i < EVICTION_REASONS.length; i++) {
      result.observe(evictions, counts[i]!, {
        'cache.name': s.name,
        'cache.eviction.reason': EVICTION_REASONS[i]!,
      });
    }
    let live = 0;
    let n = 0;
    let cap = 0;
    let bounded = true;
    let failed = false;
    for (const ref of s.members) {
      const m = ref.deref();
      if (m === undefined) {
        s.members.delete(ref);
        continue;
      }
      live++;
      try {
        const count = m.entryCount();
        if (typeof count !== 'number' || !(count >= 0))
          throw new TypeError(`size is ${String(count)}`);
        n += count;
        const c = m.capacity();
        if (c === undefined) bounded = false;
        else cap += c;
      } catch (err) {
        failed = true;
        onMemberError(s.name, err);
      }
    }
    if (live === 0) continue;
    if (failed) {
      // A sum missing a member would be a false figure. The SDK keeps re-exporting a gauge's last
      // value once seen, so after a first report "unknown" has to be NaN, not silence.
      if (seen.has(s.name)) {
        result.observe(entries, Number.NaN, attrs);
        if (bounded) result.observe(capacity, Number.NaN, attrs);
      }
      continue;
    }
    seen.add(s.name);
    result.observe(entries, n, attrs);
    // A name with any unbounded member has no capacity series: that is the signal for the alert.
    if (bounded) result.observe(capacity, cap, attrs);
  }
}

const registrations = new Map<MeterProvider, Registration>();
let pollTimer: NodeJS.Timeout | undefined;

/**
 * Without our preload (createCache used in a plain app with its own SDK), the metrics go to the
 * global meter provider. A meter taken before the SDK registers is a no-op forever, so the global
 * provider is re-checked on each new cache and, until a real one appears, on an unref'd timer.
 */
function ensureGlobalObservers(): void {
  if (registrations.size > 0) return;
  try {
    const provider = metrics.getMeterProvider();
    if (isNoop(provider)) {
      if (pollTimer === undefined) {
        pollTimer = setInterval(() => {
          if (registrations.size > 0 || !isNoop(metrics.getMeterProvider())) {
            clearInterval(pollTimer);
            pollTimer = undefined;
            ensureGlobalObservers();
          }
        }, 1000);
        pollTimer.unref();
      }
      return;
    }
    registrations.set(provider, registerObservers(provider.getMeter('echoes-otel/cache')));
  } catch (err) {
    warnOnce('global', `cache metrics could not use the global meter provider (${String(err)})`);
  }
}

function isNoop(provider: MeterProvider): boolean {
  return provider.constructor?.name === 'NoopMeterProvider';
}

/**
 * Registers the cache instruments on the SDK's meter (all caches, present and future). Idempotent
 * per meter provider; also replaces an earlier registration on the global provider when it is the
 * same provider, so nothing is counted twice.
 */
export function setupCacheMetrics(ctx: SetupContext): Feature {
  if (pollTimer !== undefined) {
    clearInterval(pollTimer);
    pollTimer = undefined;
  }
  let reg = registrations.get(ctx.meterProvider);
  if (reg === undefined) {
    reg = registerObservers(ctx.meter);
    registrations.set(ctx.meterProvider, reg);
  }
  const mine = reg;
  return {
    name: 'cache',
    shutdown() {
      try {
        mine.meter.removeBatchObservableCallback(mine.callback, mine.observables);
      } catch {
        // shutdown never throws
      }
      registrations.delete(ctx.meterProvider);
    },
  };
}

onCacheRegistered(ensureGlobalObservers);

const warned = new Set<string>();
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  diag.warn(`echoes-otel: ${message}`);
}
