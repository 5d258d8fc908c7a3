import { BatchLogRecordProcessor, type ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { batchLogQueueFull } from './sdk-internals.js';

/**
 * The SDK's BatchLogRecordProcessor, unchanged, plus `enabled()`: false while its queue is full.
 * The SDK's Logger asks `enabled()` before it builds a LogRecord, and the processor drops every
 * record that arrives while the queue is full, so a record it would drop is no longer built. In
 * a one-tick burst (no export can finish within the tick) the queue fills after a few thousand
 * records: of 200 000 lines logged in one loop, the SDK built ~197 000 LogRecords only to drop
 * them, and that allocation was what grew V8's young generation (bench/logger.mjs: `echoes+otlp`
 * burst). Which records are exported and which are dropped is exactly as before.
 *
 * The queue is the processor's private state (sdk-internals.ts); if its shape ever changes,
 * `enabled()` answers true and the processor behaves as the stock one.
 *
 * `droppedQueueFull` counts the records refused for a full queue (the stock processor drops them
 * without a trace): the SDK's Logger asks `enabled()` once per `emit`, so each refusal is one
 * record that never leaves over OTLP. (A caller asking `logger.enabled()` without emitting would
 * be counted too; neither our logger nor instrumentation-winston does.)
 */
export class QueueGatedBatchLogRecordProcessor extends BatchLogRecordProcessor {
  droppedQueueFull = 0;

  enabled(): boolean {
    if (!queueFull(this)) return true;
    this.droppedQueueFull++;
    return false;
  }

  onEmit(logRecord: ReadWriteLogRecord): void {
    // A record that reached the processor without asking first (another Logger implementation):
    // the stock processor would drop it silently here.
    if (queueFull(this)) {
      this.droppedQueueFull++;
      return;
    }
    super.onEmit(logRecord);
  }
}

function queueFull(p: object): boolean {
  return batchLogQueueFull(p) === true;
}
