import type { Resource } from '@opentelemetry/resources';
import {
  ConsoleLogRecordExporter,
  LoggerProvider,
  type LogRecordExporter,
  type LogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { ExportSpool } from './export-spool.js';
import { QueueGatedBatchLogRecordProcessor } from './log-batch-processor.js';
import type { ExportControl } from './export-transport.js';
import { chooseExporter, spooled } from './otlp-exporters.js';
import type { EchoesConfig } from '../types.js';

/**
 * The OTel logger provider the logger (and instrumentation-winston) emit records into. It only
 * ships records over OTLP or to the console; the local log files are the logger's own sink, so a
 * collector outage never costs a line on disk.
 */

function createLogExporter(
  config: EchoesConfig,
  control?: ExportControl,
): LogRecordExporter | undefined {
  return chooseExporter<LogRecordExporter>(
    'logs',
    config.logs,
    control,
    () => new ConsoleLogRecordExporter(),
    (otlp) =>
      spooled<ReadableLogRecord, LogRecordExporter>(
        otlp,
        config,
        'log records',
        control,
        ' (the log files have them)',
      ),
  );
}

/** Records that never left over OTLP (they are in the log files): counted for echoes.log.dropped. */
export interface OtlpLogDrops {
  /** Refused by the batch processor's full queue (reason `otlp_queue_full`). */
  readonly droppedQueueFull: number;
  /** Given up after failed exports: past the retry buffer, refused, or at shutdown (`otlp_export_failed`). */
  readonly droppedExportFailed: number;
}

/**
 * The provider, and what its OTLP path dropped (undefined when logs are not shipped over OTLP).
 */
export function createLoggerProvider(
  config: EchoesConfig,
  resource: Resource,
  control?: ExportControl,
): { provider: LoggerProvider; otlpDrops: OtlpLogDrops | undefined } {
  const processors: LogRecordProcessor[] = [];
  const exporter = createLogExporter(config, control);
  let drops: OtlpLogDrops | undefined;
  if (exporter !== undefined) {
    // The SDK's batch processor; it tells the Logger when its queue is full, so a record it
    // would drop is not built, and counts it (log-batch-processor.ts).
    const gate = new QueueGatedBatchLogRecordProcessor({
      exporter,
      // Bounded like the span queue; the files keep every line regardless.
      maxQueueSize: 4096,
      maxExportBatchSize: 512,
      scheduledDelayMillis: 1000,
      exportTimeoutMillis: config.logs.otlp.timeoutMs,
    });
    processors.push(gate);
    const spool = exporter instanceof ExportSpool ? exporter : undefined;
    drops = {
      get droppedQueueFull() {
        return gate.droppedQueueFull;
      },
      get droppedExportFailed() {
        return spool?.dropped ?? 0;
      },
    };
  }
  return { provider: new LoggerProvider({ resource, processors }), otlpDrops: drops };
}
