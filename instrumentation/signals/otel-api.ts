import {
  context as apiContext,
  propagation as apiPropagation,
  ROOT_CONTEXT as apiRootContext,
  SpanKind as apiSpanKind,
  SpanStatusCode as apiSpanStatusCode,
  trace as apiTrace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import {
  isTracingSuppressed as coreIsTracingSuppressed,
  suppressTracing as coreSuppressTracing,
} from '@opentelemetry/core';

/**
 * The `@opentelemetry/api` and `@opentelemetry/core` exports the hot paths use (http, fetch, fs,
 * db), read once into plain module constants. Both packages are CommonJS, and in the bundle each
 * named import of one becomes a property read through esbuild's interop getters
 * (`__toESM` → `__copyProps`, then TypeScript's own re-export getter) at every use: about 8 ns
 * per read measured (`bench/api-reads.mjs`; tens of ns per request, far less than the profile's
 * estimate; docs/performance.md "Per-request costs"). Imported from here, a hot function reads a
 * module variable. The values are the API's singletons and enums,
 * which never change after load.
 */

export const context = apiContext;
export const trace = apiTrace;
export const propagation = apiPropagation;
export const ROOT_CONTEXT = apiRootContext;
export const SpanKind = apiSpanKind;
export const SpanStatusCode = apiSpanStatusCode;
export const isTracingSuppressed = coreIsTracingSuppressed;
export const suppressTracing = coreSuppressTracing;
// The enums are types too (`status: { code: SpanStatusCode }`).
export type SpanKind = apiSpanKind;
export type SpanStatusCode = apiSpanStatusCode;

/** The API's span key: `createContextKey` uses `Symbol.for`, so every API copy shares it. */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');
/** Marks a key deleted in a layer (a layer's value may itself be `undefined`). */
const DELETED: unique symbol = Symbol('echoes.context.deleted');
/** Past this many layers a derive folds them into the base context: lookups stay short. */
const MAX_LAYERS = 8;

/**
 * A context that is its parent with one key set (or deleted): what `setValue` means, without the
 * API's BaseContext copy of the whole parent Map and its three closures per derive (about 250
 * bytes and a Map copy each; a real-services request derived six). Lookups walk the layers, at
 * most MAX_LAYERS, then ask the base. Any API copy reads it through the Context interface.
 */
class LayeredContext implements Context {
  constructor(
    readonly parent: Context,
    readonly key: symbol,
    readonly value: unknown,
    readonly depth: number,
  ) {}
  getValue(key: symbol): unknown {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk starts here
    let c: Context = this;
    while (c instanceof LayeredContext) {
      if (c.key === key) return c.value === DELETED ? undefined : c.value;
      c = c.parent;
    }
    return c.getValue(key);
  }
  setValue(key: symbol, value: unknown): Context {
    return deriveContext(this, key, value);
  }
  deleteValue(key: symbol): Context {
    return deriveContext(this, key, DELETED);
  }
}

/** Layers folded into one Map over the first context that is neither (a deep chain's base). */
class FoldedContext implements Context {
  constructor(
    readonly parent: Context,
    readonly values: Map<symbol, unknown>,
  ) {}
  getValue(key: symbol): unknown {
    const v = this.values.get(key);
    if (v !== undefined) return v === DELETED ? undefined : v;
    return this.values.has(key) ? undefined : this.parent.getValue(key);
  }
  setValue(key: symbol, value: unknown): Context {
    return deriveContext(this, key, value);
  }
  deleteValue(key: symbol): Context {
    return deriveContext(this, key, DELETED);
  }
}

/** `parent.setValue(key, value)` (`DELETED`: `deleteValue`), as one layer over `parent`. */
function deriveContext(parent: Context, key: symbol, value: unknown): Context {
  const depth = parent instanceof LayeredContext ? parent.depth + 1 : 1;
  if (depth <= MAX_LAYERS) return new LayeredContext(parent, key, value, depth);
  // Fold the layers (oldest first, so the newest wins) and this key into one Map.
  const layers: LayeredContext[] = [];
  let base: Context = parent;
  while (base instanceof LayeredContext) {
    layers.push(base);
    base = base.parent;
  }
  const values = base instanceof FoldedContext ? new Map(base.values) : new Map<symbol, unknown>();
  if (base instanceof FoldedContext) base = base.parent;
  for (let i = layers.length - 1; i >= 0; i--) values.set(layers[i]!.key, layers[i]!.value);
  values.set(key, value);
  return new FoldedContext(base, values);
}

/** `trace.setSpan(ctx, span)` as one layer (see LayeredContext). */
export function setSpan(ctx: Context, span: Span): Context {
  return deriveContext(ctx, SPAN_KEY, span);
}

/** `ctx.setValue(key, value)` as one layer (see LayeredContext). */
export function setContextValue(ctx: Context, key: symbol, value: unknown): Context {
  return deriveContext(ctx, key, value);
}

/** `ctx.deleteValue(key)` as one layer (see LayeredContext). */
export function deleteContextValue(ctx: Context, key: symbol): Context {
  return deriveContext(ctx, key, DELETED);
}

let adoptable: Attributes | undefined;

/**
 * Hands `attributes` (a fresh object of the caller's, never touched again) to the next span a
 * LeanTracer starts with this very object in its options: the span keeps it, when every key and
 * value is valid as is, instead of copying it key by key into a second object (export/tracer-lean.ts).
 * The SDK copies because a caller may reuse its object; our hot paths build one per span.
 */
export function adoptAttributes<T extends Attributes>(attributes: T): T {
  adoptable = attributes;
  return attributes;
}

/** The object adoptAttributes last handed over, once (the tracer takes it at each startSpan). */
export function takeAdoptable(): Attributes | undefined {
  const a = adoptable;
  adoptable = undefined;
  return a;
}
