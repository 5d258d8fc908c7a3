import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  diag,
  ROOT_CONTEXT,
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { suppressTracing, TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanLimits,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { LeanSpan } from '../../../../instrumentation/export/span-lean.js';
import {
  adoptAttributes,
  tracerOptions,
} from '../../../../instrumentation/export/sdk-internals.js';
import {
  isTracerOptions,
  LeanTracer,
  LeanTracerProvider,
} from '../../../../instrumentation/export/tracer-lean.js';

interface Recorder extends SpanProcessor {
  started: Array<{ span: ReadableSpan; ctx: Context }>;
  ending: ReadableSpan[];
  ended: ReadableSpan[];
}

function recorder(): Recorder {
  const r: Recorder = {
    started: [],
    ending: [],
    ended: [],
    onStart: (span, ctx) => r.started.push({ span: span as unknown as ReadableSpan, ctx }),
    onEnding: (span) => r.ending.push(span as unknown as ReadableSpan),
    onEnd: (span) => r.ended.push(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  return r;
}

function setup(opts: { sampler?: Sampler; spanLimits?: SpanLimits } = {}) {
  const a = recorder();
  const b = recorder();
  const provider = new LeanTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'lean-test' }),
    spanProcessors: [a, b],
    ...opts,
  });
  return { tracer: provider.getTracer('scope-a', '1.2.3'), a, b, provider };
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('LeanTracerProvider', () => {
  it('finds the SDK provider tracer options (sdk-internals tracerOptions) in the pinned sdk-trace', () => {
    const { provider, tracer, a } = setup({ spanLimits: { attributeCountLimit: 7 } });
    const opts = tracerOptions(provider, isTracerOptions);
    // If sdk-trace renames or reshapes `_tracerOptions`, this fails here, not silently in prod.
    expect(opts).toBeDefined();
    expect(opts!.spanLimits.attributeCountLimit).toBe(7);
    expect(tracer).toBeInstanceOf(LeanTracer);
    tracer.startSpan('x').end();
    expect(a.ended).toHaveLength(1);
  });

  it('falls back to the SDK tracer when the provider options are not the expected shape', () => {
    const provider = new LeanTracerProvider({ spanProcessors: [recorder()] });
    const slot = provider as unknown as { _tracerOptions: Record<string, unknown> };
    slot._tracerOptions = { ...slot._tracerOptions, spanLimits: undefined };
    expect(tracerOptions(provider, isTracerOptions)).toBeUndefined();
    const tracer = provider.getTracer('y');
    expect(tracer).not.toBeInstanceOf(LeanTracer);
    expect(tracer.constructor.name).toBe('Tracer');
  });

  it('returns the same LeanTracer for the same name and version', () => {
    const { provider, tracer } = setup();
    expect(provider.getTracer('scope-a', '1.2.3')).toBe(tracer);
    expect(provider.getTracer('scope-b')).not.toBe(tracer);
  });

  it('builds spans that every registered processor sees start, ending and end exactly once', () => {
    const { tracer, a, b } = setup();
    const span = tracer.startSpan('work', { kind: SpanKind.CLIENT, attributes: { k: 'v' } });
    expect(span).toBeInstanceOf(LeanSpan);
    expect(span.isRecording()).toBe(true);
    for (const p of [a, b]) expect(p.started.map((s) => s.span)).toEqual([span]);
    span.end();
    span.end();
    for (const p of [a, b]) {
      expect(p.ending).toEqual([span]);
      expect(p.ended).toEqual([span]);
    }
    expect(span.isRecording()).toBe(false);
  });

  it('exposes the ReadableSpan contract the SDK span exposes, with the same values', () => {
    const { tracer, a } = setup();
    const sdk = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'lean-test' }),
      spanProcessors: [recorder()],
    }).getTracer('scope-a', '1.2.3');
    const parent = trace.wrapSpanContext({
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.SAMPLED,
      traceState: new TraceState('k=v'),
    });
    const ctx = trace.setSpan(ROOT_CONTEXT, parent);
    const opts = {
      kind: SpanKind.SERVER,
      attributes: { s: 'x', n: 1, b: true, arr: ['a', 'b'], bad: { x: 1 } as never, '': 'e' },
      links: [{ context: parent.spanContext(), attributes: { l: 1 } }],
    };
    const ours = tracer.startSpan('op', opts, ctx) as unknown as ReadableSpan & Span;
    const theirs = sdk.startSpan('op', opts, ctx) as unknown as ReadableSpan & Span;
    for (const s of [ours, theirs]) {
      s.setAttribute('late', 2);
      s.addEvent('ev', { e: 'x' });
      s.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
      s.updateName('op2');
      s.end();
    }
    const view = (s: ReadableSpan) => ({
      name: s.name,
      kind: s.kind,
      parent: s.parentSpanContext,
      traceId: s.spanContext().traceId,
      traceState: s.spanContext().traceState?.serialize(),
      flags: s.spanContext().traceFlags,
      attributes: s.attributes,
      links: s.links,
      events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
      status: s.status,
      ended: s.ended,
      resource: s.resource.attributes,
      scope: s.instrumentationScope,
      dropped: [s.droppedAttributesCount, s.droppedEventsCount, s.droppedLinksCount],
    });
    expect(view(ours)).toEqual(view(theirs));
    expect(ours.spanContext().spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(ours.spanContext().spanId).not.toBe(parent.spanContext().spanId);
    expect(a.ended).toHaveLength(1);
  });

  it('stamps start, event and end times on the wall clock, in order, with a consistent duration', () => {
    const { tracer } = setup();
    const before = Date.now();
    const span = tracer.startSpan('t') as unknown as ReadableSpan & Span;
    span.addEvent('mid');
    span.end();
    const after = Date.now();
    const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
    expect(ms(span.startTime)).toBeGreaterThanOrEqual(before - 1);
    expect(ms(span.endTime)).toBeLessThanOrEqual(after + 1);
    expect(ms(span.events[0]!.time)).toBeGreaterThanOrEqual(ms(span.startTime));
    expect(ms(span.endTime)).toBeGreaterThanOrEqual(ms(span.events[0]!.time));
    expect(ms(span.duration)).toBeCloseTo(ms(span.endTime) - ms(span.startTime), 3);
    for (const t of [span.startTime, span.endTime]) {
      expect(Number.isInteger(t[1]) && t[1] >= 0 && t[1] < 1e9).toBe(true);
    }
  });

  it('takes caller times as Date, epoch ms, performance ms or HrTime, and clamps end before start', () => {
    const { tracer } = setup();
    const warn = vi.spyOn(diag, 'warn');
    const s1 = tracer.startSpan('d', {
      startTime: new Date(1_700_000_000_123),
    }) as never as ReadableSpan & Span;
    expect(s1.startTime).toEqual([1_700_000_000, 123_000_000]);
    s1.end([1_700_000_001, 5]);
    expect(s1.duration).toEqual([0, 877_000_005]);
    const s2 = tracer.startSpan('p', { startTime: performance.now() }) as never as ReadableSpan &
      Span;
    expect(Math.abs(s2.startTime[0] - Date.now() / 1000)).toBeLessThan(2);
    s2.end(1_000);
    expect(s2.duration).toEqual([0, 0]);
    expect(s2.endTime).toEqual(s2.startTime);
    expect(
      warn.mock.calls.some((c) => String(c[0]).includes('Inconsistent start and end time')),
    ).toBe(true);
  });

  it('honours span limits from the provider config and from OTEL_SPAN_* variables', () => {
    vi.stubEnv('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', '2');
    vi.stubEnv('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', '3');
    const env = setup().tracer.startSpan('env') as unknown as ReadableSpan & Span;
    env.setAttributes({ a: 'abcdef', b: ['xyzw', 'ab'], c: 'dropped' });
    env.setAttribute('a', 'overwrite-existing-key');
    expect(env.attributes).toEqual({ a: 'ove', b: ['xyz', 'ab'] });
    expect(env.droppedAttributesCount).toBe(1);
    vi.unstubAllEnvs();

    const { tracer } = setup({
      spanLimits: { eventCountLimit: 2, linkCountLimit: 1, attributePerEventCountLimit: 1 },
    });
    const span = tracer.startSpan('limits') as unknown as ReadableSpan & Span;
    span.addEvent('e1', { x: 1, y: 2 });
    span.addEvent('e2');
    span.addEvent('e3');
    const ctx = { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16), traceFlags: 1 };
    span.addLinks([{ context: ctx }, { context: { ...ctx, spanId: 'e'.repeat(16) } }]);
    expect(span.events.map((e) => e.name)).toEqual(['e2', 'e3']);
    expect(span.droppedEventsCount).toBe(1);
    expect(span.links.map((l) => l.context.spanId)).toEqual(['e'.repeat(16)]);
    expect(span.droppedLinksCount).toBe(1);
    const first = setup({ spanLimits: { attributePerEventCountLimit: 1 } }).tracer.startSpan('x');
    first.addEvent('e', { x: 1, y: 2 });
    expect((first as unknown as ReadableSpan).events[0]).toMatchObject({
      attributes: { x: 1 },
      droppedAttributesCount: 1,
    });
  });

  it('records an exception as the SDK does: type from code or name, message and stack', () => {
    const { tracer } = setup();
    const span = tracer.startSpan('ex') as unknown as ReadableSpan & Span;
    const err = Object.assign(new TypeError('bad'), { code: 'E_BAD' });
    span.recordException(err);
    span.recordException('just text');
    const warn = vi.spyOn(diag, 'warn');
    span.recordException({} as Error);
    expect(span.events.map((e) => e.name)).toEqual(['exception', 'exception']);
    expect(span.events[0]!.attributes).toMatchObject({
      'exception.type': 'E_BAD',
      'exception.message': 'bad',
    });
    expect(String(span.events[0]!.attributes!['exception.stacktrace'])).toContain('TypeError: bad');
    expect(span.events[1]!.attributes).toEqual({ 'exception.message': 'just text' });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('Failed to record an exception'));
  });

  it('keeps status OK final, ignores UNSET and drops a non-string error message', () => {
    const { tracer } = setup();
    const s = tracer.startSpan('s') as unknown as ReadableSpan & Span;
    s.setStatus({ code: SpanStatusCode.ERROR, message: 42 as never });
    expect(s.status).toEqual({ code: SpanStatusCode.ERROR });
    s.setStatus({ code: SpanStatusCode.UNSET });
    s.setStatus({ code: SpanStatusCode.OK });
    s.setStatus({ code: SpanStatusCode.ERROR, message: 'late' });
    expect(s.status).toEqual({ code: SpanStatusCode.OK });
  });

  it('keeps an adopted attributes object when all of it is valid, and copies every other one', () => {
    const { tracer } = setup();
    const fresh = { 'db.system.name': 'redis', 'server.port': 6379 };
    const kept = tracer.startSpan('a', {
      attributes: adoptAttributes(fresh),
    }) as unknown as ReadableSpan;
    expect(kept.attributes).toBe(fresh);
    const notHanded = { k: 'v' };
    const copied = tracer.startSpan('b', { attributes: notHanded }) as unknown as ReadableSpan;
    expect(copied.attributes).not.toBe(notHanded);
    expect(copied.attributes).toEqual(notHanded);
    // Handed over, but with a value the SDK drops: sanitized into a copy, as without adoption.
    const invalid = { ok: 1, gone: null as unknown as string, list: ['x'] };
    const sanitized = tracer.startSpan('c', {
      attributes: adoptAttributes(invalid),
    }) as unknown as ReadableSpan;
    expect(sanitized.attributes).not.toBe(invalid);
    expect(sanitized.attributes).toEqual({ ok: 1, list: ['x'] });
    // Taken by the next startSpan whatever it starts with: a later span does not keep it.
    const stale = { s: 'x' };
    adoptAttributes(stale);
    tracer.startSpan('d');
    const later = tracer.startSpan('e', { attributes: stale }) as unknown as ReadableSpan;
    expect(later.attributes).not.toBe(stale);
  });

  it('gives each span its own links, events and status once changed, the defaults shared by none', () => {
    const { tracer } = setup();
    const a = tracer.startSpan('a') as unknown as ReadableSpan & Span;
    const b = tracer.startSpan('b') as unknown as ReadableSpan & Span;
    expect(a.links).toEqual([]);
    expect(a.events).toEqual([]);
    expect(a.status).toEqual({ code: SpanStatusCode.UNSET });
    expect(a.endTime).toEqual([0, 0]);
    expect(a.duration).toEqual([-1, -1]);
    a.addEvent('e1');
    a.addLink({ context: b.spanContext() });
    a.setStatus({ code: SpanStatusCode.ERROR, message: 'bad' });
    a.end();
    expect(a.events.map((e) => e.name)).toEqual(['e1']);
    expect(a.links).toHaveLength(1);
    expect(b.events).toEqual([]);
    expect(b.links).toEqual([]);
    expect(b.status).toEqual({ code: SpanStatusCode.UNSET });
    expect(b.endTime).toEqual([0, 0]);
    expect(b.duration).toEqual([-1, -1]);
    expect(a.duration).not.toEqual([-1, -1]);
    b.addEvent('e2');
    expect(b.events.map((e) => e.name)).toEqual(['e2']);
    expect(a.events.map((e) => e.name)).toEqual(['e1']);
  });

  it('warns on a second end and on changes after end, and leaves the ended span unchanged', () => {
    const { tracer, a } = setup();
    const error = vi.spyOn(diag, 'error');
    const warn = vi.spyOn(diag, 'warn');
    const s = tracer.startSpan('once') as unknown as ReadableSpan & Span;
    s.end();
    const endTime = s.endTime;
    s.end();
    s.setAttribute('after', 1);
    s.addEvent('after');
    s.updateName('after');
    expect(error).toHaveBeenCalledWith(
      expect.stringContaining('You can only call end() on a span once'),
    );
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('Cannot execute the operation on ended Span'),
      expect.any(Error),
    );
    expect(s.endTime).toBe(endTime);
    expect(s.name).toBe('once');
    expect(s.attributes).toEqual({});
    expect(a.ended).toHaveLength(1);
  });

  it('applies the sampler: its attributes and traceState, and a non-recording span for NOT_RECORD', () => {
    const seen: unknown[] = [];
    const sampler: Sampler = {
      shouldSample(_ctx, traceId, name, kind, attributes, links) {
        seen.push({ traceId, name, kind, attributes: { ...attributes }, links: links.length });
        if (name === 'drop') return { decision: SamplingDecision.NOT_RECORD };
        if (name === 'record') return { decision: SamplingDecision.RECORD };
        return {
          decision: SamplingDecision.RECORD_AND_SAMPLED,
          attributes: { 'sampler.added': 'yes' },
          traceState: new TraceState('s=1'),
        };
      },
      toString: () => 'test',
    };
    const { tracer, a } = setup({ sampler });
    const kept = tracer.startSpan('keep', { attributes: { mine: 1 } }) as unknown as ReadableSpan &
      Span;
    expect(kept.attributes).toEqual({ mine: 1, 'sampler.added': 'yes' });
    expect(kept.spanContext().traceState?.get('s')).toBe('1');
    expect(kept.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
    const recorded = tracer.startSpan('record');
    expect(recorded.isRecording()).toBe(true);
    expect(recorded.spanContext().traceFlags).toBe(TraceFlags.NONE);
    const dropped = tracer.startSpan('drop');
    expect(dropped.isRecording()).toBe(false);
    expect(dropped).not.toBeInstanceOf(LeanSpan);
    expect(trace.isSpanContextValid(dropped.spanContext())).toBe(true);
    expect(a.started).toHaveLength(2);
    expect(seen[0]).toMatchObject({
      name: 'keep',
      kind: SpanKind.INTERNAL,
      attributes: { mine: 1 },
    });
  });

  it('validates again what a custom sampler changed in place, and limits start attributes', () => {
    const mutating: Sampler = {
      shouldSample(_ctx, _t, _n, _k, attributes) {
        (attributes as Record<string, unknown>)['bad'] = { nested: true };
        (attributes as Record<string, unknown>)['good'] = 'ok';
        return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      },
      toString: () => 'mutating',
    };
    const warn = vi.spyOn(diag, 'warn');
    const s = setup({ sampler: mutating }).tracer.startSpan('m', { attributes: { a: 1 } });
    expect((s as unknown as ReadableSpan).attributes).toEqual({ a: 1, good: 'ok' });
    expect(warn).toHaveBeenCalledWith('Invalid attribute value set for key: bad');
    const limited = setup({ spanLimits: { attributeCountLimit: 2 } }).tracer.startSpan('l', {
      attributes: { a: 1, b: 2, c: 3 },
    }) as unknown as ReadableSpan;
    expect(limited.attributes).toEqual({ a: 1, b: 2 });
    expect(limited.droppedAttributesCount).toBe(1);
    const named = setup({ spanLimits: { attributeCountLimit: 2 } }).tracer.startSpan('n');
    named.setAttribute('constructor', 'x');
    named.setAttribute('toString', 'y');
    named.setAttribute('third', 'z');
    expect({ ...(named as unknown as ReadableSpan).attributes }).toEqual({
      constructor: 'x',
      toString: 'y',
    });
    expect((named as unknown as ReadableSpan).droppedAttributesCount).toBe(1);
  });

  it('follows the parent sampled flag with the default parent-based sampler', () => {
    const { tracer } = setup({ sampler: new AlwaysOffSampler() });
    expect(tracer.startSpan('off').isRecording()).toBe(false);
    const parent = trace.wrapSpanContext({
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.NONE,
    });
    const child = setup().tracer.startSpan('c', {}, trace.setSpan(ROOT_CONTEXT, parent));
    expect(child.isRecording()).toBe(false);
    expect(child.spanContext().traceId).toBe('a'.repeat(32));
  });

  it('decides as the SDK samplers themselves for always_on and parentbased_always_on parents', () => {
    const parents: Array<[string, Context]> = [
      ['no parent', ROOT_CONTEXT],
      ...([true, false] as const).flatMap((isRemote) =>
        [TraceFlags.SAMPLED, TraceFlags.NONE].map((traceFlags): [string, Context] => [
          `${isRemote ? 'remote' : 'local'} parent, flags ${traceFlags}`,
          trace.setSpan(
            ROOT_CONTEXT,
            trace.wrapSpanContext({
              traceId: 'a'.repeat(32),
              spanId: 'b'.repeat(16),
              traceFlags,
              isRemote,
            }),
          ),
        ]),
      ),
      [
        'invalid parent',
        trace.setSpan(
          ROOT_CONTEXT,
          trace.wrapSpanContext({ traceId: 'x', spanId: 'y', traceFlags: 1 }),
        ),
      ],
    ];
    for (const sampler of [
      new AlwaysOnSampler(),
      new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    ]) {
      const lean = setup({ sampler }).tracer;
      const sdk = new BasicTracerProvider({ sampler }).getTracer('sdk');
      for (const [label, ctx] of parents) {
        const ours = lean.startSpan('s', {}, ctx);
        const theirs = sdk.startSpan('s', {}, ctx);
        expect([label, ours.isRecording()]).toEqual([label, theirs.isRecording()]);
        expect([label, ours.spanContext().traceFlags]).toEqual([
          label,
          theirs.spanContext().traceFlags,
        ]);
      }
    }
  });

  it('returns an invalid non-recording span under suppressed tracing, and a new trace for root', () => {
    const { tracer, a } = setup();
    const s = tracer.startSpan('x', {}, suppressTracing(ROOT_CONTEXT));
    expect(s.isRecording()).toBe(false);
    expect(trace.isSpanContextValid(s.spanContext())).toBe(false);
    expect(a.started).toHaveLength(0);
    const parent = tracer.startSpan('p');
    const root = tracer.startSpan('r', { root: true }, trace.setSpan(ROOT_CONTEXT, parent));
    expect(root.spanContext().traceId).not.toBe(parent.spanContext().traceId);
    expect((root as unknown as ReadableSpan).parentSpanContext).toBeUndefined();
  });

  it('runs startActiveSpan callbacks with the span active in every overload', () => {
    const { tracer } = setup();
    const parentCtx = trace.setSpan(ROOT_CONTEXT, tracer.startSpan('parent'));
    const r1 = tracer.startActiveSpan('a', (s) => s);
    const r2 = tracer.startActiveSpan('b', { kind: SpanKind.PRODUCER }, (s) => s);
    const r3 = tracer.startActiveSpan('c', {}, parentCtx, (s) => s);
    expect((r2 as unknown as ReadableSpan).kind).toBe(SpanKind.PRODUCER);
    expect((r3 as unknown as ReadableSpan).parentSpanContext?.spanId).toBe(
      trace.getSpan(parentCtx)!.spanContext().spanId,
    );
    expect(r1.isRecording()).toBe(true);
  });
});
