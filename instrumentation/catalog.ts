/**
 * The signal catalog: the one list of metrics that instrumentation, dashboards, alert rules and the
 * report CLI may name. `docs/signals.md` is generated from it (`node scripts/gen-signals-doc.mjs`)
 * and a test fails when the two disagree; another test fails when a dashboard, rule or the report
 * names a series that is not here.
 *
 * `prometheus` is the base series name after Prometheus' OTLP translation (UnderscoreEscapingWithSuffixes:
 * dots to underscores, unit suffix, `_total` for monotonic sums, `_ratio` for unit `1`); histograms
 * add `_bucket`, `_sum` and `_count`. Attributes become labels with dots replaced by underscores.
 */

export type InstrumentType = 'counter' | 'histogram' | 'gauge' | 'updowncounter';

/** Where the series is produced: our preload, an upstream instrumentation we load, or the collector. */
export type SignalSource = 'echoes' | 'runtime-node' | 'collector';

export interface CatalogEntry {
  readonly name: string;
  readonly unit: string;
  readonly type: InstrumentType;
  readonly description: string;
  readonly attributes: readonly string[];
  readonly prometheus: string;
  /**
   * The series name on echoes-otel's embedded `:9464/metrics`. metrics.ts renames series there to
   * the OTLP-translated names (unit suffixes), so it equals `prometheus`; absent for series only the
   * collector produces. Kept as its own field because the report CLI reads either source.
   */
  readonly embedded?: string;
  /**
   * What a stock `@opentelemetry/exporter-prometheus` 0.223 would serve (no unit suffix, no
   * `_ratio`, `_total` for monotonic sums only), for anyone scraping with their own exporter.
   */
  readonly stockExporter?: string;
  readonly source: SignalSource;
}

/** exporter-prometheus 0.223 naming: invalid characters to `_`, `_total` for monotonic sums. */
export function stockExporterName(name: string, type: InstrumentType): string {
  const base = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/_+/g, '_');
  return type === 'counter' && !base.endsWith('_total') ? `${base}_total` : base;
}

function entry(
  name: string,
  unit: string,
  type: InstrumentType,
  prometheus: string,
  attributes: readonly string[],
  description: string,
  source: SignalSource = 'echoes',
): CatalogEntry {
  const app =
    source === 'collector'
      ? {}
      : { embedded: prometheus, stockExporter: stockExporterName(name, type) };
  return Object.freeze({ name, unit, type, prometheus, ...app, attributes, description, source });
}

const HTTP_SERVER_ATTRS = [
  'http.request.method',
  'http.route',
  'http.response.status_code',
  'error.type',
] as const;
const FS_OP_ATTRS = ['fs.operation', 'fs.api', 'fs.path.group', 'error.type'] as const;

export const METRIC = {
  httpServerDuration: 'http.server.request.duration',
  httpClientDuration: 'http.client.request.duration',
  cacheRequests: 'echoes.cache.requests',
  cacheEvictions: 'echoes.cache.evictions',
  cacheEntries: 'echoes.cache.entries',
  cacheCapacity: 'echoes.cache.capacity',
  fsOperations: 'echoes.fs.operations',
  fsDuration: 'echoes.fs.operation.duration',
  fsIo: 'echoes.fs.io',
  dirSize: 'echoes.dir.size',
  dirFiles: 'echoes.dir.files',
  diskUtilization: 'echoes.disk.utilization',
  monitorErrors: 'echoes.monitor.errors',
  logRecords: 'echoes.log.records',
  logWritten: 'echoes.log.written',
  logRotations: 'echoes.log.rotations',
  logDropped: 'echoes.log.dropped',
  processMemory: 'process.memory.usage',
  processCpu: 'process.cpu.time',
} as const;

export const CATALOG: readonly CatalogEntry[] = Object.freeze([
  // HTTP (our diagnostics-channel instrumentation; stable semconv names)
  entry(
    METRIC.httpServerDuration,
    's',
    'histogram',
    'http_server_request_duration_seconds',
    HTTP_SERVER_ATTRS,
    'Duration of inbound HTTP requests.',
  ),
  entry(
    METRIC.httpClientDuration,
    's',
    'histogram',
    'http_client_request_duration_seconds',
    [
      'http.request.method',
      'server.address',
      'server.port',
      'http.response.status_code',
      'error.type',
    ],
    'Duration of outbound HTTP requests.',
  ),

  // Caches
  entry(
    METRIC.cacheRequests,
    '{request}',
    'counter',
    'echoes_cache_requests_total',
    ['cache.name', 'cache.result'],
    'Cache lookups by result (hit or miss).',
  ),
  entry(
    METRIC.cacheEvictions,
    '{entry}',
    'counter',
    'echoes_cache_evictions_total',
    ['cache.name', 'cache.eviction.reason'],
    'Entries removed by capacity, ttl or manual deletion.',
  ),
  entry(
    METRIC.cacheEntries,
    '{entry}',
    'gauge',
    'echoes_cache_entries',
    ['cache.name'],
    'Entries currently held.',
  ),
  entry(
    METRIC.cacheCapacity,
    '{entry}',
    'gauge',
    'echoes_cache_capacity',
    ['cache.name'],
    'Configured maximum entries; absent for an unbounded cache.',
  ),

  // Disk I/O
  entry(
    METRIC.fsOperations,
    '{operation}',
    'counter',
    'echoes_fs_operations_total',
    FS_OP_ATTRS,
    'node:fs calls by operation, API style (sync, callback, promise, stream) and path group.',
  ),
  entry(
    METRIC.fsDuration,
    's',
    'histogram',
    'echoes_fs_operation_duration_seconds',
    FS_OP_ATTRS,
    'Duration of node:fs calls; the sync sum is event-loop time blocked by fs.',
  ),
  entry(
    METRIC.fsIo,
    'By',
    'counter',
    'echoes_fs_io_bytes_total',
    ['fs.direction', 'fs.api', 'fs.path.group'],
    'Bytes read and written through node:fs.',
  ),

  // Directories and disk
  entry(
    METRIC.dirSize,
    'By',
    'gauge',
    'echoes_dir_size_bytes',
    ['dir.name'],
    'Total size of the files under a watched directory (NaN once it can no longer be measured, e.g. vanished).',
  ),
  entry(
    METRIC.dirFiles,
    '{file}',
    'gauge',
    'echoes_dir_files',
    ['dir.name'],
    'Number of files under a watched directory.',
  ),
  entry(
    METRIC.diskUtilization,
    '1',
    'gauge',
    'echoes_disk_utilization_ratio',
    ['dir.name'],
    'Used fraction of the volume holding a watched directory, as df computes Use% (NaN once statfs fails).',
  ),
  entry(
    METRIC.monitorErrors,
    '{error}',
    'counter',
    'echoes_monitor_errors_total',
    ['echoes.component', 'error.type'],
    'Things a monitor could not measure (vanished directory, failing statfs, throwing hook).',
  ),

  // Log growth
  entry(
    METRIC.logRecords,
    '{record}',
    'counter',
    'echoes_log_records_total',
    ['log.level'],
    'Log records accepted by the logger, by level.',
  ),
  entry(
    METRIC.logWritten,
    'By',
    'counter',
    'echoes_log_written_bytes_total',
    ['log.sink'],
    'Bytes of log records written to local files (file) and handed to the OTLP exporter (otlp).',
  ),
  entry(
    METRIC.logRotations,
    '{event}',
    'counter',
    'echoes_log_rotations_total',
    [],
    'Log file rotations.',
  ),
  entry(
    METRIC.logDropped,
    '{record}',
    'counter',
    'echoes_log_dropped_total',
    ['reason'],
    'Log records dropped or altered (truncated, unserializable, sink_error, disk_full, closed; otlp_queue_full, otlp_export_failed: not shipped over OTLP, still in the files).',
  ),

  // Runtime (instrumentation-runtime-node, plus process memory from us)
  entry(
    'nodejs.eventloop.delay.p99',
    's',
    'gauge',
    'nodejs_eventloop_delay_p99_seconds',
    [],
    'Event-loop delay, 99th percentile.',
    'runtime-node',
  ),
  entry(
    'nodejs.eventloop.delay.p90',
    's',
    'gauge',
    'nodejs_eventloop_delay_p90_seconds',
    [],
    'Event-loop delay, 90th percentile.',
    'runtime-node',
  ),
  entry(
    'nodejs.eventloop.delay.p50',
    's',
    'gauge',
    'nodejs_eventloop_delay_p50_seconds',
    [],
    'Event-loop delay, median.',
    'runtime-node',
  ),
  entry(
    'nodejs.eventloop.delay.max',
    's',
    'gauge',
    'nodejs_eventloop_delay_max_seconds',
    [],
    'Event-loop delay, maximum since the last collection.',
    'runtime-node',
  ),
  entry(
    'nodejs.eventloop.time',
    's',
    'counter',
    'nodejs_eventloop_time_seconds_total',
    ['nodejs.eventloop.state'],
    'Cumulative event-loop time by state (active, idle).',
    'runtime-node',
  ),
  entry(
    'nodejs.eventloop.utilization',
    '1',
    'gauge',
    'nodejs_eventloop_utilization_ratio',
    [],
    'Event-loop utilization.',
    'runtime-node',
  ),
  entry(
    'v8js.memory.heap.used',
    'By',
    'gauge',
    'v8js_memory_heap_used_bytes',
    ['v8js.heap.space.name'],
    'V8 heap used, by space.',
    'runtime-node',
  ),
  // runtime-node 0.36 reports the space size as v8js.memory.heap.space.size (it never emits v8js.memory.heap.limit).
  entry(
    'v8js.memory.heap.space.size',
    'By',
    'updowncounter',
    'v8js_memory_heap_space_size_bytes',
    ['v8js.heap.space.name'],
    'V8 heap space size, by space.',
    'runtime-node',
  ),
  entry(
    'v8js.gc.duration',
    's',
    'histogram',
    'v8js_gc_duration_seconds',
    ['v8js.gc.type'],
    'Garbage collection pauses.',
    'runtime-node',
  ),
  entry(
    METRIC.processMemory,
    'By',
    'gauge',
    'process_memory_usage_bytes',
    [],
    'Resident set size of the process.',
  ),
  entry(
    METRIC.processCpu,
    's',
    'counter',
    'process_cpu_time_seconds_total',
    ['cpu.mode'],
    'CPU time of the process by mode (user, system), from process.cpuUsage() (semconv process.cpu.time).',
  ),

  // Produced by the bundled collector
  entry(
    'traces.span.metrics.calls',
    '{call}',
    'counter',
    'traces_span_metrics_calls_total',
    ['span.name', 'span.kind', 'status.code'],
    'Span counts from the span_metrics connector.',
    'collector',
  ),
  entry(
    'traces.span.metrics.duration',
    'ms',
    'histogram',
    'traces_span_metrics_duration_milliseconds',
    ['span.name', 'span.kind', 'status.code'],
    'Span durations from the span_metrics connector.',
    'collector',
  ),
  entry(
    'system.filesystem.utilization',
    '1',
    'gauge',
    'system_filesystem_utilization_ratio',
    ['device', 'mountpoint', 'type'],
    'Host filesystem utilization (hostmetrics filesystem scraper).',
    'collector',
  ),
  entry(
    'otelcol_receiver_accepted_log_records',
    '{record}',
    'counter',
    'otelcol_receiver_accepted_log_records_total',
    ['receiver'],
    'Log records the collector accepted.',
    'collector',
  ),
  entry(
    'otelcol_receiver_refused_log_records',
    '{record}',
    'counter',
    'otelcol_receiver_refused_log_records_total',
    ['receiver'],
    'Log records the collector refused.',
    'collector',
  ),
  entry(
    'otelcol_receiver_accepted_spans',
    '{span}',
    'counter',
    'otelcol_receiver_accepted_spans_total',
    ['receiver'],
    'Spans the collector accepted.',
    'collector',
  ),
  entry(
    'otelcol_receiver_refused_spans',
    '{span}',
    'counter',
    'otelcol_receiver_refused_spans_total',
    ['receiver'],
    'Spans the collector refused.',
    'collector',
  ),
  entry(
    'otelcol_receiver_accepted_metric_points',
    '{point}',
    'counter',
    'otelcol_receiver_accepted_metric_points_total',
    ['receiver'],
    'Metric points the collector accepted.',
    'collector',
  ),
  entry(
    'otelcol_receiver_refused_metric_points',
    '{point}',
    'counter',
    'otelcol_receiver_refused_metric_points_total',
    ['receiver'],
    'Metric points the collector refused.',
    'collector',
  ),
  entry(
    'otelcol_exporter_send_failed_log_records',
    '{record}',
    'counter',
    'otelcol_exporter_send_failed_log_records_total',
    ['exporter'],
    'Log records an exporter failed to send.',
    'collector',
  ),
  entry(
    'otelcol_exporter_send_failed_spans',
    '{span}',
    'counter',
    'otelcol_exporter_send_failed_spans_total',
    ['exporter'],
    'Spans an exporter failed to send.',
    'collector',
  ),
  entry(
    'otelcol_exporter_enqueue_failed_log_records',
    '{record}',
    'counter',
    'otelcol_exporter_enqueue_failed_log_records_total',
    ['exporter'],
    'Log records dropped because the sending queue was full.',
    'collector',
  ),
  entry(
    'otelcol_process_uptime',
    's',
    'counter',
    'otelcol_process_uptime_seconds_total',
    [],
    'Seconds since the collector started (lists the collectors on Collector health).',
    'collector',
  ),
  entry(
    'otelcol_process_cpu_seconds',
    's',
    'counter',
    'otelcol_process_cpu_seconds_total',
    [],
    'CPU time the collector used.',
    'collector',
  ),
  entry(
    'otelcol_process_memory_rss',
    'By',
    'gauge',
    'otelcol_process_memory_rss_bytes',
    [],
    'Resident memory of the collector.',
    'collector',
  ),
  entry(
    'otelcol_exporter_queue_size',
    '{batch}',
    'gauge',
    'otelcol_exporter_queue_size',
    ['exporter'],
    'Current sending-queue size.',
    'collector',
  ),
  entry(
    'otelcol_exporter_queue_capacity',
    '{batch}',
    'gauge',
    'otelcol_exporter_queue_capacity',
    ['exporter'],
    'Sending-queue capacity.',
    'collector',
  ),
]);

/**
 * Series a dashboard may read that no echoes-otel code emits: what Prometheus derives from every
 * OTLP resource, the GenAI semantic-convention metrics any instrumented LLM client emits, the
 * service graph Tempo's metrics generator writes, and the backends' own metrics (Prometheus
 * scrapes itself, Loki and Tempo: prometheus/prometheus.yml). Not in `CATALOG`: nothing here is
 * ours to emit, so the pipeline test does not expect them from our preload.
 */
export const EXTERNAL_SERIES: readonly {
  readonly prometheus: string;
  readonly type: InstrumentType;
  readonly source: 'otlp' | 'gen-ai' | 'tempo' | 'loki' | 'prometheus' | 'gateway';
  readonly description: string;
}[] = Object.freeze([
  {
    prometheus: 'target_info',
    type: 'gauge',
    source: 'otlp',
    description:
      'One series per OTLP resource (every OTel SDK sends one): its resource attributes as labels.',
  },
  {
    prometheus: 'gen_ai_client_token_usage',
    type: 'histogram',
    source: 'gen-ai',
    description:
      'gen_ai.client.token.usage ({token}): tokens per model call, by gen_ai.token.type (input/output) and model.',
  },
  {
    prometheus: 'gen_ai_client_operation_duration_seconds',
    type: 'histogram',
    source: 'gen-ai',
    description:
      'gen_ai.client.operation.duration (s): model call duration, error.type on failures.',
  },
  {
    prometheus: 'traces_service_graph_request_total',
    type: 'counter',
    source: 'tempo',
    description: "Calls between two services (Tempo's metrics generator, service_graphs).",
  },
  {
    prometheus: 'traces_service_graph_request_failed_total',
    type: 'counter',
    source: 'tempo',
    description: 'Failed calls between two services.',
  },
  {
    prometheus: 'traces_service_graph_request_server_seconds',
    type: 'histogram',
    source: 'tempo',
    description: 'Server-side duration of calls between two services.',
  },
  {
    prometheus: 'traces_service_graph_request_client_seconds',
    type: 'histogram',
    source: 'tempo',
    description: 'Client-side duration of calls between two services.',
  },
  {
    prometheus: 'up',
    type: 'gauge',
    source: 'prometheus',
    description:
      "Whether Prometheus' last scrape of a backend (prometheus, loki, tempo) succeeded.",
  },
  {
    prometheus: 'prometheus_tsdb_head_samples_appended_total',
    type: 'counter',
    source: 'prometheus',
    description: 'Samples Prometheus appended to its head block (all ingestion: OTLP, scrapes).',
  },
  {
    prometheus: 'prometheus_http_requests_total',
    type: 'counter',
    source: 'prometheus',
    description: "Prometheus' HTTP requests by handler and code (OTLP and remote-write ingestion).",
  },
  {
    prometheus: 'prometheus_rule_evaluation_failures_total',
    type: 'counter',
    source: 'prometheus',
    description: 'Rule evaluations that failed.',
  },
  {
    prometheus: 'loki_distributor_lines_received_total',
    type: 'counter',
    source: 'loki',
    description: "Log lines Loki's distributor received.",
  },
  {
    prometheus: 'loki_distributor_bytes_received_total',
    type: 'counter',
    source: 'loki',
    description: "Log bytes Loki's distributor received.",
  },
  {
    prometheus: 'loki_discarded_samples_total',
    type: 'counter',
    source: 'loki',
    description: 'Log lines Loki discarded, by reason (rate limit, too old, too long...).',
  },
  {
    prometheus: 'loki_request_duration_seconds',
    type: 'histogram',
    source: 'loki',
    description: "Loki's HTTP/gRPC requests by route and status code.",
  },
  {
    prometheus: 'tempo_distributor_spans_received_total',
    type: 'counter',
    source: 'tempo',
    description: "Spans Tempo's distributor received.",
  },
  {
    prometheus: 'tempo_discarded_spans_total',
    type: 'counter',
    source: 'tempo',
    description: 'Spans Tempo discarded, by reason.',
  },
  {
    prometheus: 'tempo_request_duration_seconds',
    type: 'histogram',
    source: 'tempo',
    description: "Tempo's requests by route and status code.",
  },
  // The two-tier gateways' tail_sampling processor (collector/gateway/gateway.yaml), not the
  // single collector's: test/integration/scaling.test.ts reads them; and the series the
  // echoes-gateways rules record from them (prometheus/rules/echoes.yml, docs/scaling.md).
  {
    prometheus: 'otelcol_processor_tail_sampling_new_trace_id_received_total',
    type: 'counter',
    source: 'gateway',
    description: 'Traces a gateway started holding (first span of a trace it had not decided on).',
  },
  {
    prometheus: 'otelcol_processor_tail_sampling_global_count_traces_sampled_total',
    type: 'counter',
    source: 'gateway',
    description: 'Traces a gateway decided on, by `decision` (sampled, not_sampled, dropped).',
  },
  {
    prometheus: 'otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total',
    type: 'counter',
    source: 'gateway',
    description: 'Traces a gateway evicted before their decision wait (num_traces reached).',
  },
  {
    prometheus: 'otelcol:tail_sampling_undecided_traces',
    type: 'gauge',
    source: 'gateway',
    description: 'Recorded: traces a gateway holds undecided, as of its last report.',
  },
  {
    prometheus: 'otelcol:tail_sampling_lost_traces:10m',
    type: 'gauge',
    source: 'gateway',
    description:
      'Recorded: traces gateways held undecided when they restarted without a graceful stop, over 10 minutes.',
  },
]);

/** Every series name a query may use: base names plus histogram suffixes. */
export function catalogSeriesNames(): Set<string> {
  const names = new Set<string>();
  for (const e of EXTERNAL_SERIES) {
    if (e.type === 'histogram') {
      for (const s of ['_bucket', '_sum', '_count']) names.add(e.prometheus + s);
    } else {
      names.add(e.prometheus);
    }
  }
  for (const e of CATALOG) {
    if (e.type === 'histogram') {
      for (const s of ['_bucket', '_sum', '_count']) names.add(e.prometheus + s);
    } else {
      names.add(e.prometheus);
    }
  }
  return names;
}

export function catalogEntry(name: string): CatalogEntry | undefined {
  return CATALOG.find((e) => e.name === name);
}

/** A metric name we emit (one of METRIC's values). */
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/**
 * The unit and description of one of our instruments, from its catalog row: every feature makes
 * its instruments with these, so what is exported is what docs/signals.md says
 * (`meter.createCounter(METRIC.x, instrumentOptions(METRIC.x))`). Typed to METRIC's names; a
 * unit test checks each has its row.
 */
export function instrumentOptions(name: MetricName): { unit: string; description: string } {
  const e = catalogEntry(name);
  return { unit: e?.unit ?? '', description: e?.description ?? '' };
}
