import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { diag } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type MetricProducer,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { watchExporter } from './diag.js';
import { otlpExporterOptions } from './traces.js';
import type { EchoesConfig } from './types.js';

/**
 * Meter provider with two readers: the periodic OTLP (or console) reader, and the embedded
 * Prometheus `/metrics` endpoint. Both read the SDK's instruments and the hot-path fast metrics
 * (through `metricProducers`). One wildcard view applies the cardinality limit to every
 * instrument for every reader, so an unbounded attribute can only grow one series per
 * instrument beyond the limit (the SDK's overflow series).
 */

const require = createRequire(import.meta.url);

export interface MetricsSetup {
  readonly meterProvider: MeterProvider;
  /** The embedded endpoint, once listening (undefined when disabled or the port was taken). */
  readonly prometheus: PrometheusEndpoint | undefined;
}

export interface PrometheusEndpoint {
  readonly exporter: PrometheusExporter;
  /** Resolves with the bound port, or undefined when it could not listen (warned once). */
  readonly ready: Promise<number | undefined>;
  close(): Promise<void>;
}

function createPushExporter(config: EchoesConfig): PushMetricExporter | undefined {
  const m = config.metrics;
  if (m.exporter === 'none') return undefined;
  if (m.exporter === 'console') {
    const { ConsoleMetricExporter } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
    return new ConsoleMetricExporter();
  }
  const pkg = m.otlp.protocol === 'http/json' ? '@opentelemetry/exporter-metrics-otlp-http' : '@opentelemetry/exporter-metrics-otlp-proto';
  const { OTLPMetricExporter } = require(pkg) as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
  const exporter = new OTLPMetricExporter(otlpExporterOptions(m.otlp));
  watchExporter('metrics', m.otlp.url, exporter);
  return exporter;
}

/**
 * The upstream exporter's own server ignores port 0 (`config.port || env || 9464`) and cannot be
 * told to stay quiet about EADDRINUSE, so it never starts; our server answers with its handler.
 */
export function createPrometheusEndpoint(config: EchoesConfig, producers: MetricProducer[]): PrometheusEndpoint {
  const { PrometheusExporter: Exporter } = require('@opentelemetry/exporter-prometheus') as typeof import('@opentelemetry/exporter-prometheus');
  const { host, port } = config.metrics.prometheus;
  const exporter = new Exporter({ preventServerStart: true, host, port, metricProducers: producers });
  const server: Server = createServer((req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        exporter.getMetricsRequestHandler(req, res);
      } else {
        res.writeHead(404).end('not found: the metrics are at /metrics\n');
      }
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  // Never keep the app alive just to serve metrics.
  server.unref();
  const ready = new Promise<number | undefined>((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      diag.warn(
        `echoes-otel: the Prometheus endpoint cannot listen on ${host}:${port} (${err.code ?? err.message}); ` +
          'metrics are still exported over OTLP. Set OTEL_EXPORTER_PROMETHEUS_PORT to a free port or ECHOES_PROMETHEUS=off',
      );
      resolve(undefined);
    });
    server.listen({ host, port }, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
  return {
    exporter,
    ready,
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export function createMeterProvider(config: EchoesConfig, resource: Resource, fastProducer: MetricProducer): MetricsSetup {
  const readers: IMetricReader[] = [];
  const exporter = createPushExporter(config);
  if (exporter !== undefined) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.metrics.exportIntervalMs,
        exportTimeoutMillis: config.metrics.exportTimeoutMs,
        metricProducers: [fastProducer],
      }),
    );
  }
  let prometheus: PrometheusEndpoint | undefined;
  if (config.metrics.prometheus.enabled) {
    try {
      prometheus = createPrometheusEndpoint(config, [fastProducer]);
      readers.push(prometheus.exporter);
    } catch (err) {
      diag.warn(`echoes-otel: the Prometheus endpoint is disabled: ${(err as Error).message}`);
    }
  }
  const meterProvider = new MeterProvider({
    resource,
    readers,
    views: [{ instrumentName: '*', aggregationCardinalityLimit: config.metrics.cardinalityLimit }],
  });
  return { meterProvider, prometheus };
}
