import { context, diag, ROOT_CONTEXT, TraceFlags, type Context } from '@opentelemetry/api';
import {
  ExportResultCode,
  globalErrorHandler,
  suppressTracing,
  type ExportResult,
} from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * The SDK's BatchSpanProcessor contract, without its per-span cost.
 *
 * The SDK's processor makes a new `flush` closure on every span end (`_maybeStartTimer`), which
 * the bundle's `keepNames` turns into an `Object.defineProperty` per span, and a new timer per
 * scheduled batch. Here a span end is a sampled-flag check, a bound check and a push; the delay
 * is one unref'd Timeout made once and re-armed with `refresh()`; the functions the timer and an
 * export's end call are made once per processor.
 *
 * Same behaviour as the SDK's (sdk-trace-base 2.12): unsampled spans are ignored; the queue holds
 * `maxQueueSize` spans and drops the newest past it (the first drop said at debug, then one
 * warning with the count when a span is taken again, as the SDK words it); a batch goes out when
 * `maxExportBatchSize` spans wait or `scheduledDelayMillis` after the first span of a batch
 * arrived, one background export at a time; an export that takes longer than
 * `exportTimeoutMillis` is given up on (its timer is unref'd here, ref'd in the SDK); exports run
 * with tracing suppressed; a resource's pending async attributes are awaited first; a failed
 * background export goes to the global error handler. `forceFlush` exports everything queued
 * (and, unlike the SDK's, also waits for a background export in flight); `shutdown` once: spans
 * ending from then on are ignored, the queue is flushed, then the exporter shut down (here even
 * when the flush failed; the shutdown still rejects with the flush's error).
 */

export interface SpanBatchOptions {
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
}

// Exports run in a context with tracing suppressed, so our own OTLP requests make no spans. Made
// once: the root context, not the caller's (an export must not join a request's trace).
const SUPPRESSED: Context = suppressTracing(ROOT_CONTEXT);

export class SpanBatchProcessor implements SpanProcessor {
  private _queue: ReadableSpan[] = [];
  private readonly _maxQueue: number;
  private readonly _maxBatch: number;
  private readonly _delayMs: number;
  private readonly _timeoutMs: number;
  private _timer: NodeJS.Timeout | undefined;
  /** The delay is running for the spans queued. */
  private _armed = false;
  /** A background (timer or full-batch) export is in flight. */
  private _busy = false;
  private readonly _inflight = new Set<Promise<void>>();
  private _dropping = 0;
  private _shutdown: Promise<void> | undefined;
  /** Spans refused because the queue was full, since the processor started. */
  dropped = 0;

  constructor(
    private readonly _exporter: SpanExporter,
    options: SpanBatchOptions,
  ) {
    this._maxQueue = options.maxQueueSize;
    this._maxBatch = Math.min(options.maxExportBatchSize, options.maxQueueSize);
    this._delayMs = options.scheduledDelayMillis;
    this._timeoutMs = options.exportTimeoutMillis;
    this._onTimer = this._onTimer.bind(this);
    this._afterBackground = this._afterBackground.bind(this);
    this._afterBackgroundFailed = this._afterBackgroundFailed.bind(this);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this._shutdown !== undefined) return;
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    const queue = this._queue;
    if (queue.length >= this._maxQueue) {
      if (this._dropping++ === 0) diag.debug('maxQueueSize reached, dropping spans');
      this.dropped++;
      return;
    }
    if (this._dropping > 0) {
      diag.warn(`Dropped ${this._dropping} spans because maxQueueSize reached`);
      this._dropping = 0;
    }
    queue.push(span);
    // An export in flight looks at the queue again when it ends.
    if (this._busy) return;
    if (queue.length >= this._maxBatch) this._exportInBackground();
    else if (!this._armed) this._arm();
  }

  forceFlush(): Promise<void> {
    if (this._shutdown !== undefined) return this._shutdown;
    return this._flushAll();
  }

  shutdown(): Promise<void> {
    this._shutdown ??= this._stop();
    return this._shutdown;
  }

  private async _stop(): Promise<void> {
    try {
      await this._flushAll();
    } finally {
      // Also after a failed flush (the SDK's skips it then): the exporter's own shutdown (the
      // spool's count of what was not shipped, the transport's release) still runs.
      if (this._timer !== undefined) clearTimeout(this._timer);
      this._armed = false;
      await this._exporter.shutdown();
    }
  }

  /** Starts the delay (one Timeout for the processor's life, re-armed; never holds the process). */
  private _arm(): void {
    this._armed = true;
    if (this._timer === undefined) {
      this._timer = setTimeout(this._onTimer, this._delayMs);
      this._timer.unref();
    } else {
      this._timer.refresh();
    }
  }

  private _onTimer(): void {
    // Disarmed meanwhile (a full batch or a flush took the spans): nothing to do.
    if (!this._armed || this._busy) return;
    this._exportInBackground();
  }

  private _exportInBackground(): void {
    this._armed = false;
    if (this._queue.length === 0) return;
    this._busy = true;
    this._exportBatch(this._take()).then(this._afterBackground, this._afterBackgroundFailed);
  }

  private _afterBackground(): void {
    this._busy = false;
    if (this._shutdown !== undefined) return;
    if (this._queue.length >= this._maxBatch) this._exportInBackground();
    else if (this._queue.length > 0) this._arm();
  }

  private _afterBackgroundFailed(error: unknown): void {
    globalErrorHandler(error as Error);
    this._afterBackground();
  }

  /** The oldest batch, out of the queue. */
  private _take(): ReadableSpan[] {
    if (this._queue.length <= this._maxBatch) {
      const all = this._queue;
      this._queue = [];
      return all;
    }
    return this._queue.splice(0, this._maxBatch);
  }

  /** Every queued span in batches (exported side by side, as the SDK does) and what is in flight. */
  private async _flushAll(): Promise<void> {
    this._armed = false;
    const inflight = [...this._inflight];
    const batches: Promise<void>[] = [];
    while (this._queue.length > 0) batches.push(this._exportBatch(this._take()));
    // A background export's failure was reported already; a flushed batch's rejects the flush.
    await Promise.all([...batches, ...inflight.map((p) => p.catch(() => undefined))]);
  }

  /** One export, settled by the exporter's answer or by the export timeout. */
  private _exportBatch(spans: ReadableSpan[]): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new Error('Timeout'));
      }, this._timeoutMs);
      timer.unref();
      const onResult = (result: ExportResult): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        if (result.code === ExportResultCode.SUCCESS) resolve();
        else reject(result.error ?? new Error('BatchSpanProcessor: span export failed'));
      };
      const send = (): void => {
        try {
          context.with(SUPPRESSED, () => this._exporter.export(spans, onResult));
        } catch (err) {
          onResult({ code: ExportResultCode.FAILED, error: err as Error });
        }
      };
      let pending: Promise<void>[] | undefined;
      for (const span of spans) {
        const r = span.resource;
        if (r.asyncAttributesPending && r.waitForAsyncAttributes !== undefined) {
          (pending ??= []).push(r.waitForAsyncAttributes());
        }
      }
      if (pending === undefined) send();
      else
        Promise.all(pending).then(send, (err: unknown) => {
          globalErrorHandler(err as Error);
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          reject(err as Error);
        });
    });
    this._inflight.add(done);
    const forget = (): void => void this._inflight.delete(done);
    done.then(forget, forget);
    return done;
  }
}
