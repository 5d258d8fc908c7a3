import { diag, ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import type { ExemplarData } from '../export/exemplar-serializer.js';
import { hrTime, millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type {
  BoundCounter,
  BoundHistogram,
  ExemplarSpan,
  FastCounter,
  FastHistogram,
  FastMetrics,
} from '../feature.js';

/**
 * Hot-path counters and histograms. The stock SDK hashes the attribute object on every record
 * (sort keys + JSON.stringify, then a map lookup); here the caller binds an attribute set once and
 * keeps the slot, so a record is a few number writes. Data stays cumulative in the slots and is
 * read out by `producer.collect()`, which every metric reader calls next to the SDK's own meters
 * (`metricProducers`); the reader keeps the SDK's resource, so the points carry it.
 *
 * The points mirror what the SDK emits for the same instrument with CUMULATIVE temporality:
 * descriptor (name, unit, description, DOUBLE), explicit-bucket histograms with count, sum,
 * min and max, start time = first bind of the set, and the SDK's cardinality fence (limit - 1
 * distinct sets, then everything lands in `{ 'otel.metric.overflow': true }`).
 *
 * Exemplars: `record(value, span)` with the span the measurement belongs to keeps, per bucket and
 * per collection, the first value recorded inside a *sampled* span with that span's trace and span
 * id (the spec's aligned-histogram-bucket reservoir, first-wins instead of random: no RNG per
 * record). A record without a span, or once the bucket holds its exemplar, costs one comparison.
 * `collect()` hands them out on the data points (`exemplars`) and starts the next interval empty;
 * exemplar-serializer.ts writes them into the OTLP request (upstream's serializers drop them).
 *
 * Limitations (documented in docs/performance.md): a reader configured for DELTA temporality still
 * gets cumulative points from this producer; with two readers (OTLP and the embedded /metrics),
 * an interval's exemplars go to whichever collects first (the Prometheus text format shows none).
 */

export interface FastMetricsOptions {
  /** Max attribute sets per instrument, overflow set included (the SDK's default is 2000). */
  readonly cardinalityLimit: number;
  /** Instrumentation scope of every instrument (default `echoes-otel`). */
  readonly scope?: { readonly name: string; readonly version?: string };
}

const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });

/** The SDK's attribute hash: stable on key order. Only called at bind time, never per record. */
function attributesKey(attributes: Attributes): string {
  const keys = Object.keys(attributes);
  if (keys.length === 0) return '';
  keys.sort();
  return JSON.stringify(keys.map((k) => [k, attributes[k]]));
}

function copyAttributes(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const k of Object.keys(attributes)) {
    const v = attributes[k];
    if (v !== undefined && v !== null) out[k] = v;
  }
  return Object.freeze(out);
}

class CounterSlot implements BoundCounter {
  value = 0;
  used = false;
  constructor(
    readonly attributes: Attributes,
    readonly startTime: HrTime,
  ) {}
  add(value: number): void {
    // The SDK drops negative and NaN increments on monotonic counters; so do we.
    if (!(value >= 0)) return;
    this.value += value;
    this.used = true;
  }
}

/** W3C trace flags: the sampled bit. */
const SAMPLED = 1;

class HistogramSlot implements BoundHistogram {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly counts: Float64Array;
  /** One per bucket for the current collection interval; allocated on the first sampled record. */
  exemplars: Array<ExemplarData | undefined> | undefined = undefined;
  constructor(
    readonly attributes: Attributes,
    readonly startTime: HrTime,
    private readonly boundaries: Float64Array,
  ) {
    this.counts = new Float64Array(boundaries.length + 1);
  }
  record(value: number, span?: ExemplarSpan): void {
    // NaN is never counted (as in the SDK); values equal to a boundary go to that bucket (le).
    if (value !== value) return;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const b = this.boundaries;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo]!++;
    if (span !== undefined && this.exemplars?.[lo] === undefined) this.offer(lo, value, span);
  }
  private offer(bucket: number, value: number, span: ExemplarSpan): void {
    const sc = span.spanContext();
    if ((sc.traceFlags & SAMPLED) === 0) return;
    this.exemplars ??= new Array<ExemplarData | undefined>(this.counts.length);
    this.exemplars[bucket] = { value, timeMs: Date.now(), traceId: sc.traceId, spanId: sc.spanId };
  }
  /** This interval's exemplars, oldest first; the next interval starts empty. */
  takeExemplars(): ExemplarData[] | undefined {
    const ex = this.exemplars;
    if (ex === undefined) return undefined;
    this.exemplars = undefined;
    const out: ExemplarData[] = [];
    for (const e of ex) if (e !== undefined) out.push(e);
    return out.sort((a, b) => a.timeMs - b.timeMs);
  }
}

interface Descriptor {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  readonly valueType: ValueType;
  readonly type: InstrumentType;
  readonly advice: Record<string, unknown>;
}

abstract class Instrument<S extends { attributes: Attributes }> {
  protected readonly slots = new Map<string, S>();
  private overflow: S | undefined;
  constructor(
    readonly descriptor: Descriptor,
    private readonly limit: number,
  ) {}
  protected abstract create(attributes: Attributes, start: HrTime): S;
  bind(attributes: Attributes): S {
    const key = attributesKey(attributes ?? {});
    const found = this.slots.get(key);
    if (found !== undefined) return found;
    if (this.slots.size >= this.limit - 1) {
      this.overflow ??= this.create(OVERFLOW_ATTRIBUTES, millisToHrTime(Date.now()));
      return this.overflow;
    }
    const slot = this.create(copyAttributes(attributes ?? {}), millisToHrTime(Date.now()));
    this.slots.set(key, slot);
    return slot;
  }
  protected all(): S[] {
    const list = [...this.slots.values()];
    if (this.overflow !== undefined) list.push(this.overflow);
    return list;
  }
  abstract collect(endTime: HrTime): MetricData | undefined;
}

class Counter extends Instrument<CounterSlot> implements FastCounter {
  protected create(attributes: Attributes, start: HrTime): CounterSlot {
    return new CounterSlot(attributes, start);
  }
  collect(endTime: HrTime): MetricData | undefined {
    const dataPoints: DataPoint<number>[] = [];
    for (const s of this.all()) {
      if (!s.used) continue;
      dataPoints.push({
        attributes: s.attributes,
        startTime: s.startTime,
        endTime,
        value: s.value,
      });
    }
    if (dataPoints.length === 0) return undefined;
    return {
      descriptor: this.descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    };
  }
}

class HistogramInstrument extends Instrument<HistogramSlot> implements FastHistogram {
  private readonly bounds: Float64Array;
  private readonly boundaryList: number[];
  constructor(descriptor: Descriptor, limit: number, boundaries: readonly number[]) {
    super(descriptor, limit);
    this.boundaryList = [...boundaries];
    this.bounds = Float64Array.from(boundaries);
  }
  protected create(attributes: Attributes, start: HrTime): HistogramSlot {
    return new HistogramSlot(attributes, start, this.bounds);
  }
  collect(endTime: HrTime): MetricData | undefined {
    const dataPoints: DataPoint<Histogram>[] = [];
    for (const s of this.all()) {
      if (s.count === 0) continue;
      const point: DataPoint<Histogram> & { exemplars?: ExemplarData[] } = {
        attributes: s.attributes,
        startTime: s.startTime,
        endTime,
        value: {
          buckets: { boundaries: this.boundaryList.slice(), counts: Array.from(s.counts) },
          count: s.count,
          sum: s.sum,
          min: s.min,
          max: s.max,
        },
      };
      const exemplars = s.takeExemplars();
      if (exemplars !== undefined && exemplars.length > 0) point.exemplars = exemplars;
      dataPoints.push(point);
    }
    if (dataPoints.length === 0) return undefined;
    return {
      descriptor: this.descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

function validBoundaries(boundaries: readonly number[]): boolean {
  for (let i = 0; i < boundaries.length; i++) {
    const b = boundaries[i]!;
    if (Number.isNaN(b) || (i > 0 && !(b > boundaries[i - 1]!))) return false;
  }
  return true;
}

export function createFastMetrics(opts: FastMetricsOptions): FastMetrics {
  const limit =
    Number.isFinite(opts.cardinalityLimit) && opts.cardinalityLimit >= 2
      ? Math.floor(opts.cardinalityLimit)
      : 2000;
  const scope = opts.scope ?? { name: 'echoes-otel' };
  const instruments = new Map<string, Counter | HistogramInstrument>();

  function descriptor(
    name: string,
    type: InstrumentType,
    o: { unit: string; description: string },
    advice: Record<string, unknown>,
  ): Descriptor {
    return Object.freeze({
      name,
      unit: o.unit,
      description: o.description,
      valueType: ValueType.DOUBLE,
      type,
      advice,
    });
  }

  const producer: MetricProducer = {
    async collect(): Promise<CollectionResult> {
      const endTime = hrTime();
      const metrics: MetricData[] = [];
      const errors: unknown[] = [];
      for (const inst of instruments.values()) {
        try {
          const data = inst.collect(endTime);
          if (data !== undefined) metrics.push(data);
        } catch (err) {
          errors.push(err);
        }
      }
      return {
        resourceMetrics: {
          resource: emptyResource(),
          scopeMetrics: metrics.length === 0 ? [] : [{ scope, metrics }],
        },
        errors,
      };
    },
  };

  return {
    producer,
    counter(name, o) {
      const existing = instruments.get(name);
      if (existing instanceof Counter) return existing;
      const c = new Counter(descriptor(name, InstrumentType.COUNTER, o, {}), limit);
      // A name reused with another kind keeps the first instrument (the SDK warns and keeps both).
      if (existing === undefined) instruments.set(name, c);
      return c;
    },
    histogram(name, o) {
      const existing = instruments.get(name);
      if (existing instanceof HistogramInstrument) return existing;
      let boundaries = o.boundaries;
      if (!validBoundaries(boundaries)) {
        diag.warn(
          `echoes-otel: histogram ${name} has unsorted or NaN boundaries ${JSON.stringify(boundaries)}; using a single bucket`,
        );
        boundaries = [];
      }
      const h = new HistogramInstrument(
        descriptor(name, InstrumentType.HISTOGRAM, o, {
          explicitBucketBoundaries: [...boundaries],
        }),
        limit,
        boundaries,
      );
      if (existing === undefined) instruments.set(name, h);
      return h;
    },
  };
}
