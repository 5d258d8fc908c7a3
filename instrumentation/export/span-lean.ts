import {
  diag,
  SpanStatusCode,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type HrTime,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  type TimeInput,
} from '@opentelemetry/api';
import {
  hrTimeDuration as coreHrTimeDuration,
  isAttributeValue as coreIsAttributeValue,
  isTimeInput as coreIsTimeInput,
  isTimeInputHrTime as coreIsTimeInputHrTime,
} from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type {
  ReadableSpan,
  SpanLimits,
  SpanProcessor,
  TimedEvent,
} from '@opentelemetry/sdk-trace-base';
import type { InstrumentationScope } from '@opentelemetry/core';

/**
 * A span with the SDK's behaviour (SpanImpl of @opentelemetry/sdk-trace 2.x: limits, truncation,
 * the ended-span warnings, exception events, onStart/onEnding/onEnd) at less cost per span:
 * - one clock: wall time is `anchor + performance.now()`, the anchor re-read from Date.now()
 *   at most once a second (the SDK reads Date.now() and performance.now() per span and converts
 *   through three HrTime helpers); a re-anchor keeps the wall clock's adjustments, as the SDK does.
 * - primitive attribute values skip the generic validator; arrays still go through core's.
 * - fields initialised in one constructor with one shape (no instance initialisers).
 * It implements the API's Span and the SDK's ReadableSpan, which is all the processors, our
 * serializer, redaction and any third-party SpanProcessor read.
 */

const EXCEPTION_EVENT = 'exception';

// Per-span values every new span starts with, shared: each is replaced (never mutated) when the span
// changes it, so a span that never gets a link, an event or a status allocates none of them. Five
// objects fewer per span, and fewer to copy when a scavenge finds the span still in the batch
// queue (docs/performance.md, "Per-request costs").
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];
const UNSET_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NOT_ENDED: HrTime = Object.freeze([0, 0]) as unknown as HrTime;
const NO_DURATION: HrTime = Object.freeze([-1, -1]) as unknown as HrTime;

// ---- clock ------------------------------------------------------------------------------------

const perf = performance;
let anchorMs = Date.now() - perf.now();
let anchoredAt = perf.now();

/** Milliseconds since the epoch, sub-ms precise, from one performance.now() per call. */
export function nowMs(): number {
  const p = perf.now();
  if (p - anchoredAt > 1000) {
    anchorMs = Date.now() - p;
    anchoredAt = p;
  }
  return anchorMs + p;
}

/** Epoch milliseconds to [seconds, nanoseconds], without the float error of ms * 1e6. */
export function msToHrTime(ms: number): HrTime {
  const sec = Math.floor(ms / 1000);
  let ns = Math.round((ms - sec * 1000) * 1e6);
  if (ns >= 1e9) return [sec + 1, ns - 1e9];
  if (ns < 0) ns = 0;
  return [sec, ns];
}

// core's helpers, read once into module constants (a named import of the CommonJS package is an
// interop getter per call in the bundle: signals/otel-api.ts).
const isAttributeValue = coreIsAttributeValue;
const isHrTime = coreIsTimeInputHrTime;
const isTimeInput = coreIsTimeInput;
const hrDiff = coreHrTimeDuration;

/** The SDK's reading of a TimeInput: a number at or below performance.now() is a perf stamp. */
function timeInputToHr(inp: TimeInput): HrTime | undefined {
  if (typeof inp === 'number') {
    const p = perf.now();
    return msToHrTime(inp <= p ? inp + (nowMs() - perf.now()) : inp);
  }
  if (inp instanceof Date) return msToHrTime(inp.getTime());
  if (isHrTime(inp)) return inp;
  return undefined;
}

// ---- attributes -------------------------------------------------------------------------------

function validValue(v: unknown): boolean {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || isAttributeValue(v);
}

/** core's sanitizeAttributes with a fast path for primitives: valid keys and values, arrays copied. */
export function sanitize(attributes: Attributes | undefined): Attributes {
  const out: Attributes = {};
  if (attributes === undefined || attributes === null || typeof attributes !== 'object') return out;
  for (const key in attributes) {
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
    if (key.length === 0) {
      diag.warn(`Invalid attribute key: ${key}`);
      continue;
    }
    const v = attributes[key];
    if (v == null) continue;
    if (!validValue(v)) {
      diag.warn(`Invalid attribute value set for key: ${key}`);
      continue;
    }
    out[key] = Array.isArray(v) ? (v.slice() as AttributeValue) : v;
  }
  return out;
}

function truncate(value: AttributeValue, limit: number): AttributeValue {
  if (typeof value === 'string') return value.length <= limit ? value : value.substring(0, limit);
  if (Array.isArray(value)) {
    return value.map((v) =>
      typeof v === 'string' && v.length > limit ? v.substring(0, limit) : v,
    ) as AttributeValue;
  }
  return value;
}

/** What every span of one tracer shares (built once per tracer). */
export interface LeanSpanShared {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly processor: SpanProcessor;
  readonly limits: Required<
    Pick<
      SpanLimits,
      | 'attributeCountLimit'
      | 'attributeValueLengthLimit'
      | 'eventCountLimit'
      | 'linkCountLimit'
      | 'attributePerEventCountLimit'
      | 'attributePerLinkCountLimit'
    >
  >;
}

export class LeanSpan implements Span, ReadableSpan {
  name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  attributes: SpanAttributes;
  links: Link[];
  events: TimedEvent[];
  readonly startTime: HrTime;
  endTime: HrTime;
  status: SpanStatus;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  private readonly _spanContext: SpanContext;
  private readonly _shared: LeanSpanShared;
  private _duration: HrTime;
  private _ended: boolean;
  private _attributesCount: number;
  private _droppedAttributesCount: number;
  private _droppedEventsCount: number;
  private _droppedLinksCount: number;
  /** perf.now() at start when the start time was ours, so later stamps are start + elapsed. */
  private readonly _startPerf: number;
  private readonly _startMs: number;

  constructor(
    shared: LeanSpanShared,
    ctx: Context,
    spanContext: SpanContext,
    name: string,
    kind: SpanKind,
    parentSpanContext: SpanContext | undefined,
    links: Link[] | undefined,
    attributes: Attributes | undefined,
    startTime: TimeInput | undefined,
    adopt = false,
  ) {
    this.name = name;
    this.kind = kind;
    this.parentSpanContext = parentSpanContext;
    this.attributes = {};
    this.links = NO_LINKS;
    this.events = NO_EVENTS;
    this.endTime = NOT_ENDED;
    this.status = UNSET_STATUS;
    this.resource = shared.resource;
    this.instrumentationScope = shared.scope;
    this._spanContext = spanContext;
    this._shared = shared;
    this._duration = NO_DURATION;
    this._ended = false;
    this._attributesCount = 0;
    this._droppedAttributesCount = 0;
    this._droppedEventsCount = 0;
    this._droppedLinksCount = 0;
    const given = startTime == null ? undefined : timeInputToHr(startTime);
    if (given === undefined) {
      this._startPerf = perf.now();
      this._startMs = nowMs();
      this.startTime = msToHrTime(this._startMs);
    } else {
      // As the SDK: with a start time of the caller's, later stamps cannot use elapsed time.
      this._startPerf = -1;
      this._startMs = 0;
      this.startTime = given;
    }
    if (links !== undefined) for (let i = 0; i < links.length; i++) this.addLink(links[i]!);
    if (attributes !== undefined) {
      if (adopt && shared.limits.attributeValueLengthLimit === Infinity) {
        // Already sanitized by the tracer into an object of ours: keep it rather than copy it key
        // by key, when no limit applies (count checked here, value length unlimited).
        let n = 0;
        for (const _ in attributes) n++;
        if (n <= shared.limits.attributeCountLimit) {
          this.attributes = attributes;
          this._attributesCount = n;
        } else this.setAttributes(attributes);
      } else this.setAttributes(attributes);
    }
    shared.processor.onStart(this, ctx);
  }

  spanContext(): SpanContext {
    return this._spanContext;
  }

  get duration(): HrTime {
    return this._duration;
  }
  get ended(): boolean {
    return this._ended;
  }
  get droppedAttributesCount(): number {
    return this._droppedAttributesCount;
  }
  get droppedEventsCount(): number {
    return this._droppedEventsCount;
  }
  get droppedLinksCount(): number {
    return this._droppedLinksCount;
  }

  isRecording(): boolean {
    return !this._ended;
  }

  setAttribute(key: string, value?: AttributeValue): this {
    if (value == null || this._endedWarn()) return this;
    if (key.length === 0) {
      diag.warn(`Invalid attribute key: ${key}`);
      return this;
    }
    const t = typeof value;
    if (t !== 'string' && t !== 'number' && t !== 'boolean' && !isAttributeValue(value)) {
      diag.warn(`Invalid attribute value set for key: ${key}`);
      return this;
    }
    const attrs = this.attributes;
    const isNew = !Object.prototype.hasOwnProperty.call(attrs, key);
    const limits = this._shared.limits;
    if (isNew && this._attributesCount >= limits.attributeCountLimit) {
      this._droppedAttributesCount++;
      return this;
    }
    const limit = limits.attributeValueLengthLimit;
    attrs[key] =
      limit === Infinity || (t !== 'string' && !Array.isArray(value))
        ? value
        : truncate(value, limit);
    if (isNew) this._attributesCount++;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key in attributes) {
      if (Object.prototype.hasOwnProperty.call(attributes, key)) {
        this.setAttribute(key, attributes[key]);
      }
    }
    return this;
  }

  addEvent(
    name: string,
    attributesOrStartTime?: SpanAttributes | TimeInput,
    timeStamp?: TimeInput,
  ): this {
    if (this._endedWarn()) return this;
    const { eventCountLimit, attributePerEventCountLimit } = this._shared.limits;
    if (eventCountLimit === 0) {
      diag.warn('No events allowed.');
      this._droppedEventsCount++;
      return this;
    }
    if (this.events === NO_EVENTS) this.events = [];
    else if (this.events.length >= eventCountLimit) {
      if (this._droppedEventsCount === 0) diag.debug('Dropping extra events.');
      this.events.shift();
      this._droppedEventsCount++;
    }
    let attrs = attributesOrStartTime as Attributes | undefined;
    if (isTimeInput(attributesOrStartTime)) {
      if (!isTimeInput(timeStamp)) timeStamp = attributesOrStartTime;
      attrs = undefined;
    }
    const { attributes, dropped } = this._limited(attrs, attributePerEventCountLimit);
    this.events.push({
      name,
      attributes,
      time: this._time(timeStamp),
      droppedAttributesCount: dropped,
    });
    return this;
  }

  // `duplicates` pairs its opening with addEvent's: the SDK's rule for both lists (none at a
  // limit of 0, else drop the oldest), each with its own counter and messages (events warn).
  addLink(link: Link): this {
    if (this._endedWarn()) return this;
    const { linkCountLimit, attributePerLinkCountLimit } = this._shared.limits;
    if (linkCountLimit === 0) {
      this._droppedLinksCount++;
      return this;
    }
    if (this.links === NO_LINKS) this.links = [];
    else if (this.links.length >= linkCountLimit) {
      if (this._droppedLinksCount === 0) diag.debug('Dropping extra links.');
      this.links.shift();
      this._droppedLinksCount++;
    }
    const { attributes, dropped, count } = this._limited(
      link.attributes,
      attributePerLinkCountLimit,
    );
    const out: Link = { context: link.context };
    if (count > 0) out.attributes = attributes;
    if (dropped > 0) out.droppedAttributesCount = dropped;
    this.links.push(out);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this._endedWarn()) return this;
    if (status.code === SpanStatusCode.UNSET) return this;
    if (this.status.code === SpanStatusCode.OK) return this;
    const next: SpanStatus = { code: status.code };
    if (status.code === SpanStatusCode.ERROR) {
      if (typeof status.message === 'string') next.message = status.message;
      else if (status.message != null) {
        diag.warn(
          `Dropping invalid status.message of type '${typeof status.message}', expected 'string'`,
        );
      }
    }
    this.status = next;
    return this;
  }

  updateName(name: string): this {
    if (this._endedWarn()) return this;
    this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this._ended) {
      diag.error(
        `${this.name} ${this._spanContext.traceId}-${this._spanContext.spanId} - You can only call end() on a span once.`,
      );
      return;
    }
    this.endTime = this._time(endTime);
    this._duration = hrDiff(this.startTime, this.endTime);
    if (this._duration[0] < 0) {
      diag.warn(
        'Inconsistent start and end time, startTime > endTime. Setting span duration to 0ms.',
        this.startTime,
        this.endTime,
      );
      this.endTime = this.startTime.slice() as HrTime;
      this._duration = [0, 0];
    }
    if (this._droppedEventsCount > 0) {
      diag.warn(`Dropped ${this._droppedEventsCount} events because eventCountLimit reached`);
    }
    if (this._droppedLinksCount > 0) {
      diag.warn(`Dropped ${this._droppedLinksCount} links because linkCountLimit reached`);
    }
    const processor = this._shared.processor;
    if (processor.onEnding !== undefined) processor.onEnding(this);
    this._ended = true;
    processor.onEnd(this);
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception;
    } else if (exception) {
      if (exception.code) attributes['exception.type'] = exception.code.toString();
      else if (exception.name) attributes['exception.type'] = exception.name;
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    // The spec's minimum: a type or a message.
    if (attributes['exception.type'] || attributes['exception.message']) {
      this.addEvent(EXCEPTION_EVENT, attributes, time);
    } else {
      diag.warn(`Failed to record an exception ${String(exception)}`);
    }
  }

  /** A timestamp: the caller's, else start + elapsed (monotonic within the span). */
  private _time(inp: TimeInput | undefined): HrTime {
    if (inp != null) {
      const t = timeInputToHr(inp);
      if (t !== undefined) return t;
    }
    if (this._startPerf < 0) return msToHrTime(Date.now());
    return msToHrTime(this._startMs + (perf.now() - this._startPerf));
  }

  private _limited(
    attrs: Attributes | undefined,
    countLimit: number,
  ): { attributes: Attributes; dropped: number; count: number } {
    const sanitized = sanitize(attrs);
    const limit = this._shared.limits.attributeValueLengthLimit;
    const attributes: Attributes = {};
    let dropped = 0;
    let count = 0;
    for (const key in sanitized) {
      if (count >= countLimit) {
        dropped++;
        continue;
      }
      const v = sanitized[key]!;
      attributes[key] = limit === Infinity ? v : truncate(v, limit);
      count++;
    }
    return { attributes, dropped, count };
  }

  private _endedWarn(): boolean {
    if (this._ended) {
      const { traceId, spanId } = this._spanContext;
      diag.warn(
        `Cannot execute the operation on ended Span {traceId: ${traceId}, spanId: ${spanId}}`,
        new Error(`Operation attempted on ended Span {traceId: ${traceId}, spanId: ${spanId}}`),
      );
    }
    return this._ended;
  }
}
