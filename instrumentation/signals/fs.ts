import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { diag, type Tracer } from '@opentelemetry/api';
import { instrumentOptions, METRIC } from '../catalog.js';
import type { Feature, SetupContext } from '../feature.js';
import { HANDLE_CLOSE, HANDLE_OPS, OPS, PROMISE_OPS } from './fs-ops.js';
import { setCurrentPatches, type Patch } from './fs-originals.js';
import { FS_DURATION_BUCKETS, OpRecorder, type Instruments, type State } from './fs-record.js';
import {
  copyProps,
  wrapCallback,
  wrapHandleMethod,
  wrapPromise,
  wrapSync,
  type AnyFn,
} from './fs-wrap.js';
import { createPathGrouper } from './path-groups.js';

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
 *
 * Modules: fs-ops.ts (the op table), fs-record.ts (slots, bytes, fd → group), fs-wrap.ts (the
 * wrappers and their nesting state), fs-originals.ts (what the patch replaced, for dirs.ts); this
 * one patches and restores.
 */

// What other modules and tests import from here.
export { FS_DURATION_BUCKETS } from './fs-record.js';
export { unpatchedPromises } from './fs-originals.js';

let installed: { state: State; patches: Patch[] } | undefined;

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
  setCurrentPatches(patches);

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
      setCurrentPatches(undefined);
    },
  };
}
