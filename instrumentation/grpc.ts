// The OTLP/gRPC exporters, in a module of their own: otlp-exporters.ts import()s it only when a
// signal's protocol is `grpc`, and scripts/bundle.mjs makes it its own file (dist/bundle/grpc.js),
// so core.js does not carry @grpc/grpc-js and an app exporting over HTTP never parses it.
import { Metadata } from '@grpc/grpc-js';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';

export const GRPC_EXPORTERS = {
  traces: OTLPTraceExporter,
  metrics: OTLPMetricExporter,
  logs: OTLPLogExporter,
} as const;

/** OTLP headers as gRPC metadata (keys lower-cased, as gRPC requires). */
export function createMetadata(headers: Readonly<Record<string, string>>): Metadata {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k.toLowerCase(), v);
  return metadata;
}
