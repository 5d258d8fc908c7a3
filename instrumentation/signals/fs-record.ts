import { performance } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import { createActiveSpanReader } from '../export/sdk-internals.js';
import type { BoundCounter, BoundHistogram, FastCounter, FastHistogram } from '../feature.js';
import type { Bytes, OpSpec, Target, Api } from './fs-ops.js';
import { context, SpanKind, SpanStatusCode, trace } from './otel-api.js';
import { OTHER_GROUP, type PathGrouper } from './path-groups.js';

/**
 * What one measured fs call records: the bound slots of an (operation, api) pair per path group
 * (OpRecorder), the bytes it moved, and the fd → group bookkeeping that lets fd calls find the
 * group their file was opened in. The wrappers (fs-wrap.ts) call into this once per fs call.
 */

/** Histogram buckets in seconds: fs calls span microseconds (cached stat) to seconds (fsync). */
export const FS_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
  0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);

/**
 * The span active at an fs call, which makes a sampled call its bucket's exemplar: read from the
 * context manager's store directly (sdk-internals.ts), about 60 ns less per call than the API's
 * `trace.getSpan(context.active())`, which measured +60-75 ns per node:fs call.
 */
const activeSpan = createActiveSpanReader();

interface GroupSlots {
  readonly ops: BoundCounter;
  readonly duration: BoundHistogram;
  readonly io: BoundCounter | undefined;
}

export interface Instruments {
  readonly operations: FastCounter;
  readonly duration: FastHistogram;
  readonly io: FastCounter;
}

/** The bound slots of one (operation, api) pair, per path group. */
export class OpRecorder {
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
    s.duration.record((performance.now() - t0) / 1000, activeSpan());
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
    s.duration.record((performance.now() - t0) / 1000, activeSpan());
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
export interface State {
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

export function groupFor(state: State, target: Target, first: unknown): string {
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
export function bytesOf(spec: OpSpec, a1: unknown, a2: unknown, result: unknown): number {
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

export function trackFd(
  state: State,
  spec: OpSpec,
  group: string,
  a0: unknown,
  result: unknown,
): void {
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

/**
 * Bytes a FileHandle method moved: like bytesOf, but a handle's read/write resolve to
 * `{ bytesRead }` / `{ bytesWritten }` and its data is the first argument (no fd before it).
 */
export function handleBytes(bytes: Bytes, a0: unknown, a1: unknown, result: unknown): number {
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
