import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { describe, expect, it, vi } from 'vitest';
import { QueueGatedBatchLogRecordProcessor } from '../../../../instrumentation/export/log-batch-processor.js';

/** Records what it is given and answers on a later turn, as an exporter on the network does. */
function slowExporter(): LogRecordExporter & { bodies: unknown[] } {
  const bodies: unknown[] = [];
  return {
    bodies,
    export(records: ReadableLogRecord[], done: (r: ExportResult) => void): void {
      for (const r of records) bodies.push(r.body);
      setImmediate(() => done({ code: ExportResultCode.SUCCESS }));
    },
    shutdown: async () => undefined,
    forceFlush: async () => undefined,
  };
}

const OPTIONS = { maxQueueSize: 64, maxExportBatchSize: 16, scheduledDelayMillis: 10 };

async function burst(
  Processor: typeof BatchLogRecordProcessor,
  lines: number,
): Promise<{ exported: unknown[]; handed: number; after: unknown[]; counted: unknown }> {
  const exporter = slowExporter();
  const processor = new Processor({ exporter, ...OPTIONS });
  const onEmit = vi.spyOn(processor, 'onEmit');
  const provider = new LoggerProvider({ processors: [processor] });
  const logger = provider.getLogger('test');
  for (let i = 0; i < lines; i++) logger.emit({ body: i });
  const handed = onEmit.mock.calls.length;
  await processor.forceFlush();
  const exported = [...exporter.bodies];
  // The queue has room again: later records are taken.
  logger.emit({ body: 'later' });
  await provider.shutdown();
  return {
    exported,
    handed,
    after: exporter.bodies.slice(exported.length),
    counted: (processor as Partial<QueueGatedBatchLogRecordProcessor>).droppedQueueFull,
  };
}

describe('QueueGatedBatchLogRecordProcessor', () => {
  it('exports exactly what the stock processor exports from a one-tick burst, without building the records it drops', async () => {
    const stock = await burst(BatchLogRecordProcessor, 1000);
    const gated = await burst(QueueGatedBatchLogRecordProcessor, 1000);
    expect(gated.exported).toEqual(stock.exported);
    // One batch taken out for export plus a full queue; the rest dropped.
    expect(stock.exported).toHaveLength(OPTIONS.maxExportBatchSize + OPTIONS.maxQueueSize);
    expect(stock.handed).toBe(1000);
    expect(gated.handed).toBe(stock.exported.length);
    expect(gated.after).toEqual(['later']);
    expect(stock.after).toEqual(['later']);
    // Every record the stock processor drops silently is counted.
    expect(gated.counted).toBe(1000 - stock.exported.length);
  });

  it('counts a record handed to onEmit while the queue is full (a Logger that did not ask first)', () => {
    const processor = new QueueGatedBatchLogRecordProcessor({
      exporter: slowExporter(),
      ...OPTIONS,
    });
    const state = processor as unknown as { _finishedLogRecords: unknown[] };
    state._finishedLogRecords.push(...Array.from({ length: OPTIONS.maxQueueSize }, () => ({})));
    processor.onEmit({} as never);
    expect(processor.droppedQueueFull).toBe(1);
    expect(state._finishedLogRecords).toHaveLength(OPTIONS.maxQueueSize);
  });

  it('says enabled when the SDK internals it reads are not there (behaves as the stock processor)', () => {
    expect(QueueGatedBatchLogRecordProcessor.prototype.enabled.call({})).toBe(true);
  });
});
