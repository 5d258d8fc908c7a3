import { BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';

/** The two fields of the SDK's batch processor that say whether its queue has room. */
interface QueueState {
  readonly _finishedLogRecords?: unknown;
  readonly _maxQueueSize?: unknown;
}

/**
 * The SDK's BatchLogRecordProcessor, unchanged, plus `enabled()`: false while its queue is full.
 * The SDK's Logger asks `enabled()` before it builds a LogRecord, and the processor drops every
 * record that arrives while the queue is full, so a record it would drop is no longer built. In
 * a one-tick burst (no export can finish within the tick) the queue fills after a few thousand
 * records: of 200 000 lines logged in one loop, the SDK built ~197 000 LogRecords only to drop
 * them, and that allocation was what grew V8's young generation (bench/logger.mjs: `echoes+otlp`
 * burst). Which records are exported and which are dropped is exactly as before.
 *
 * The queue is the processor's private state (@opentelemetry/sdk-logs 0.2xx); if its shape ever
 * changes, `enabled()` answers true and the processor behaves as the stock one.
 */
export class QueueGatedBatchLogRecordProcessor extends BatchLogRecordProcessor {
  enabled(): boolean {
    const { _finishedLogRecords: queue, _maxQueueSize: max } = this as unknown as QueueState;
    if (!Array.isArray(queue) || typeof max !== 'number') return true;
    return queue.length < max;
  }
}
