/* eslint-disable prefer-rest-params -- the wrappers pass `arguments` straight to apply, which V8
   optimises; rest parameters would allocate an array per fs call (bench/fs.mjs measures the path). */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';
import { context, diag, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { instrumentOptions, METRIC } from './catalog.js';
import type {
  BoundCounter,
  BoundHistogram,
  FastCounter,
  FastHistogram,
  Feature,
  SetupContext,
} from './feature.js';
import { createPathGrouper, OTHER_GROUP, type PathGrouper } from './path-groups.js';

/**
 * Metrics-only instrumentation of node:fs: operations, duration and bytes by `fs.operation`,
 * `fs.api` (sync, callback, promise, stream) and a low-cardinality `fs.path.group`.
 *
 * The builtin module objects are patched (`fs` and `fs.promises`, which is the very object
 * `node:fs/promises` exports), then `syncBuiltinESMExports()` makes ESM named imports see the
 * patched functions. Streams are measured by handing them our own `options.fs` (the hook Node's
 * ReadStream/WriteStream expose), so their open/read/write/close are counted once, as `stream`.
 *
 * The hot path is bound up front: each wrapped function owns its slots per path group (one Map
 * lookup), the path → group mapping is cached, fd → group is an array index, and recording is a few
 * number writes through fast-metrics. No spans, no attribute objects per call.
 */

type Api = 'sync' | 'callback' | 'promise' | 'stream';
/** How the first argument names the file: a path, an fd, either, or nothing useful. */
type Target = 'path' | 'fd' | 'pathOrFd' | 'none';
/** Which bytes the call moved, read from its arguments or result. */
type Bytes =
  | 'none'
  | 'resultRead' // result is a number of bytes read (read, readv)
  | 'resultWrite' // result is a number of bytes written (write, writev)
  | 'dataRead' // result is file content (readFile)
  | 'argWrite'; // args[1] is the content written (writeFile, appendFile)
/** Bookkeeping of fd → group for open/close. */
type FdEffect = 'none' | 'open' | 'close';

interface OpSpec {
  readonly op: string;
  readonly target: Target;
  readonly bytes: Bytes;
  readonly fd: FdEffect;
}

function spec(op: string, target: Target, bytes: Bytes = 'none', fd: FdEffect = 'none'): OpSpec {
  return { op, target, bytes, fd };
}

/** Operations measured in every API style (name without `Sync`). */
const OPS: readonly OpSpec[] = [
  spec('readFile', 'pathOrFd', 'dataRead'),
  spec('writeFile', 'pathOrFd', 'argWrite'),
  spec('appendFile', 'pathOrFd', 'argWrite'),
  spec('open', 'path', 'none', 'open'),
  spec('close', 'fd', 'none', 'close'),
  spec('read', 'fd', 'resultRead'),
  spec('write', 'fd', 'resultWrite'),
  spec('readv', 'fd', 'resultRead'),
  spec('writev', 'fd', 'resultWrite'),
  spec('fsync', 'fd'),
  spec('fdatasync', 'fd'),
  spec('fstat', 'fd'),
  spec('ftruncate', 'fd'),
  spec('stat', 'path'),
  spec('lstat', 'path'),
  spec('access', 'path'),
  spec('readdir', 'path'),
  spec('mkdir', 'path'),
  spec('mkdtemp', 'path'),
  spec('rm', 'path'),
  spec('rmdir', 'path'),
  spec('unlink', 'path'),
  spec('rename', 'path'),
  spec('copyFile', 'path'),
  spec('truncate', 'path'),
  spec('chmod', 'path'),
  spec('utimes', 'path'),
  spec('readlink', 'path'),
  spec('symlink', 'path'),
];

/** Functions of `fs.promises` (FileHandle-based ones are not module functions). */
const PROMISE_OPS = new Set([
  'readFile',
  'writeFile',
  'appendFile',
  'open',
  'stat',
  'lstat',
  'access',
  'readdir',
  'mkdir',
  'mkdtemp',
  'rm',
  'rmdir',
  'unlink',
  'rename',
  'copyFile',
  'truncate',
  'chmod',
  'utimes',
  'readlink',
  'symlink',
]);

/** Histogram buckets in seconds: fs calls span microseconds (cached stat) to seconds (fsync). */
export const FS_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
  0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);

interface GroupSlots {
  readonly ops: BoundCounter;
  readonly duration: BoundHistogram;
  readonly io: BoundCounter | undefined;
}

interface Instruments {
  readonly operations: FastCounter;
  readonly duration: FastHistogram;
  readonly io: FastCounter;
}

/** The bound slots of one (operation, api) pair, per path group. */
class OpRecorder {
  readonly #groups = new Map<string, GroupSlots>();
  readonly #failures = new Map<string, GroupSlots>();
  constructor(
    readonly spec: OpSpec,
    readonly api: Api,
    readonly instruments: Instruments,
    /** Set only with `fs.spans` on: then calls made inside an active span also get a child span. */
    readonly tracer: Tracer | undefined = undefined,
  ) {}

  /**
   * A span for a call already finished, parented to the active span (fs callbacks and promise
   * reactions run in the context of the call). Calls outside any span get none: no root spans.
   */
  #span(group: string, t0: number, errorType: string | undefined): void {
    const parent = context.active();
    if (trace.getSpan(parent) === undefined) return;
    const span = this.tracer!.startSpan(
      `fs ${this.spec.op}`,
      {
        kind: SpanKind.INTERNAL,
        startTime: performance.timeOrigin + t0,
        attributes: { 'fs.operation': this.spec.op, 'fs.api': this.api, 'fs.path.group': group },
      },
      parent,
    );
    if (errorType !== undefined) {
      span.setAttribute('error.type', errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(performance.timeOrigin + performance.now());
  }

  #bind(group: string): GroupSlots {
    const { op, bytes } = this.spec;
    const attrs = { 'fs.operation': op, 'fs.api': this.api, 'fs.path.group': group };
    const direction =
      bytes === 'resultRead' || bytes === 'dataRead'
        ? 'read'
        : bytes === 'none'
          ? undefined
          : 'write';
    const slots: GroupSlots = {
      ops: this.instruments.operations.bind(attrs),
      duration: this.instruments.duration.bind(attrs),
      io:
        direction === undefined
          ? undefined
          : this.instruments.io.bind({
              'fs.direction': direction,
              'fs.api': this.api,
              'fs.path.group': group,
            }),
    };
    this.#groups.set(group, slots);
    return slots;
  }

  #lastGroup = '';
  #lastSlots: GroupSlots | undefined;

  ok(group: string, t0: number, bytes: number): void {
    // Calls of one function mostly hit one group in a row: skip the Map then.
    let s = this.#lastSlots;
    if (group !== this.#lastGroup || s === undefined) {
      s = this.#groups.get(group) ?? this.#bind(group);
      this.#lastGroup = group;
      this.#lastSlots = s;
    }
    s.ops.add(1);
    // The active span (~20 ns to look up) lets a sampled call become its bucket's exemplar.
    s.duration.record((performance.now() - t0) / 1000, trace.getSpan(context.active()));
    if (bytes > 0 && s.io !== undefined) s.io.add(bytes);
    if (this.tracer !== undefined) this.#span(group, t0, undefined);
  }

  /** Failures (an ENOENT probe can be routine) are bound per group and error type on first sight. */
  failed(group: string, t0: number, err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    const type = typeof code === 'string' ? code : String((err as Error | null)?.name ?? 'Error');
    const key = `${group}\0${type}`;
    let s = this.#failures.get(key);
    if (s === undefined) {
      const attrs = {
        'fs.operation': this.spec.op,
        'fs.api': this.api,
        'fs.path.group': group,
        'error.type': type,
      };
      s = {
        ops: this.instruments.operations.bind(attrs),
        duration: this.instruments.duration.bind(attrs),
        io: undefined,
      };
      // error types are a bounded set of errno codes; the cap only guards against odd error names
      if (this.#failures.size < 256) this.#failures.set(key, s);
    }
    s.ops.add(1);
    s.duration.record((performance.now() - t0) / 1000, trace.getSpan(context.active()));
    if (this.tracer !== undefined) this.#span(group, t0, type);
  }
}

function encodingOf(options: unknown): BufferEncoding | undefined {
  if (typeof options === 'string') return options as BufferEncoding;
  if (options !== null && typeof options === 'object') {
    const e = (options as { encoding?: unknown }).encoding;
    if (typeof e === 'string') return e as BufferEncoding;
  }
  return undefined;
}

function sizeOf(data: unknown, encoding: BufferEncoding | undefined): number {
  if (typeof data === 'string') return Buffer.byteLength(data, encoding ?? 'utf8');
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0; // streams and iterables (promises.writeFile): not measured
}

/** Shared state of the installed patch. */
interface State {
  /** Called with the first FileHandle seen (fs.promises.open), to patch its class once. */
  onHandle: ((handle: object) => void) | undefined;
  /** Called with every FileHandle opened, to wrap its own `close`. */
  eachHandle: ((handle: object) => void) | undefined;
  /** False after shutdown: per-handle wrappers that outlive the patch then only forward. */
  active: boolean;
  readonly grouper: PathGrouper;
  /** fd → group, remembered from open; array index is the cheapest lookup there is. */
  readonly fdGroups: (string | undefined)[];
}

function groupFor(state: State, target: Target, first: unknown): string {
  if (target === 'none') return OTHER_GROUP;
  if (typeof first === 'number')
    return target === 'path' ? OTHER_GROUP : (state.fdGroups[first] ?? OTHER_GROUP);
  if (typeof first === 'string') return state.grouper.groupOf(first);
  if (
    target !== 'path' &&
    typeof first === 'object' &&
    first !== null &&
    !(first instanceof URL) &&
    !Buffer.isBuffer(first)
  ) {
    // a FileHandle ({ fd }) where an fd is accepted, e.g. fs.promises.readFile(handle)
    const fd = (first as { fd?: unknown }).fd;
    return typeof fd === 'number' ? (state.fdGroups[fd] ?? OTHER_GROUP) : OTHER_GROUP;
  }
  return target === 'fd' ? OTHER_GROUP : state.grouper.groupOf(first);
}

/** Bytes moved, from the second and third arguments or the result (never the arguments object: it would have to be materialised). */
function bytesOf(spec: OpSpec, a1: unknown, a2: unknown, result: unknown): number {
  switch (spec.bytes) {
    case 'none':
      return 0;
    case 'resultRead':
    case 'resultWrite':
      return typeof result === 'number' ? result : 0;
    case 'dataRead':
      return sizeOf(result, encodingOf(a1));
    case 'argWrite':
      return sizeOf(a1, encodingOf(a2));
  }
}

function trackFd(state: State, spec: OpSpec, group: string, a0: unknown, result: unknown): void {
  if (spec.fd === 'open') {
    if (typeof result === 'object' && result !== null) {
      if (state.onHandle !== undefined) state.onHandle(result);
      state.eachHandle?.(result);
    }
    const fd = typeof result === 'number' ? result : (result as { fd?: unknown } | null)?.fd;
    if (typeof fd === 'number' && fd >= 0 && fd < 1 << 20) state.fdGroups[fd] = group;
  } else if (spec.fd === 'close') {
    if (typeof a0 === 'number') state.fdGroups[a0] = undefined;
  }
}

type AnyFn = (...args: unknown[]) => unknown;

/** Keeps what callers rely on: util.promisify's custom symbols (fs.read resolves to { bytesRead, buffer }), `.native`, length and name. */
function copyProps(from: AnyFn, to: AnyFn): void {
  for (const key of Reflect.ownKeys(from)) {
    if (
      key === 'length' ||
      key === 'name' ||
      key === 'prototype' ||
      key === 'arguments' ||
      key === 'caller'
    )
      continue;
    const d = Object.getOwnPropertyDescriptor(from, key);
    if (d !== undefined) Object.defineProperty(to, key, d);
  }
  Object.defineProperty(to, 'length', { value: from.length, configurable: true });
  Object.defineProperty(to, 'name', { value: from.name, configurable: true });
}

/**
 * Node implements some fs functions with other exported ones (appendFileSync → writeFileSync,
 * readFileSync → openSync/readSync/closeSync on Node 20, writeFile → open/write/close, rm → lstat):
 * one app call must count once. `depth` is non-zero while an outer measured call runs, including
 * inside the internal callbacks it chains (nested callbacks raise it), and is reset to 0 around the
 * app's own callback.
 */
let depth = 0;
/**
 * Promise APIs continue in microtasks, where `depth` is back to 0 (fs.promises.rm calls the
 * exported `lstat` after an await). While any promise call is in flight its internal steps are
 * recognised by this store; the ALS lookup only happens then, so the common path pays one compare.
 */
const inPromiseOp = new AsyncLocalStorage<true>();
let promisesInFlight = 0;

function nested(): boolean {
  return depth !== 0 || (promisesInFlight !== 0 && inPromiseOp.getStore() === true);
}

function wrapSync(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
  const spec = rec.spec;
  const target = spec.target;
  let wrapped: AnyFn;
  if (spec.bytes === 'none' && spec.fd === 'none') {
    // stat, access, mkdir, ...: the leanest shape, `arguments` only read by index and applied.
    wrapped = function (this: unknown) {
      if (nested()) return orig.apply(this, arguments as unknown as unknown[]);
      const a0 = arguments[0];
      const t0 = performance.now();
      let result: unknown;
      depth = 1;
      try {
        result = orig.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        depth = 0;
        failedSafely(state, rec, target, a0, t0, err);
        throw err;
      }
      depth = 0;
      try {
        rec.ok(groupFor(state, target, a0), t0, 0);
      } catch {
        // never reaches the app
      }
      return result;
    };
  } else {
    wrapped = function (this: unknown) {
      if (nested()) return orig.apply(this, arguments as unknown as unknown[]);
      const a0 = arguments[0];
      const a1 = arguments[1];
      const a2 = arguments[2];
      const t0 = performance.now();
      let result: unknown;
      depth = 1;
      try {
        result = orig.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        depth = 0;
        failedSafely(state, rec, target, a0, t0, err);
        throw err;
      }
      depth = 0;
      try {
        const group = groupFor(state, target, a0);
        rec.ok(group, t0, bytesOf(spec, a1, a2, result));
        if (spec.fd !== 'none') trackFd(state, spec, group, a0, result);
      } catch {
        // never reaches the app
      }
      return result;
    };
  }
  copyProps(orig, wrapped);
  return wrapped;
}

function failedSafely(
  state: State,
  rec: OpRecorder,
  target: Target,
  a0: unknown,
  t0: number,
  err: unknown,
): void {
  try {
    rec.failed(groupFor(state, target, a0), t0, err);
  } catch {
    // telemetry never changes what the app sees
  }
}

function wrapCallback(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
  const spec = rec.spec;
  const wrapped = function (this: unknown) {
    const n = arguments.length;
    const cb = arguments[n - 1] as unknown;
    // No callback: let Node throw its own argument error.
    if (typeof cb !== 'function') return orig.apply(this, arguments as unknown as unknown[]);
    const args = arguments;
    if (nested()) {
      // Internal step of an outer measured call: not counted, and neither is what its callback chains.
      args[n - 1] = function (this: unknown) {
        const d = depth;
        depth = d + 1;
        try {
          return (cb as AnyFn).apply(this, arguments as unknown as unknown[]);
        } finally {
          depth = d;
        }
      };
      return orig.apply(this, args as unknown as unknown[]);
    }
    const t0 = performance.now();
    args[n - 1] = function (this: unknown, err: unknown, result: unknown) {
      try {
        const group = groupFor(state, spec.target, args[0]);
        if (err) rec.failed(group, t0, err);
        else {
          rec.ok(group, t0, bytesOf(spec, args[1], args[2], result));
          if (spec.fd !== 'none') trackFd(state, spec, group, args[0], result);
        }
      } catch {
        // never reaches the app
      }
      const d = depth;
      depth = 0; // the app's callback is app code: its fs calls count
      try {
        return (cb as AnyFn).apply(this, arguments as unknown as unknown[]);
      } finally {
        depth = d;
      }
    };
    depth = 1;
    try {
      return orig.apply(this, args as unknown as unknown[]);
    } finally {
      depth = 0;
    }
  };
  copyProps(orig, wrapped as AnyFn);
  return wrapped as AnyFn;
}

/**
 * Calls a promise-returning original as one measured operation: its synchronous internal steps
 * see `depth`, the ones it chains after an await see `inPromiseOp`, so neither counts again.
 */
function callPromiseOp(self: unknown, orig: AnyFn, args: IArguments): Promise<unknown> {
  depth = 1;
  try {
    return inPromiseOp.run(
      true,
      () => orig.apply(self, args as unknown as unknown[]) as Promise<unknown>,
    );
  } finally {
    depth = 0;
  }
}

function wrapPromise(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
  const spec = rec.spec;
  const wrapped = function (this: unknown) {
    const args = arguments;
    if (nested()) return orig.apply(this, args as unknown as unknown[]);
    const t0 = performance.now();
    // A synchronous throw (invalid argument) is not measured: it is no fs operation.
    const p = callPromiseOp(this, orig, args);
    // Never turn an odd return value into an error of ours.
    if (typeof (p as { then?: unknown } | null)?.then !== 'function') return p;
    promisesInFlight++;
    return p.then(
      (result) => {
        promisesInFlight--;
        try {
          const group = groupFor(state, spec.target, args[0]);
          rec.ok(group, t0, bytesOf(spec, args[1], args[2], result));
          if (spec.fd !== 'none') trackFd(state, spec, group, args[0], result);
        } catch {
          // never reaches the app
        }
        return result;
      },
      (err: unknown) => {
        promisesInFlight--;
        failedSafely(state, rec, spec.target, args[0], t0, err);
        throw err;
      },
    );
  };
  copyProps(orig, wrapped as AnyFn);
  return wrapped as AnyFn;
}

/** FileHandle methods (fs.promises.open's result) and what they move (see handleBytes). */
const HANDLE_OPS: readonly { readonly method: string; readonly spec: OpSpec }[] = [
  { method: 'read', spec: spec('read', 'fd', 'resultRead') },
  { method: 'readv', spec: spec('readv', 'fd', 'resultRead') },
  { method: 'write', spec: spec('write', 'fd', 'resultWrite') },
  { method: 'writev', spec: spec('writev', 'fd', 'resultWrite') },
  { method: 'readFile', spec: spec('readFile', 'fd', 'dataRead') },
  { method: 'writeFile', spec: spec('writeFile', 'fd', 'argWrite') },
  { method: 'appendFile', spec: spec('appendFile', 'fd', 'argWrite') },
  { method: 'sync', spec: spec('fsync', 'fd') },
  { method: 'datasync', spec: spec('fdatasync', 'fd') },
  { method: 'stat', spec: spec('fstat', 'fd') },
  { method: 'truncate', spec: spec('ftruncate', 'fd') },
];
/** `close` is an own arrow-function property of each FileHandle (not on the prototype): wrapped per handle. */
const HANDLE_CLOSE = spec('close', 'fd', 'none', 'close');

/**
 * Bytes a FileHandle method moved: like bytesOf, but a handle's read/write resolve to
 * `{ bytesRead }` / `{ bytesWritten }` and its data is the first argument (no fd before it).
 */
function handleBytes(bytes: Bytes, a0: unknown, a1: unknown, result: unknown): number {
  switch (bytes) {
    case 'none':
      return 0;
    case 'resultRead': {
      const n = (result as { bytesRead?: unknown } | null)?.bytesRead;
      return typeof n === 'number' ? n : 0;
    }
    case 'resultWrite': {
      const n = (result as { bytesWritten?: unknown } | null)?.bytesWritten;
      return typeof n === 'number' ? n : 0;
    }
    case 'dataRead':
      return sizeOf(result, encodingOf(a0));
    case 'argWrite':
      return sizeOf(a0, encodingOf(a1));
  }
}

/** A FileHandle method, recorded as api=promise in the group its fd was opened in. */
function wrapHandleMethod(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
  const bytes = rec.spec.bytes;
  const wrapped = function (this: { fd?: unknown }) {
    const args = arguments;
    if (!state.active || nested()) return orig.apply(this, args as unknown as unknown[]);
    const fd = this?.fd;
    const a0 = args[0];
    const a1 = args[1];
    const t0 = performance.now();
    const p = callPromiseOp(this, orig, args);
    // Never turn an odd return value into an error of ours.
    if (typeof (p as { then?: unknown } | null)?.then !== 'function') return p;
    promisesInFlight++;
    return p.then(
      (result) => {
        promisesInFlight--;
        try {
          const group = groupFor(state, 'fd', fd);
          rec.ok(group, t0, handleBytes(bytes, a0, a1, result));
          if (rec.spec.fd === 'close' && typeof fd === 'number') state.fdGroups[fd] = undefined;
        } catch {
          // never reaches the app
        }
        return result;
      },
      (err: unknown) => {
        promisesInFlight--;
        failedSafely(state, rec, 'fd', fd, t0, err);
        throw err;
      },
    );
  };
  copyProps(orig, wrapped as AnyFn);
  return wrapped as AnyFn;
}

interface Patch {
  readonly target: Record<string, unknown>;
  readonly key: string;
  readonly original: unknown;
}

let installed: { state: State; patches: Patch[] } | undefined;

/**
 * The original `fs.promises` function, whatever is patched now: for our own monitors (dirs.ts),
 * whose directory walks must not show up in the app's disk-I/O figures.
 */
export function unpatchedPromises<K extends keyof typeof fs.promises>(
  key: K,
): (typeof fs.promises)[K] {
  const p = installed?.patches.find((x) => x.target === (fs.promises as unknown) && x.key === key);
  return (p?.original ?? fs.promises[key]) as (typeof fs.promises)[K];
}

/**
 * Patches node:fs for metrics. Only one installation at a time (a second call returns a feature
 * that does nothing); `shutdown` restores every original function.
 */
export function setupFsMetrics(ctx: SetupContext): Feature {
  if (installed !== undefined) {
    diag.warn(
      'echoes-otel: fs metrics are already installed; the second setupFsMetrics call is ignored',
    );
    return { name: 'fs', shutdown() {} };
  }
  const instruments: Instruments = {
    operations: ctx.fastMetrics.counter(
      METRIC.fsOperations,
      instrumentOptions(METRIC.fsOperations),
    ),
    duration: ctx.fastMetrics.histogram(METRIC.fsDuration, {
      ...instrumentOptions(METRIC.fsDuration),
      boundaries: FS_DURATION_BUCKETS,
    }),
    io: ctx.fastMetrics.counter(METRIC.fsIo, instrumentOptions(METRIC.fsIo)),
  };
  const state: State = {
    onHandle: undefined,
    eachHandle: undefined,
    active: true,
    grouper: createPathGrouper(ctx.config.fs.pathGroups),
    fdGroups: [],
  };
  const patches: Patch[] = [];
  // Spans only when asked for (ECHOES_FS_SPANS): metrics-only is the default and the hot path then
  // carries no tracing work at all.
  const tracer: Tracer | undefined =
    ctx.config.fs.spans === true && ctx.tracer !== undefined ? ctx.tracer : undefined;
  const fsObj = fs as unknown as Record<string, unknown>;
  const promisesObj = fs.promises as unknown as Record<string, unknown>;

  function patch(target: Record<string, unknown>, key: string, make: (orig: AnyFn) => AnyFn): void {
    const original = target[key];
    if (typeof original !== 'function') return;
    try {
      target[key] = make(original as AnyFn);
      patches.push({ target, key, original });
    } catch (err) {
      diag.warn(`echoes-otel: could not patch fs ${key} (${String(err)}); it is not measured`);
    }
  }

  const streamFs: Record<string, AnyFn> = {};
  for (const s of OPS) {
    patch(fsObj, `${s.op}Sync`, (o) =>
      wrapSync(state, new OpRecorder(s, 'sync', instruments, tracer), o),
    );
    patch(fsObj, s.op, (o) =>
      wrapCallback(state, new OpRecorder(s, 'callback', instruments, tracer), o),
    );
    if (PROMISE_OPS.has(s.op)) {
      patch(promisesObj, s.op, (o) =>
        wrapPromise(state, new OpRecorder(s, 'promise', instruments, tracer), o),
      );
    }
  }
  // FileHandle's class is not exported: patch its prototype when the first handle shows up.
  state.onHandle = (handle) => {
    state.onHandle = undefined;
    const proto = Object.getPrototypeOf(handle) as Record<string, unknown> | null;
    if (proto === null || proto === Object.prototype) return;
    for (const h of HANDLE_OPS) {
      patch(proto, h.method, (o) =>
        wrapHandleMethod(state, new OpRecorder(h.spec, 'promise', instruments, tracer), o),
      );
    }
  };
  const closeRecorder = new OpRecorder(HANDLE_CLOSE, 'promise', instruments, tracer);
  state.eachHandle = (handle) => {
    const h = handle as { close?: unknown };
    if (typeof h.close === 'function' && Object.prototype.hasOwnProperty.call(h, 'close')) {
      // A handle still open at shutdown keeps this wrapper, which then only forwards (state.active).
      h.close = wrapHandleMethod(state, closeRecorder, h.close as AnyFn);
    }
  };
  // What ReadStream/WriteStream call through `options.fs`: the originals, recorded as `stream`.
  for (const s of OPS) {
    if (['open', 'close', 'read', 'write', 'writev', 'fsync'].includes(s.op)) {
      const orig = (patches.find((p) => p.target === fsObj && p.key === s.op)?.original ??
        fsObj[s.op]) as AnyFn;
      streamFs[s.op] = wrapCallback(state, new OpRecorder(s, 'stream', instruments, tracer), orig);
    }
  }
  const withStreamFs = (options: unknown): unknown => {
    if (typeof options === 'string') return { encoding: options, fs: streamFs };
    if (options === undefined || options === null) return { fs: streamFs };
    if (typeof options !== 'object') return options;
    const o = options as { fs?: unknown; fd?: unknown };
    // A custom fs or a FileHandle fd (Node refuses custom fs with it): leave the stream alone.
    if (o.fs !== undefined || (o.fd !== null && typeof o.fd === 'object')) return options;
    return { ...o, fs: streamFs };
  };
  for (const key of ['createReadStream', 'createWriteStream']) {
    patch(fsObj, key, (orig) => {
      const wrapped = function (this: unknown, path: unknown, options: unknown) {
        let opts = options;
        try {
          opts = withStreamFs(options);
        } catch {
          opts = options;
        }
        return orig.call(this, path, opts);
      };
      copyProps(orig, wrapped as AnyFn);
      return wrapped as AnyFn;
    });
  }

  try {
    syncBuiltinESMExports();
  } catch (err) {
    diag.warn(
      `echoes-otel: syncBuiltinESMExports failed (${String(err)}); ESM named fs imports are not measured`,
    );
  }
  installed = { state, patches };

  return {
    name: 'fs',
    shutdown() {
      if (installed?.patches !== patches) return;
      state.active = false;
      for (const p of patches.reverse()) {
        try {
          p.target[p.key] = p.original;
        } catch {
          // shutdown never throws
        }
      }
      try {
        syncBuiltinESMExports();
      } catch {
        // shutdown never throws
      }
      installed = undefined;
    },
  };
}
