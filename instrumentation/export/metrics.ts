import type * as Http from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { diag } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type * as Prometheus from '@opentelemetry/exporter-prometheus';
import {
  AggregationTemporality,
  ConsoleMetricExporter,
  DataPointType,
  InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type MetricData,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { sendExemplars } from './exemplar-serializer.js';
import type { ExportControl } from './export-transport.js';
import { listenOutsideCluster } from './listen.js';
import { chooseExporter } from './otlp-exporters.js';
import type { EchoesConfig } from '../types.js';

/**
 * Meter provider with two readers: the periodic OTLP (or console) reader, and the embedded
 * Prometheus `/metrics` endpoint. Both read the SDK's instruments and the hot-path fast metrics
 * (through `metricProducers`). One wildcard view applies the cardinality limit to every
 * instrument for every reader, so an unbounded attribute can only grow one series per
 * instrument beyond the limit (the SDK's overflow series).
 */

const require = createRequire(import.meta.url);

/** Response header on /metrics: the process start time, ms since the epoch. */
export const PROCESS_START_HEADER = 'x-echoes-process-start';

export interface MetricsSetup {
  readonly meterProvider: MeterProvider;
  /** The embedded endpoint, once listening (undefined when disabled or the port was taken). */
  readonly prometheus: PrometheusEndpoint | undefined;
  /**
   * Shutdown's read of every instrument while the features' observable callbacks are still
   * registered (they remove them as they stop); the provider's shutdown, after the features
   * stopped, makes the one export. See `readBeforeShutdown`.
   */
  readonly readBeforeShutdown: () => Promise<void>;
}

export interface PrometheusEndpoint {
  readonly exporter: PrometheusExporter;
  /** Resolves with the bound port, or undefined when it could not listen (warned once). */
  readonly ready: Promise<number | undefined>;
  close(): Promise<void>;
}

function createPushExporter(
  config: EchoesConfig,
  control?: ExportControl,
): PushMetricExporter | undefined {
  const m = config.metrics;
  return chooseExporter<PushMetricExporter>(
    'metrics',
    m,
    control,
    () => new ConsoleMetricExporter(),
    (exporter) => {
      // The hot-path histograms' exemplars (trace ids) ride along: upstream's serializers drop them.
      if (!sendExemplars(exporter, m.otlp.protocol === 'http/json'))
        diag.debug('echoes-otel: this metric exporter sends no exemplars (unknown internals)');
      return exporter;
    },
  );
}

/** Unit words Prometheus' OTLP translation appends (UnderscoreEscapingWithSuffixes). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  min: 'minutes',
  h: 'hours',
  d: 'days',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  '%': 'percent',
  Hz: 'hertz',
};

/**
 * The series name Prometheus gives a metric it receives over OTLP: unit word appended (`_seconds`,
 * `_bytes`; `_ratio` for unit-1 gauges; `{annotations}` dropped), `_total` left to the serializer.
 * The embedded endpoint uses the same names as the collector path, so one dashboard, rule or
 * report query works against either (the upstream exporter appends no unit).
 */
export function prometheusBaseName(name: string, unit: string, gauge: boolean): string {
  const cleanUnit = unit.replace(/\{[^}]*\}/g, '').trim();
  let word: string | undefined;
  if (cleanUnit === '1') word = gauge ? 'ratio' : undefined;
  else if (cleanUnit !== '') {
    const [num = '', per] = cleanUnit.split('/');
    const a = UNIT_WORDS[num] ?? num;
    const b = per !== undefined ? (UNIT_WORDS[per] ?? per) : undefined;
    word = b !== undefined ? `${a}_per_${b.replace(/s$/, '')}` : a;
  }
  const base = name.replace(/[^A-Za-z0-9_:]/g, '_');
  if (word === undefined || word === '' || base.endsWith(`_${word}`)) return base;
  return `${base}_${word}`;
}

function withUnitSuffixes(rm: ResourceMetrics): ResourceMetrics {
  return {
    resource: rm.resource,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({
      scope: sm.scope,
      metrics: sm.metrics.map((m): MetricData => {
        const gauge =
          m.dataPointType === DataPointType.GAUGE ||
          (m.dataPointType === DataPointType.SUM && !m.isMonotonic);
        const name = prometheusBaseName(m.descriptor.name, m.descriptor.unit, gauge);
        return name === m.descriptor.name
          ? m
          : ({ ...m, descriptor: { ...m.descriptor, name } } as MetricData);
      }),
    })),
  };
}

/**
 * The upstream exporter's own server ignores port 0 (`config.port || env || 9464`) and cannot be
 * told to stay quiet about EADDRINUSE, so it never starts; our server answers with its handler.
 */
export function createPrometheusEndpoint(
  config: EchoesConfig,
  producers: MetricProducer[],
): PrometheusEndpoint {
  const { PrometheusExporter: Exporter, PrometheusSerializer } =
    require('@opentelemetry/exporter-prometheus') as typeof Prometheus;
  const { host, port } = config.metrics.prometheus;
  const exporter = new Exporter({
    preventServerStart: true,
    host,
    port,
    metricProducers: producers,
  });
  const serializer = new PrometheusSerializer('', false);
  // `require`, not `import`: see signals/http-client.ts (an ESM import of node:http costs +13 MiB
  // on Node 24).
  const { createServer } = require('node:http') as typeof Http;
  const server: Server = createServer((req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        exporter.collect().then(
          ({ resourceMetrics }) => {
            res.writeHead(200, {
              'content-type': 'text/plain; version=0.0.4; charset=utf-8',
              // When this process started (ms since the epoch): counters count from here, so
              // `echoes-otel report` and the live page can turn totals into rates.
              [PROCESS_START_HEADER]: String(Math.round(performance.timeOrigin)),
            });
            res.end(serializer.serialize(withUnitSuffixes(resourceMetrics)));
          },
          (err: unknown) => {
            res
              .writeHead(500, { 'content-type': 'text/plain' })
              .end(`# failed to collect metrics: ${String(err)}\n`);
          },
        );
      } else if (path === '/') {
        // The live page: its module loads on the first visit only (nothing at startup).
        import('./live-page.js').then(
          ({ serveLivePage }) => serveLivePage(req, res),
          () => void res.writeHead(500).end(),
        );
      } else {
        res.writeHead(404).end('not found: the metrics are at /metrics, a live page at /\n');
      }
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  // Never keep the app alive just to serve metrics.
  server.unref();
  // Scrapes of our own endpoint are not the app's traffic: signals/http-server.ts skips servers
  // carrying this mark (a global symbol, so the http feature need not be loaded here).
  (server as unknown as Record<symbol, boolean>)[Symbol.for('echoes-otel.http.untraced')] = true;
  const ready = new Promise<number | undefined>((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      diag.warn(
        `echoes-otel: the Prometheus endpoint cannot listen on ${host}:${port} (${err.code ?? err.message}); ` +
          'metrics are still exported over OTLP. Set OTEL_EXPORTER_PROMETHEUS_PORT to a free port or ECHOES_PROMETHEUS=off',
      );
      resolve(undefined);
    });
    listenOutsideCluster(server, host, port, () => {
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

/** Whether `reader` asks cumulative points of every instrument kind (the OTLP default). */
function cumulativeOnly(reader: PeriodicExportingMetricReader): boolean {
  return Object.values(InstrumentType).every(
    (t) => reader.selectAggregationTemporality(t) === AggregationTemporality.CUMULATIVE,
  );
}

/**
 * Shutdown used to export metrics twice: once while the features still ran (their observable
 * gauges lose their callbacks when they stop), once more in the provider's own shutdown (for what
 * the features recorded while stopping). The second export differed from the first by a GC
 * pause at most, and each one costs a collection, a serialization and a request (about 4 ms of
 * CPU of the exit of a short-lived app, docs/performance.md "Startup"). With cumulative
 * temporality a collection is enough here: the SDK keeps each stream's last point for the next
 * collection of the same reader, an observable without callbacks by then included, so the
 * provider's shutdown exports everything once. A delta reader must export what it collects,
 * so it flushes as before.
 */
function createReadBeforeShutdown(
  meterProvider: MeterProvider,
  reader: PeriodicExportingMetricReader | undefined,
): () => Promise<void> {
  // No push reader (metrics exporter `none`): nothing is exported at exit, the Prometheus
  // endpoint is read by its scrapers.
  if (reader === undefined) return async () => {};
  if (!cumulativeOnly(reader)) return () => meterProvider.forceFlush();
  return async () => {
    const { errors } = await reader.collect();
    for (const err of errors) diag.debug(`echoes-otel: metric collection at exit: ${String(err)}`);
  };
}

export function createMeterProvider(
  config: EchoesConfig,
  resource: Resource,
  fastProducer: MetricProducer,
  control?: ExportControl,
): MetricsSetup {
  const readers: IMetricReader[] = [];
  const exporter = createPushExporter(config, control);
  let periodic: PeriodicExportingMetricReader | undefined;
  if (exporter !== undefined) {
    periodic = new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: config.metrics.exportIntervalMs,
      exportTimeoutMillis: config.metrics.exportTimeoutMs,
      metricProducers: [fastProducer],
    });
    readers.push(periodic);
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
  return {
    meterProvider,
    prometheus,
    readBeforeShutdown: createReadBeforeShutdown(meterProvider, periodic),
  };
}
