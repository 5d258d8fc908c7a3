/* eslint-disable prefer-rest-params -- the wrappers pass `arguments` straight to apply, which V8
   optimises; rest parameters would allocate an array per fs call (bench/fs.mjs measures the path). */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { Target } from './fs-ops.js';
import {
  bytesOf,
  groupFor,
  handleBytes,
  trackFd,
  type OpRecorder,
  type State,
} from './fs-record.js';

/**
 * The wrappers that replace node:fs functions (sync, callback, promise, FileHandle methods), and
 * the nesting state (`depth`, `inPromiseOp`) that makes one app call count once however many
 * exported fs functions Node runs for it. Each wrapper reads its arguments by index and records
 * through its OpRecorder (fs-record.ts); fs.ts decides what gets wrapped.
 */

export type AnyFn = (...args: unknown[]) => unknown;

/** Keeps what callers rely on: util.promisify's custom symbols (fs.read resolves to { bytesRead, buffer }), `.native`, length and name. */
export function copyProps(from: AnyFn, to: AnyFn): void {
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
/**
 * On Node 20 (AsyncLocalStorage on async_hooks) every enabled storage is copied onto every new
 * promise of the whole app, for as long as it stays enabled: one fs.promises call (ioredis reads its
 * package.json at connect) would make every later promise pay a second store, about 80 ns each
 * (bench/results/real-services.md). So the storage is switched off again whenever no promise
 * operation is in flight. Node 24's AsyncContextFrame copies nothing per promise, and its
 * `disable()` edits the current frame: there it stays on.
 */
const disableWhenIdle =
  typeof (AsyncLocalStorage.prototype as unknown as { _propagate?: unknown })._propagate ===
  'function';

/** Tests: whether the nesting store is on (undefined where it is never switched off). */
export function nestingStoreEnabled(): boolean | undefined {
  return disableWhenIdle ? (inPromiseOp as unknown as { enabled: boolean }).enabled : undefined;
}

function disableIfIdle(): void {
  if (promisesInFlight === 0 && disableWhenIdle) inPromiseOp.disable();
}

function promiseOpSettled(): void {
  promisesInFlight--;
  disableIfIdle();
}

function isThenable(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function nested(): boolean {
  return depth !== 0 || (promisesInFlight !== 0 && inPromiseOp.getStore() === true);
}

export function wrapSync(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
  const spec = rec.spec;
  const target = spec.target;
  let wrapped: AnyFn;
  if (spec.bytes === 'none' && spec.fd === 'none') {
    // stat, access, mkdir, ...: the leanest shape, `arguments` only read by index and applied.
    // `duplicates` pairs it with the general wrapper below: a twin on purpose, with no byte or fd
    // bookkeeping on the most frequent calls (measured in bench/fs.mjs).
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

export function wrapCallback(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
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
 * see `depth`, the ones it chains after an await see `inPromiseOp`, so neither counts again. A
 * promise it returns is counted in flight until the caller's `promiseOpSettled`; a synchronous
 * throw (an invalid argument) or an odd non-promise result leaves nothing in flight.
 */
function callPromiseOp(self: unknown, orig: AnyFn, args: IArguments): unknown {
  depth = 1;
  let p: unknown;
  try {
    p = inPromiseOp.run(true, () => orig.apply(self, args as unknown as unknown[]));
  } catch (err) {
    disableIfIdle();
    throw err;
  } finally {
    depth = 0;
  }
  if (isThenable(p)) promisesInFlight++;
  else disableIfIdle();
  return p;
}

export function wrapPromise(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
  const spec = rec.spec;
  const wrapped = function (this: unknown) {
    const args = arguments;
    if (nested()) return orig.apply(this, args as unknown as unknown[]);
    const t0 = performance.now();
    // A synchronous throw (invalid argument) is not measured: it is no fs operation.
    const p = callPromiseOp(this, orig, args);
    // Never turn an odd return value into an error of ours.
    if (!isThenable(p)) return p;
    return p.then(
      (result) => {
        promiseOpSettled();
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
        promiseOpSettled();
        failedSafely(state, rec, spec.target, args[0], t0, err);
        throw err;
      },
    );
  };
  copyProps(orig, wrapped as AnyFn);
  return wrapped as AnyFn;
}

/** A FileHandle method, recorded as api=promise in the group its fd was opened in. */
export function wrapHandleMethod(state: State, rec: OpRecorder, orig: AnyFn): AnyFn {
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
    if (!isThenable(p)) return p;
    return p.then(
      (result) => {
        promiseOpSettled();
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
        promiseOpSettled();
        failedSafely(state, rec, 'fd', fd, t0, err);
        throw err;
      },
    );
  };
  copyProps(orig, wrapped as AnyFn);
  return wrapped as AnyFn;
}
