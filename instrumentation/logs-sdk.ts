import { createRequire } from 'node:module';
import type { Resource } from '@opentelemetry/resources';
import type * as LogsProto from '@opentelemetry/exporter-logs-otlp-proto';
import {
  ConsoleLogRecordExporter,
  LoggerProvider,
  type LogRecordExporter,
  type LogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { QueueGatedBatchLogRecordProcessor } from './log-batch-processor.js';
import type { ExportControl } from './export-transport.js';
import { createOtlpExporter } from './traces.js';
import type { EchoesConfig } from './types.js';

/**
 * The OTel logger provider the logger (and instrumentation-winston) emit records into. It only
 * ships records over OTLP or to the console; the local log files are the logger's own sink, so a
 * collector outage never costs a line on disk.
 */

const require = createRequire(import.meta.url);

function createLogExporter(
  config: EchoesConfig,
  control?: ExportControl,
): LogRecordExporter | undefined {
  const l = config.logs;
  if (l.exporter === 'none') return undefined;
  if (l.exporter === 'console') {
    return new ConsoleLogRecordExporter();
  }
  return createOtlpExporter('logs', l.otlp, control, (json) => {
    const pkg = json
      ? '@opentelemetry/exporter-logs-otlp-http'
      : '@opentelemetry/exporter-logs-otlp-proto';
    return (require(pkg) as typeof LogsProto).OTLPLogExporter;
  });
}

/**
 * The provider, and its OTLP batch processor's count of records refused for a full queue
 * (undefined when logs are not shipped over OTLP).
 */
export function createLoggerProvider(
  config: EchoesConfig,
  resource: Resource,
  control?: ExportControl,
): { provider: LoggerProvider; otlpQueue: { readonly droppedQueueFull: number } | undefined } {
  const processors: LogRecordProcessor[] = [];
  const exporter = createLogExporter(config, control);
  let gate: QueueGatedBatchLogRecordProcessor | undefined;
  if (exporter !== undefined) {
    // The SDK's batch processor; it tells the Logger when its queue is full, so a record it
    // would drop is not built, and counts it (log-batch-processor.ts).
    gate = new QueueGatedBatchLogRecordProcessor({
      exporter,
      // Bounded like the span queue; the files keep every line regardless.
      maxQueueSize: 4096,
      maxExportBatchSize: 512,
      scheduledDelayMillis: 1000,
      exportTimeoutMillis: config.logs.otlp.timeoutMs,
    });
    processors.push(gate);
  }
  return { provider: new LoggerProvider({ resource, processors }), otlpQueue: gate };
}
