// The OTLP/gRPC exporters, in a module of their own: otlp-exporters.ts import()s it only when a
// signal's protocol is `grpc`, and scripts/bundle.mjs makes it its own file (dist/bundle/grpc.js),
// so core.js does not carry @grpc/grpc-js and an app exporting over HTTP never parses it.
import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';

const require = createRequire(import.meta.url);

export const GRPC_EXPORTERS = {
  traces: OTLPTraceExporter,
  metrics: OTLPMetricExporter,
  logs: OTLPLogExporter,
} as const;

/**
 * OTLP headers as gRPC metadata (keys lower-cased, as gRPC requires). Called by the exporter at
 * its first export, like upstream's own lazy require of @grpc/grpc-js: the ~700 KB of gRPC code
 * is not evaluated during startup.
 */
export function createMetadata(headers: Readonly<Record<string, string>>): GrpcJs.Metadata {
  const { Metadata } = require('@grpc/grpc-js') as typeof GrpcJs;
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k.toLowerCase(), v);
  return metadata;
}
