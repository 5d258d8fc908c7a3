import {
  context as contextApi,
  diag,
  SamplingDecision,
  SpanKind,
  trace,
  TraceFlags,
  INVALID_SPAN_CONTEXT,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';
import { isTracingSuppressed, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type IdGenerator,
  type Sampler,
  type SamplingResult,
  type SpanLimits,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { setSpan, takeAdoptable, tracerOptions } from './sdk-internals.js';
import { LeanSpan, sanitize, type LeanSpanShared } from './span-lean.js';

/**
 * The SDK Tracer's startSpan (sdk-trace 2.x Tracer.js) building LeanSpan: the same order of
 * decisions (suppression, parent, ids, sampler with attributes and links, traceState from the
 * sampler, non-recording span for NOT_RECORD), without the per-span `links.map`, the double
 * attribute sanitising and the SDK's tracer self-metrics (we give the provider no meterProvider,
 * so those are no-ops there too).
 */

/** What the SDK's TracerProvider hands each Tracer (its private `_tracerOptions`). */
export interface LeanTracerOptions {
  resource: Resource;
  sampler: Sampler;
  spanLimits: SpanLimits;
  idGenerator: IdGenerator;
  spanProcessor: SpanProcessor;
}

const NO_LINKS: Link[] = [];

/**
 * The SDK's answers of AlwaysOn and AlwaysOff (a new object per span there), shared: the decision
 * of `always_on` and of the default `parentbased_always_on` needs no call (see `_fastSampling`).
 */
const SAMPLED: SamplingResult = Object.freeze({ decision: SamplingDecision.RECORD_AND_SAMPLED });
const DROPPED: SamplingResult = Object.freeze({ decision: SamplingDecision.NOT_RECORD });
/** ParentBasedSampler's toString with the SDK's default delegates (`parentbased_always_on`). */
const PARENT_BASED_ALWAYS_ON =
  'ParentBased{root=AlwaysOnSampler, remoteParentSampled=AlwaysOnSampler, ' +
  'remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, ' +
  'localParentNotSampled=AlwaysOffSampler}';

function limitsOf(l: SpanLimits): LeanSpanShared['limits'] {
  const n = (v: number | undefined, d: number) => (typeof v === 'number' && v >= 0 ? v : d);
  const len = l.attributeValueLengthLimit;
  return {
    attributeCountLimit: n(l.attributeCountLimit, 128),
    // The SDK leaves values whole when the length limit is not positive; so do we.
    attributeValueLengthLimit: typeof len === 'number' && len > 0 ? len : Infinity,
    eventCountLimit: n(l.eventCountLimit, 128),
    linkCountLimit: n(l.linkCountLimit, 128),
    attributePerEventCountLimit: n(l.attributePerEventCountLimit, 128),
    attributePerLinkCountLimit: n(l.attributePerLinkCountLimit, 128),
  };
}

export class LeanTracer implements Tracer {
  readonly instrumentationScope: InstrumentationScope;
  private readonly _shared: LeanSpanShared;
  private readonly _sampler: Sampler;
  private readonly _ids: IdGenerator;
  /** The SDK's samplers neither add nor change attributes; any other sampler might. */
  private readonly _samplerKeepsAttributes: boolean;
  /**
   * 1: the SDK's AlwaysOnSampler; 2: its ParentBasedSampler over the default delegates, whose
   * answer is the valid parent's sampled flag, else sampled (ParentBasedSampler.shouldSample: the
   * parent's context read and its two regex checks again, then a delegate call per span); 0: ask.
   */
  private readonly _fastSampling: 0 | 1 | 2;

  constructor(scope: InstrumentationScope, options: LeanTracerOptions) {
    this.instrumentationScope = scope;
    this._sampler = options.sampler;
    this._ids = options.idGenerator;
    const sm = options.sampler;
    this._samplerKeepsAttributes =
      sm instanceof AlwaysOnSampler ||
      sm instanceof AlwaysOffSampler ||
      sm instanceof TraceIdRatioBasedSampler ||
      (sm instanceof ParentBasedSampler && !hasCustomDelegate(sm));
    this._fastSampling =
      sm instanceof AlwaysOnSampler && sm.constructor === AlwaysOnSampler
        ? 1
        : sm instanceof ParentBasedSampler &&
            sm.constructor === ParentBasedSampler &&
            !hasCustomDelegate(sm) &&
            sm.toString() === PARENT_BASED_ALWAYS_ON
          ? 2
          : 0;
    this._shared = {
      resource: options.resource,
      scope,
      processor: options.spanProcessor,
      limits: limitsOf(options.spanLimits),
    };
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    const owned = takeAdoptable();
    if (options.root) ctx = trace.deleteSpan(ctx);
    if (isTracingSuppressed(ctx)) {
      diag.debug('Instrumentation suppressed, returning Noop Span');
      return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    }
    const parentSpan = trace.getSpan(ctx);
    const parent = parentSpan?.spanContext();
    const spanId = this._ids.generateSpanId();
    let traceId: string;
    let traceState: SpanContext['traceState'];
    let validParent: SpanContext | undefined;
    // A LeanSpan's context is valid by construction: skip the API's regex checks for it.
    if (
      parent === undefined ||
      (!(parentSpan instanceof LeanSpan) && !trace.isSpanContextValid(parent))
    ) {
      traceId = this._ids.generateTraceId();
    } else {
      traceId = parent.traceId;
      traceState = parent.traceState;
      validParent = parent;
    }
    const kind = options.kind ?? SpanKind.INTERNAL;
    const links = options.links ?? NO_LINKS;
    // The sampler sees sanitized attributes and may add its own; LeanSpan validates again on set.
    const given = options.attributes;
    const attributes =
      given !== undefined && given === owned && allValid(given) ? given : sanitize(given);
    const fast = this._fastSampling;
    const result =
      fast === 0
        ? this._sampler.shouldSample(ctx, traceId, name, kind, attributes, links)
        : fast === 1 || validParent === undefined || validParent.traceFlags & TraceFlags.SAMPLED
          ? SAMPLED
          : DROPPED;
    traceState = result.traceState ?? traceState;
    const spanContext: SpanContext = {
      traceId,
      spanId,
      traceFlags:
        result.decision === SamplingDecision.RECORD_AND_SAMPLED
          ? TraceFlags.SAMPLED
          : TraceFlags.NONE,
      traceState,
    };
    if (result.decision === SamplingDecision.NOT_RECORD) {
      diag.debug('Recording is off, propagating context in a non-recording span');
      return trace.wrapSpanContext(spanContext);
    }
    // Another sampler's attributes (added or changed in place) are not sanitized: then the span
    // validates every key again, as the SDK does.
    const adopt = result.attributes === undefined && this._samplerKeepsAttributes;
    if (!adopt) Object.assign(attributes, result.attributes);
    return new LeanSpan(
      this._shared,
      ctx,
      spanContext,
      name,
      kind,
      validParent,
      links === NO_LINKS ? undefined : links,
      attributes,
      options.startTime,
      adopt,
    );
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    opts: SpanOptions,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    opts: SpanOptions,
    ctx: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    arg2?: F | SpanOptions,
    arg3?: F | Context,
    arg4?: F,
  ): ReturnType<F> | undefined {
    let opts: SpanOptions | undefined;
    let ctx: Context | undefined;
    let fn: F;
    if (arguments.length < 2) return undefined;
    if (arguments.length === 2) fn = arg2 as F;
    else if (arguments.length === 3) {
      opts = arg2 as SpanOptions;
      fn = arg3 as F;
    } else {
      opts = arg2 as SpanOptions;
      ctx = arg3 as Context;
      fn = arg4 as F;
    }
    const parentContext = ctx ?? contextApi.active();
    const span = this.startSpan(name, opts, parentContext);
    return contextApi.with(
      setSpan(parentContext, span),
      fn as (s: Span) => ReturnType<F>,
      undefined,
      span,
    );
  }
}

/**
 * NodeTracerProvider whose tracers are LeanTracers over the provider's own options (env span
 * limits, sampler, id generator, the MultiSpanProcessor of every registered processor), so
 * register(), forceFlush() and shutdown() stay the SDK's.
 */
export class LeanTracerProvider extends NodeTracerProvider {
  private readonly _leanTracers = new Map<string, Tracer>();

  override getTracer(name: string, version?: string, options?: { schemaUrl?: string }): Tracer {
    const key = `${name}@${version ?? ''}:${options?.schemaUrl ?? ''}`;
    let tracer = this._leanTracers.get(key);
    if (tracer === undefined) {
      const opts = tracerOptions(this, isTracerOptions);
      if (opts === undefined) {
        // sdk-trace changed shape: keep the SDK's own tracer rather than guess.
        diag.debug('echoes-otel: SDK tracer options not found; using the SDK tracer');
        tracer = super.getTracer(name, version, options);
      } else {
        tracer = new LeanTracer({ name, version, schemaUrl: options?.schemaUrl }, opts);
      }
      this._leanTracers.set(key, tracer);
    }
    return tracer;
  }
}

/** Every key own and non-empty, every value a string, number or boolean: kept as is. */
function allValid(attributes: Attributes): boolean {
  for (const key in attributes) {
    if (key.length === 0 || !Object.prototype.hasOwnProperty.call(attributes, key)) return false;
    const t = typeof attributes[key];
    if (t !== 'string' && t !== 'number' && t !== 'boolean') return false;
  }
  return true;
}

/** A ParentBasedSampler's delegates (private `_root`, `_remoteParentSampled`, ...) are the SDK's. */
function hasCustomDelegate(sampler: ParentBasedSampler): boolean {
  for (const v of Object.values(sampler as unknown as Record<string, unknown>)) {
    if (
      typeof (v as Sampler | undefined)?.shouldSample === 'function' &&
      !(v instanceof AlwaysOnSampler) &&
      !(v instanceof AlwaysOffSampler) &&
      !(v instanceof TraceIdRatioBasedSampler)
    )
      return true;
  }
  return false;
}

export function isTracerOptions(o: unknown): o is LeanTracerOptions {
  const t = o as Partial<LeanTracerOptions> | undefined;
  return (
    t !== undefined &&
    typeof t.sampler?.shouldSample === 'function' &&
    typeof t.idGenerator?.generateSpanId === 'function' &&
    typeof t.spanProcessor?.onStart === 'function' &&
    typeof t.spanLimits === 'object' &&
    t.resource !== undefined
  );
}
