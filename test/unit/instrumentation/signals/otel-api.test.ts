import { describe, expect, it } from 'vitest';
import { createContextKey, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import {
  deleteContextValue,
  setContextValue,
  setSpan,
} from '../../../../instrumentation/signals/otel-api.js';

const keys = Array.from({ length: 5 }, (_, i) => createContextKey(`k${i}`));

describe('otel-api layered contexts', () => {
  it('answers every key as the API context would after the same sets and deletes, deep chains included', () => {
    // A fixed pseudo-random walk of 200 derives over 5 keys (folds happen every few derives).
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    let ours: Context = ROOT_CONTEXT.setValue(keys[0]!, 'base');
    let api: Context = ours;
    for (let step = 0; step < 200; step++) {
      const key = keys[next() % keys.length]!;
      const op = next() % 3;
      if (op === 0) {
        ours = deleteContextValue(ours, key);
        api = api.deleteValue(key);
      } else {
        const value = op === 1 ? `v${step}` : undefined;
        ours = step % 2 === 0 ? setContextValue(ours, key, value) : ours.setValue(key, value);
        api = api.setValue(key, value);
      }
      for (const k of keys) expect(ours.getValue(k)).toBe(api.getValue(k));
    }
  });

  it('makes the span the active one for the API and leaves the parent context unchanged', () => {
    const span = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    });
    const parent = ROOT_CONTEXT.setValue(keys[1]!, 'kept');
    const ctx = setSpan(parent, span);
    expect(trace.getSpan(ctx)).toBe(span);
    expect(ctx.getValue(keys[1]!)).toBe('kept');
    expect(trace.getSpan(parent)).toBeUndefined();
    expect(trace.getSpan(trace.deleteSpan(ctx))).toBeUndefined();
    expect(trace.getSpan(ctx)).toBe(span);
  });
});
