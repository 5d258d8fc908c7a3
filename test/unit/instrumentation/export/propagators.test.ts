import { createRequire } from 'node:module';
import {
  ROOT_CONTEXT,
  TraceFlags,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
} from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { createPropagator } from '../../../../instrumentation/export/propagators.js';

const require = createRequire(import.meta.url);
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const ctx = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: TRACE_ID,
  spanId: SPAN_ID,
  traceFlags: TraceFlags.SAMPLED,
});

function inject(names: Parameters<typeof createPropagator>[0]): Record<string, string> {
  const carrier: Record<string, string> = {};
  createPropagator(names)?.inject(ctx, carrier, defaultTextMapSetter);
  return carrier;
}

describe('createPropagator', () => {
  it('loads @opentelemetry/propagator-b3 only when b3 or b3multi is named', () => {
    const b3Path = require.resolve('@opentelemetry/propagator-b3');
    createPropagator(['tracecontext', 'baggage']);
    expect(require.cache[b3Path]).toBeUndefined();
    createPropagator(['b3']);
    expect(require.cache[b3Path]).toBeDefined();
  });

  it('injects traceparent for tracecontext, one b3 header for b3, X-B3-* for b3multi', () => {
    expect(inject(['tracecontext', 'baggage'])).toEqual({
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
    });
    expect(inject(['b3'])).toEqual({ b3: `${TRACE_ID}-${SPAN_ID}-1` });
    expect(inject(['b3multi'])).toEqual({
      'x-b3-traceid': TRACE_ID,
      'x-b3-spanid': SPAN_ID,
      'x-b3-sampled': '1',
    });
    expect(Object.keys(inject(['tracecontext', 'b3']))).toEqual(['traceparent', 'b3']);
  });

  it('extracts both b3 encodings whichever one it injects', () => {
    const single = createPropagator(['b3multi'])!.extract(
      ROOT_CONTEXT,
      { b3: `${TRACE_ID}-${SPAN_ID}-1` },
      defaultTextMapGetter,
    );
    expect(trace.getSpanContext(single)?.traceId).toBe(TRACE_ID);
    const multi = createPropagator(['b3'])!.extract(
      ROOT_CONTEXT,
      { 'x-b3-traceid': TRACE_ID, 'x-b3-spanid': SPAN_ID, 'x-b3-sampled': '1' },
      defaultTextMapGetter,
    );
    expect(trace.getSpanContext(multi)?.spanId).toBe(SPAN_ID);
  });

  it('returns null for none, so no propagator is registered', () => {
    expect(createPropagator([])).toBeNull();
  });
});
