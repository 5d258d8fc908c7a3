import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';

/**
 * Carries log records and spans across a collector restart.
 *
 * The SDK's batch processors hand a batch to the OTLP exporter once; the exporter retries for up
 * to its timeout (10 s) and then the batch is gone. A collector restarted or SIGKILLed for 20 s
 * cost about a fifth of the logs and spans sent meanwhile (test/integration/outage.test.ts). Here
 * a batch whose export failed for a reason worth retrying (connection refused or reset, timeout,
 * 429/502/503/504: the transport marks it, export-transport.ts) is held, up to `maxItems`, and
 * sent again with the processor's next batch, or after `retryMs` when no batch comes. Held items
 * are the ones already redacted; they go out ahead of newer ones.
 *
 * Bounded: past `maxItems` the oldest held items are dropped and counted. A non-retryable answer
 * (a 400 means the collector will never take that batch), or a failure once shutdown has begun,
 * drops the batch as the SDK always did, counted too. At shutdown, held items get one attempt
 * within the deadline. Delivery becomes at-least-once: an export that timed out after the
 * collector took it is sent again.
 */

/** Set on an export error by the transport when its last answer was retryable. */
export const RETRYABLE = Symbol.for('echoes-otel.export.retryable');

export function markRetryable(error: unknown): Error {
  const e = error instanceof Error ? error : new Error(String(error ?? 'export failed'));
  (e as unknown as Record<symbol, boolean>)[RETRYABLE] = true;
  return e;
}

export function isRetryable(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as Record<symbol, unknown>)[RETRYABLE] === true
  );
}

/** The part of a span or log record exporter the spool calls. */
export interface BatchExporter<T> {
  export(items: T[], resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

export interface SpoolOptions {
  /** Most items held; 0 holds nothing (the exporter behaves as without the spool). */
  readonly maxItems: number;
  /** Most held items sent along with one batch, or in one resend. */
  readonly maxBatch: number;
  /** Delay before resending held items when no new batch comes. */
  readonly retryMs: number;
  /** True once shutdown has begun: failures are final from then on. */
  readonly stopping: () => boolean;
  /** For the warnings when items are dropped: "log records", "spans". */
  readonly what: string;
  /** Appended to those warnings: where the items still are (" (the log files have them)"). */
  readonly kept?: string;
}

export class ExportSpool<T> implements BatchExporter<T> {
  /** Items held for a resend, oldest first. */
  private _held: T[] = [];
  private _timer: NodeJS.Timeout | undefined;
  /** The resend in flight, if any (one at a time). */
  private _resending: Promise<void> | undefined;
  private readonly _warned = new Set<'full' | 'refused'>();
  private _droppedAtExit = 0;
  /** Items given up on: held past `maxItems`, refused for good, or failed during shutdown. */
  dropped = 0;
  /** Held items that a later export delivered. */
  delivered = 0;

  constructor(
    private readonly _inner: BatchExporter<T>,
    private readonly _opts: SpoolOptions,
  ) {}

  get held(): number {
    return this._held.length;
  }

  export(items: T[], resultCallback: (result: ExportResult) => void): void {
    const room = Math.max(0, this._opts.maxBatch - items.length);
    const taken = room > 0 && this._held.length > 0 ? this._held.splice(0, room) : [];
    const batch = taken.length > 0 ? taken.concat(items) : items;
    this._send(batch, taken.length, (ok, result) => {
      // Held or delivered, the processor has nothing left to do about this batch.
      resultCallback(ok ? { code: ExportResultCode.SUCCESS } : result);
    });
  }

  /**
   * Sends `batch` (its first `fromHeld` items came from the spool); on a retryable failure puts it
   * back in front of the spool. `done(true)` when delivered or held, `done(false, r)` when lost.
   */
  private _send(
    batch: T[],
    fromHeld: number,
    done: (kept: boolean, result: ExportResult) => void,
  ): void {
    let settled = false;
    const settle = (result: ExportResult): void => {
      if (settled) return;
      settled = true;
      if (result.code === ExportResultCode.SUCCESS) {
        this.delivered += fromHeld;
        this._schedule(0);
        done(true, result);
        return;
      }
      if (this._opts.maxItems > 0 && !this._opts.stopping() && isRetryable(result.error)) {
        // Back in order: what came from the spool first, then anything held meanwhile, then
        // the processor's newer items.
        this._held =
          fromHeld === batch.length
            ? batch.concat(this._held)
            : batch.slice(0, fromHeld).concat(this._held, batch.slice(fromHeld));
        this._trim();
        this._schedule(this._opts.retryMs);
        done(true, result);
        return;
      }
      this._drop(
        batch.length,
        this._opts.stopping() ? 'exit' : isRetryable(result.error) ? 'full' : 'refused',
        result.error,
      );
      done(false, result);
    };
    try {
      this._inner.export(batch, settle);
    } catch (err) {
      settle({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  private _trim(): void {
    const over = this._held.length - this._opts.maxItems;
    if (over > 0) {
      this._held.splice(0, over);
      this._drop(over, 'full');
    }
  }

  /** Counts `n` lost items; the first loss of each kind says why, once. */
  private _drop(n: number, kind: 'full' | 'refused' | 'exit', error?: unknown): void {
    if (n <= 0) return;
    this.dropped += n;
    if (kind === 'exit') {
      // Said once, with the total, when shutdown ends.
      this._droppedAtExit += n;
      return;
    }
    if (this._warned.has(kind)) return;
    this._warned.add(kind);
    const { what, maxItems } = this._opts;
    const kept = this._opts.kept ?? '';
    diag.warn(
      kind === 'full'
        ? `echoes-otel: the OTLP retry buffer is full (ECHOES_OTLP_RETRY_BUFFER=${maxItems} ${what}): the collector has been unreachable too long, so the oldest held ${what} are dropped${kept}; further drops are counted quietly`
        : `echoes-otel: the collector refused ${n} ${what} (${error instanceof Error ? error.message : String(error)}); a refused batch is not retried${kept}; further drops are counted quietly`,
    );
  }

  /** Resends held items after `ms` unless a resend is pending or running. Never holds the process. */
  private _schedule(ms: number): void {
    if (this._timer !== undefined || this._resending !== undefined || this._held.length === 0)
      return;
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this._resend();
    }, ms);
    this._timer.unref();
  }

  private _resend(): Promise<void> {
    if (this._resending !== undefined) return this._resending;
    if (this._held.length === 0) return Promise.resolve();
    const batch = this._held.splice(0, this._opts.maxBatch);
    this._resending = new Promise<void>((resolve) => {
      this._send(batch, batch.length, (_kept, result) => {
        this._resending = undefined;
        // Delivered: go on with the rest now; failed again: try later (nothing if none is held).
        this._schedule(result.code === ExportResultCode.SUCCESS ? 0 : this._opts.retryMs);
        resolve();
      });
    });
    return this._resending;
  }

  /** Sends every held item once more (one attempt, in batches), then flushes the exporter. */
  async forceFlush(): Promise<void> {
    if (this._timer !== undefined) {
      clearTimeout(this._timer);
      this._timer = undefined;
    }
    if (this._resending !== undefined) await this._resending;
    // One attempt per held item: a batch that fails again while the app runs stays held for
    // later (and during shutdown a failure is final), so the loop is bounded either way.
    let passes = Math.ceil(this._held.length / Math.max(1, this._opts.maxBatch));
    while (this._held.length > 0 && passes-- > 0) await this._resend();
    await this._inner.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    try {
      await this.forceFlush();
    } finally {
      if (this._timer !== undefined) clearTimeout(this._timer);
      this._timer = undefined;
      // Whatever is still held (the deadline passed mid-resend) is lost with the process.
      this._drop(this._held.length, 'exit');
      this._held = [];
      if (this._droppedAtExit > 0)
        diag.warn(
          `echoes-otel: ${this._droppedAtExit} ${this._opts.what} were not shipped before exit: the collector did not take them${this._opts.kept ?? ''}`,
        );
      await this._inner.shutdown();
    }
  }
}
