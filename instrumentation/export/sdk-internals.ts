import { context, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/**
 * Every place echoes-otel reaches into an OpenTelemetry package's private state, named here and
 * nowhere else. Each accessor returns undefined when the shape is not what the pinned version
 * has, and its caller then falls back to the public, slower or heavier behaviour; a test per
 * accessor (test/unit/instrumentation/export/sdk-internals.test.ts) runs it against the real pinned
 * packages, so an upgrade that changes a shape fails there loudly instead of degrading quietly.
 *
 * | accessor                 | package (pinned)                 | what we gain                       |
 * | ------------------------ | -------------------------------- | ---------------------------------- |
 * | contextEnter             | @opentelemetry/context-async-hooks 2.12 | enter a server span's context for the rest of a request without a closure per request |
 * | createActiveSpanReader   | @opentelemetry/api 1.x global + context-async-hooks 2.12 | the active span per fs call for exemplars without the API's global lookup (~60 ns less) |
 * | httpTransportSlots       | @opentelemetry/otlp-exporter-base 0.223 | hand the HTTP transport our agent and `request` (no ESM import of node:http: +13 MiB on Node 24) |
 * | grpcTransport            | @opentelemetry/otlp-grpc-exporter-base 0.223 | the same retry policy and spool for OTLP/gRPC (upstream's does not retry) |
 * | retryingTransport        | @opentelemetry/otlp-exporter-base 0.223 | replace upstream's retry loop with one shutdown can stop |
 * | exporterSerializer       | @opentelemetry/otlp-exporter-base 0.223 | add exemplars to OTLP metric requests (upstream's serializer drops them); encode spans in one pass (span-serializer.ts) |
 * | batchLogQueueFull        | @opentelemetry/sdk-logs 0.223    | refuse a record before it is built when the queue is full |
 * | tracerOptions            | @opentelemetry/sdk-trace 2.12    | the provider's sampler, limits, ids and processors for our LeanTracer (tracer-lean.ts) |
 */

/**
 * Enter `ctx` for the rest of the current async resource. The SDK's AsyncLocalStorageContextManager
 * keeps its store in `_asyncLocalStorage`; `attach()` is the public form on newer managers.
 */
export function contextEnter(): ((ctx: Context) => void) | undefined {
  try {
    const cm = (
      context as unknown as { _getContextManager?: () => unknown }
    )._getContextManager?.() as
      | {
          _asyncLocalStorage?: { enterWith?: (store: unknown) => void };
          attach?: (ctx: Context) => unknown;
        }
      | undefined;
    const als = cm?._asyncLocalStorage;
    if (als !== undefined && typeof als.enterWith === 'function') {
      return (ctx) => als.enterWith!(ctx);
    }
    if (cm !== undefined && typeof cm.attach === 'function') {
      const attach = cm.attach.bind(cm);
      return (ctx) => void attach(ctx);
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** The API's global registry (`global-utils.ts`: one slot per major version, shared by copies). */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
/** The API's span key: `createContextKey` uses `Symbol.for`, so every API copy shares it. */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');

interface AlsLike {
  getStore(): unknown;
}

/**
 * A reader of the active span, for paths that ask per call (fs exemplars): the same answer as
 * `trace.getSpan(context.active())`, without the API's `_getContextManager()` → `getGlobal()`
 * walk (global symbol, version check) and the manager's `active()`. Per call it reads the
 * registered context manager from the API's global slot; while that is the one it resolved
 * before, and an AsyncLocalStorageContextManager, the span comes from the storage's store
 * directly. Any other manager (or none) takes the public path, so a manager the app registers
 * later is honoured.
 */
export function createActiveSpanReader(): () => Span | undefined {
  const slot = globalThis as { [API_GLOBAL]?: { context?: unknown } };
  let manager: unknown = null;
  let als: AlsLike | undefined;
  return () => {
    const current = slot[API_GLOBAL]?.context;
    if (current !== manager) {
      manager = current;
      als = undefined;
      const candidate = (current as { _asyncLocalStorage?: Partial<AlsLike> } | undefined)
        ?._asyncLocalStorage;
      if (candidate !== undefined && typeof candidate.getStore === 'function') {
        als = candidate as AlsLike;
      }
    }
    if (als === undefined) return trace.getSpan(context.active());
    const store = als.getStore() as Context | undefined;
    return store === undefined ? undefined : (store.getValue(SPAN_KEY) as Span | undefined);
  };
}

/** Transport calls every OTLP transport answers. */
export interface OtlpTransport {
  send(data: Uint8Array, timeoutMillis: number): Promise<unknown>;
  shutdown(): void;
}

/**
 * The HTTP transport's lazily filled `_utils` slot (`{ agent, request }`, loaded by a dynamic
 * `import('http')` at the first export) and the URL it will send to. Undefined when the slot is
 * already filled or the shape differs.
 */
export function httpTransportSlots(
  transport: object,
): { url: string; fill(utils: { agent: unknown; request: unknown }): void } | undefined {
  const t = transport as { _utils?: unknown; _parameters?: { url?: unknown } };
  if (t._utils !== null || typeof t._parameters?.url !== 'string') return undefined;
  return {
    url: t._parameters.url,
    fill(utils) {
      t._utils = utils;
    },
  };
}

/**
 * An OTLP exporter's RetryingTransport (`_delegate._transport`) and the transport it wraps
 * (`._transport`), with a setter that replaces the retrying one.
 */
export function retryingTransport(
  exporter: object,
): { inner: OtlpTransport; replace(t: OtlpTransport): void } | undefined {
  const delegate = (
    exporter as { _delegate?: { _transport?: { _transport?: Partial<OtlpTransport> } } }
  )._delegate;
  const inner = delegate?._transport?._transport;
  if (delegate === undefined || inner === undefined || typeof inner.send !== 'function')
    return undefined;
  return {
    inner: inner as OtlpTransport,
    replace(t) {
      (delegate as { _transport?: unknown })._transport = t;
    },
  };
}

/**
 * A gRPC OTLP exporter's transport (`_delegate._transport`, its `_parameters.grpcName` names the
 * service), with a setter that replaces it. Undefined for any other exporter or shape.
 */
export function grpcTransport(
  exporter: object,
): { inner: OtlpTransport; replace(t: OtlpTransport): void } | undefined {
  const delegate = (
    exporter as {
      _delegate?: {
        _transport?: Partial<OtlpTransport> & { _parameters?: { grpcName?: unknown } };
      };
    }
  )._delegate;
  const t = delegate?._transport;
  if (delegate === undefined || t === undefined) return undefined;
  if (typeof t._parameters?.grpcName !== 'string' || typeof t.send !== 'function') return undefined;
  return {
    inner: t as OtlpTransport,
    replace(next) {
      (delegate as { _transport?: unknown })._transport = next;
    },
  };
}

/**
 * Whether a BatchLogRecordProcessor's queue (`_finishedLogRecords`) is at its bound
 * (`_maxQueueSize`); undefined when the shape differs. Asked once per log record: no allocation.
 */
export function batchLogQueueFull(processor: object): boolean | undefined {
  const p = processor as { _finishedLogRecords?: unknown; _maxQueueSize?: unknown };
  const queue = p._finishedLogRecords;
  const max = p._maxQueueSize;
  if (!Array.isArray(queue) || typeof max !== 'number') return undefined;
  return queue.length >= max;
}

/** What an OTLP exporter's serializer does (otlp-exporter-base's ISerializer). */
export interface OtlpSerializer {
  serializeRequest(request: unknown): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

/** An OTLP exporter's serializer (`_delegate._serializer`), with a setter that replaces it. */
export function exporterSerializer(
  exporter: object,
): { current: OtlpSerializer; replace(s: OtlpSerializer): void } | undefined {
  const delegate = (exporter as { _delegate?: { _serializer?: Partial<OtlpSerializer> } })
    ._delegate;
  const current = delegate?._serializer;
  if (
    delegate === undefined ||
    current === undefined ||
    typeof current.serializeRequest !== 'function'
  )
    return undefined;
  return {
    current: current as OtlpSerializer,
    replace(s) {
      delegate._serializer = s;
    },
  };
}

/**
 * What the SDK's TracerProvider hands each Tracer it builds (`_tracerOptions`: resource, sampler,
 * span limits merged with OTEL_SPAN_* env, id generator, the MultiSpanProcessor of every
 * registered processor), or undefined when the shape differs (then the SDK's own Tracer is used).
 */
export function tracerOptions<T>(provider: object, isShape: (o: unknown) => o is T): T | undefined {
  const o = (provider as { _tracerOptions?: unknown })._tracerOptions;
  return isShape(o) ? o : undefined;
}

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
 * value is valid as is, instead of copying it key by key into a second object (tracer-lean.ts).
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
