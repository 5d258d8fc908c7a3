import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import { diag } from '@opentelemetry/api';
import type * as LogsGrpc from '@opentelemetry/exporter-logs-otlp-grpc';
import type * as MetricsGrpc from '@opentelemetry/exporter-metrics-otlp-grpc';
import type * as TraceGrpc from '@opentelemetry/exporter-trace-otlp-grpc';
import { watchExporter } from './diag.js';
import { ExportSpool, type BatchExporter } from './export-spool.js';
import type { ExportControl } from './export-transport.js';
import type { EchoesConfig, OtlpSignalConfig } from './types.js';

/**
 * The one factory of OTLP exporters for traces, metrics and logs: http/protobuf and http/json
 * (each its own package, required on demand by the signal's module), or gRPC: upstream's gRPC
 * exporters, required here on demand, with @grpc/grpc-js from a separate bundle file (grpc.ts)
 * that `prepareOtlpExporters` imports only when a signal asks for gRPC. Shared options, the export
 * control (unref'd retries, shutdown) and the failure watch (diag.ts) for all three.
 */

const require = createRequire(import.meta.url);

export type Signal = 'traces' | 'metrics' | 'logs';

let grpcReady = false;

/**
 * Loads @grpc/grpc-js' file when any signal exports over OTLP/gRPC; nothing otherwise. Called
 * once before the providers are made (their exporters are built synchronously).
 */
export async function prepareOtlpExporters(config: EchoesConfig): Promise<void> {
  const signals = [config.traces, config.metrics, config.logs];
  if (grpcReady || !signals.some((s) => s.exporter === 'otlp' && s.otlp.protocol === 'grpc'))
    return;
  await import('./grpc.js');
  grpcReady = true;
}

/** The signal's gRPC exporter class. Literal specifiers: scripts/bundle.mjs bundles all three. */
function grpcExporterClass(signal: Signal): new (options: Record<string, unknown>) => unknown {
  switch (signal) {
    case 'traces':
      return (require('@opentelemetry/exporter-trace-otlp-grpc') as typeof TraceGrpc)
        .OTLPTraceExporter;
    case 'metrics':
      return (require('@opentelemetry/exporter-metrics-otlp-grpc') as typeof MetricsGrpc)
        .OTLPMetricExporter;
    case 'logs':
      return (require('@opentelemetry/exporter-logs-otlp-grpc') as typeof LogsGrpc).OTLPLogExporter;
  }
}

/** Options every OTLP/HTTP exporter package takes (proto and http/json alike). */
export function otlpExporterOptions(
  o: OtlpSignalConfig,
  control?: ExportControl,
): Record<string, unknown> {
  return {
    url: o.url,
    headers: { ...o.headers },
    timeoutMillis: o.timeoutMs,
    compression: o.compression,
    ...(control !== undefined
      ? { httpAgentOptions: (protocol: string) => control.agentFactory(protocol) }
      : {}),
  };
}

/**
 * Options of the OTLP/gRPC exporters: headers become metadata (a getter: the exporter reads it at
 * its first export, so @grpc/grpc-js loads then, not at startup); TLS follows the URL's scheme.
 */
function grpcExporterOptions(o: OtlpSignalConfig): Record<string, unknown> {
  return {
    url: o.url,
    get metadata() {
      const { Metadata } = require('@grpc/grpc-js') as typeof GrpcJs;
      const metadata = new Metadata();
      // gRPC metadata keys are lower-case.
      for (const [k, v] of Object.entries(o.headers)) metadata.set(k.toLowerCase(), v);
      return metadata;
    },
    timeoutMillis: o.timeoutMs,
    compression: o.compression,
  };
}

/**
 * The OTLP exporter of one signal, built the one way all three are: for http, the class
 * `httpExporterClass` loads (`json`: http/json, else protobuf); for grpc, the signal's gRPC
 * exporter. Its transport is adopted by `control` (retries with unref'd timers, stopped at
 * shutdown; for http also its sockets) and its failures watched.
 */
export function createOtlpExporter<E extends Parameters<typeof watchExporter>[2]>(
  signal: Signal,
  o: OtlpSignalConfig,
  control: ExportControl | undefined,
  httpExporterClass: (json: boolean) => new (options: Record<string, unknown>) => E,
): E {
  let exporter: E;
  if (o.protocol === 'grpc') {
    if (!grpcReady) {
      throw new Error('echoes-otel: @grpc/grpc-js was not loaded (prepareOtlpExporters)');
    }
    const Exporter = grpcExporterClass(signal) as new (options: Record<string, unknown>) => E;
    exporter = new Exporter(grpcExporterOptions(o));
    diag.debug(`echoes-otel: ${signal} export over OTLP/gRPC to ${o.url}`);
  } else {
    const Exporter = httpExporterClass(o.protocol === 'http/json');
    exporter = new Exporter(otlpExporterOptions(o, control));
  }
  control?.adopt(exporter);
  watchExporter(signal, o.url, exporter);
  return exporter;
}

/**
 * The OTLP exporter behind a spool that holds what a failed export could not deliver, for a resend
 * once the collector is back (export-spool.ts); with the buffer at 0 it holds nothing and only
 * counts what is lost. Without `control` the exporter is returned as it is.
 */
export function spooled<T, E extends BatchExporter<T>>(
  exporter: E,
  config: EchoesConfig,
  what: string,
  control: ExportControl | undefined,
  kept?: string,
): E | ExportSpool<T> {
  if (control === undefined) return exporter;
  return new ExportSpool<T>(exporter, {
    maxItems: config.otlpRetryBuffer,
    maxBatch: 512,
    retryMs: 5000,
    stopping: () => control.stopping,
    what,
    ...(kept !== undefined && { kept }),
  });
}
