import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import { diag } from '@opentelemetry/api';
import type * as LogsGrpc from '@opentelemetry/exporter-logs-otlp-grpc';
import type * as MetricsGrpc from '@opentelemetry/exporter-metrics-otlp-grpc';
import type * as TraceGrpc from '@opentelemetry/exporter-trace-otlp-grpc';
import type * as LogsHttp from '@opentelemetry/exporter-logs-otlp-http';
import type * as LogsProto from '@opentelemetry/exporter-logs-otlp-proto';
import type * as MetricsHttp from '@opentelemetry/exporter-metrics-otlp-http';
import type * as MetricsProto from '@opentelemetry/exporter-metrics-otlp-proto';
import type * as TraceHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as TraceProto from '@opentelemetry/exporter-trace-otlp-proto';
import { watchExporter } from './diag.js';
import { ExportSpool, type BatchExporter } from './export-spool.js';
import type { ExportControl } from './export-transport.js';
import type { EchoesConfig, OtlpSignalConfig } from '../types.js';

/**
 * The one factory of OTLP exporters for traces, metrics and logs: http/protobuf and http/json
 * (each its own package, required on demand from one table), or gRPC: upstream's gRPC
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

type ExporterClass = new (options: Record<string, unknown>) => unknown;

/**
 * Every OTLP exporter class we use, one row per signal and protocol. Literal `require` specifiers,
 * so scripts/bundle.mjs bundles all nine; each package is still evaluated only when asked for.
 * (`duplicates` pairs the signals' rows: a table, written out for those literals.)
 */
const OTLP_EXPORTERS: Readonly<
  Record<Signal, Readonly<Record<OtlpSignalConfig['protocol'], () => ExporterClass>>>
> = {
  traces: {
    'http/protobuf': () =>
      (require('@opentelemetry/exporter-trace-otlp-proto') as typeof TraceProto).OTLPTraceExporter,
    'http/json': () =>
      (require('@opentelemetry/exporter-trace-otlp-http') as typeof TraceHttp).OTLPTraceExporter,
    grpc: () =>
      (require('@opentelemetry/exporter-trace-otlp-grpc') as typeof TraceGrpc).OTLPTraceExporter,
  },
  metrics: {
    'http/protobuf': () =>
      (require('@opentelemetry/exporter-metrics-otlp-proto') as typeof MetricsProto)
        .OTLPMetricExporter,
    'http/json': () =>
      (require('@opentelemetry/exporter-metrics-otlp-http') as typeof MetricsHttp)
        .OTLPMetricExporter,
    grpc: () =>
      (require('@opentelemetry/exporter-metrics-otlp-grpc') as typeof MetricsGrpc)
        .OTLPMetricExporter,
  },
  logs: {
    'http/protobuf': () =>
      (require('@opentelemetry/exporter-logs-otlp-proto') as typeof LogsProto).OTLPLogExporter,
    'http/json': () =>
      (require('@opentelemetry/exporter-logs-otlp-http') as typeof LogsHttp).OTLPLogExporter,
    grpc: () =>
      (require('@opentelemetry/exporter-logs-otlp-grpc') as typeof LogsGrpc).OTLPLogExporter,
  },
};

/**
 * A signal's exporter as `OTEL_*_EXPORTER` chose it, the one way for all three: `none` gives
 * undefined, `console` the SDK's console exporter, `otlp` the OTLP exporter for the signal's
 * protocol (`createOtlpExporter`) passed through `wrap` (the spool, exemplars).
 */
export function chooseExporter<E extends Parameters<typeof watchExporter>[2]>(
  signal: Signal,
  choice: { readonly exporter: 'otlp' | 'console' | 'none'; readonly otlp: OtlpSignalConfig },
  control: ExportControl | undefined,
  console: () => E,
  wrap: (otlp: E) => E = (e) => e,
): E | undefined {
  if (choice.exporter === 'none') return undefined;
  if (choice.exporter === 'console') return console();
  return wrap(createOtlpExporter<E>(signal, choice.otlp, control));
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
 * The OTLP exporter of one signal for its protocol (OTLP_EXPORTERS). Its transport is adopted by
 * `control` (retries with unref'd timers, stopped at shutdown; for http also its sockets) and its
 * failures watched.
 */
export function createOtlpExporter<E extends Parameters<typeof watchExporter>[2]>(
  signal: Signal,
  o: OtlpSignalConfig,
  control: ExportControl | undefined,
): E {
  const Exporter = OTLP_EXPORTERS[signal][o.protocol]() as new (
    options: Record<string, unknown>,
  ) => E;
  let exporter: E;
  if (o.protocol === 'grpc') {
    if (!grpcReady) {
      throw new Error('echoes-otel: @grpc/grpc-js was not loaded (prepareOtlpExporters)');
    }
    exporter = new Exporter(grpcExporterOptions(o));
    diag.debug(`echoes-otel: ${signal} export over OTLP/gRPC to ${o.url}`);
  } else {
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
