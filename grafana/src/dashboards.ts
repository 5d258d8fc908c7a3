/**
 * The seven provisioned dashboards, built with Grafana's foundation SDK. `npm run dashboards`
 * writes them to grafana/dashboards/*.json; a unit test fails when the committed JSON differs.
 * Only signal-catalog series (instrumentation/catalog.ts) appear in the queries.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as logs from '@grafana/grafana-foundation-sdk/logs';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import {
  LOKI,
  PROMETHEUS,
  SEL,
  baseDashboard,
  lokiQuery,
  promInstant,
  promQuery,
  thresholds,
} from './common.js';

const R = '$__rate_interval';
/** The audit's targets (section 8); alert rules in prometheus/rules use the same numbers. */
export const TARGETS = {
  avgResponseSeconds: 1.0,
  fsOpsPerMinute: 20,
  logBytesPerDay: 500_000,
  cacheHitRatio: 0.7,
  diskUtilization: 0.8,
} as const;

const GREEN = 'green';
const RED = 'red';
const YELLOW = 'yellow';

function ts(title: string, unit: string, description: string): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .height(8)
    .span(12)
    .fillOpacity(10)
    .lineWidth(1)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
}

/** A time series with a dashed threshold line (the audit target drawn on the graph). */
function tsTarget(
  title: string,
  unit: string,
  description: string,
  steps: ReadonlyArray<readonly [number | null, string]>,
): timeseries.PanelBuilder {
  return ts(title, unit, description)
    .thresholds(thresholds(steps))
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
}

function statPanel(
  title: string,
  unit: string,
  description: string,
  steps: ReadonlyArray<readonly [number | null, string]>,
): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .height(6)
    .span(8)
    .thresholds(thresholds(steps))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']));
}

function row(title: string): RowBuilder {
  return new RowBuilder(title);
}

// ---------------------------------------------------------------- Service overview

function serviceOverview(): dashboard.DashboardBuilder {
  const count = `http_server_request_duration_seconds_count{${SEL}}`;
  const bucket = `http_server_request_duration_seconds_bucket{${SEL}}`;
  const quantile = (q: number, refId: string) =>
    promQuery(
      `histogram_quantile(${q}, sum by (le) (rate(${bucket}[${R}])))`,
      `p${Math.round(q * 100)}`,
      refId,
    );
  return baseDashboard(
    'echoes-service-overview',
    'echoes-otel / Service overview',
    'Request rate, errors and latency of the selected services (http.server.request.duration).',
  )
    .withRow(row('Requests'))
    .withPanel(
      ts(
        'Request rate by route',
        'reqps',
        'Inbound HTTP requests per second, by route.',
      ).withTarget(promQuery(`sum by (http_route) (rate(${count}[${R}]))`, '{{http_route}}')),
    )
    .withPanel(
      tsTarget(
        'Error rate (5xx share)',
        'percentunit',
        'Share of requests answered with a 5xx status. The ErrorRateHigh alert fires above 5 %.',
        [
          [null, GREEN],
          [0.05, RED],
        ],
      ).withTarget(
        promQuery(
          `sum(rate(http_server_request_duration_seconds_count{${SEL}, http_response_status_code=~"5.."}[${R}])) / sum(rate(${count}[${R}]))`,
          '5xx share',
        ),
      ),
    )
    .withPanel(
      tsTarget(
        'Latency p50 / p95 / p99',
        's',
        'Server-side request duration quantiles. Audit target: average under 1 s; the p95 alert fires above 1.5 s.',
        [
          [null, GREEN],
          [TARGETS.avgResponseSeconds, RED],
        ],
      )
        .withTarget(quantile(0.5, 'A'))
        .withTarget(quantile(0.95, 'B'))
        .withTarget(quantile(0.99, 'C')),
    )
    .withPanel(
      tsTarget(
        'Average response time',
        's',
        'Sum of durations / number of requests: the audit measures "average response time" this way (target < 1.0 s).',
        [
          [null, GREEN],
          [TARGETS.avgResponseSeconds, RED],
        ],
      ).withTarget(
        promQuery(
          `sum(rate(http_server_request_duration_seconds_sum{${SEL}}[${R}])) / sum(rate(${count}[${R}]))`,
          'average',
        ),
      ),
    )
    .withRow(row('Errors and spans'))
    .withPanel(
      ts(
        'Error responses by route and status',
        'reqps',
        '4xx and 5xx responses per second.',
      ).withTarget(
        promQuery(
          `sum by (http_route, http_response_status_code) (rate(http_server_request_duration_seconds_count{${SEL}, http_response_status_code=~"[45].."}[${R}]))`,
          '{{http_route}} {{http_response_status_code}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Server spans by status (span_metrics)',
        'reqps',
        "Span counts from the collector's span_metrics connector, by span name and status code.",
      ).withTarget(
        promQuery(
          `sum by (span_name, status_code) (rate(traces_span_metrics_calls_total{service_name=~"$service", span_kind="SPAN_KIND_SERVER"}[${R}]))`,
          '{{span_name}} {{status_code}}',
        ),
      ),
    );
}

// ---------------------------------------------------------------- Caches

function caches(): dashboard.DashboardBuilder {
  const req = `echoes_cache_requests_total{${SEL}}`;
  return baseDashboard(
    'echoes-caches',
    'echoes-otel / Caches',
    'Hit ratio per cache against the 70 % target, evictions, entries against capacity, and caches with no capacity.',
  )
    .withRow(row('Effectiveness'))
    .withPanel(
      tsTarget(
        'Hit ratio per cache',
        'percentunit',
        'hits / (hits + misses) per cache. Audit target: above 70 % (dashed line); the CacheHitRateLow alert fires below it.',
        [
          [null, RED],
          [TARGETS.cacheHitRatio, GREEN],
        ],
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            // A cache with no hit at all has no hit series: fall back to 0 instead of no line.
            `(sum by (cache_name) (rate(echoes_cache_requests_total{${SEL}, cache_result="hit"}[${R}])) or sum by (cache_name) (rate(${req}[${R}])) * 0) / sum by (cache_name) (rate(${req}[${R}]))`,
            '{{cache_name}}',
          ),
        ),
    )
    .withPanel(
      ts('Lookups by result', 'reqps', 'Cache lookups per second by cache and result.').withTarget(
        promQuery(
          `sum by (cache_name, cache_result) (rate(${req}[${R}]))`,
          '{{cache_name}} {{cache_result}}',
        ),
      ),
    )
    .withRow(row('Size'))
    .withPanel(
      ts(
        'Evictions',
        'ops',
        'Entries removed per second, by cache and reason (capacity, ttl, manual).',
      ).withTarget(
        promQuery(
          `sum by (cache_name, cache_eviction_reason) (rate(echoes_cache_evictions_total{${SEL}}[${R}]))`,
          '{{cache_name}} {{cache_eviction_reason}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Entries against capacity',
        'short',
        'Entries held (solid) and configured capacity per cache. A cache with no capacity line is unbounded.',
      )
        .withTarget(
          promQuery(
            `sum by (cache_name) (echoes_cache_entries{${SEL}})`,
            '{{cache_name}} entries',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (cache_name) (echoes_cache_capacity{${SEL}})`,
            '{{cache_name}} capacity',
            'B',
          ),
        ),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Unbounded caches')
        .description(
          'Caches that report entries but no capacity: memory they hold can grow without limit. The audit asks for none.',
        )
        .datasource(PROMETHEUS)
        .height(8)
        .span(24)
        .noValue('none: every cache has a capacity')
        .withTarget(
          promInstant(
            `sum by (service_name, cache_name) (echoes_cache_entries{${SEL}} unless on (job, instance, cache_name) echoes_cache_capacity)`,
            '{{cache_name}}',
          ),
        ),
    );
}

// ---------------------------------------------------------------- Disk I/O

function diskIo(): dashboard.DashboardBuilder {
  const ops = `echoes_fs_operations_total{${SEL}}`;
  return baseDashboard(
    'echoes-disk-io',
    'echoes-otel / Disk I/O',
    'node:fs operations per minute (sync against async), bytes, event-loop time blocked by sync calls, path groups, directory sizes and disk utilization.',
  )
    .withRow(row('Operations'))
    .withPanel(
      tsTarget(
        'Operations per minute: sync vs async',
        'short',
        'node:fs calls per minute; async = callback, promise and stream APIs. Audit target: about 20 per minute (from about 100).',
        [
          [null, GREEN],
          [TARGETS.fsOpsPerMinute * 5, RED],
        ],
      )
        .withTarget(
          promQuery(
            `sum(rate(echoes_fs_operations_total{${SEL}, fs_api="sync"}[${R}])) * 60`,
            'sync',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum(rate(echoes_fs_operations_total{${SEL}, fs_api!="sync"}[${R}])) * 60`,
            'async',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Event-loop time blocked by sync fs',
        'percentunit',
        'Seconds per second spent inside synchronous fs calls: the share of the event loop they block.',
      ).withTarget(
        promQuery(
          `sum(rate(echoes_fs_operation_duration_seconds_sum{${SEL}, fs_api="sync"}[${R}]))`,
          'blocked',
        ),
      ),
    )
    .withPanel(
      ts('Operations per minute by operation', 'short', 'By operation and API style.').withTarget(
        promQuery(
          `sum by (fs_operation, fs_api) (rate(${ops}[${R}])) * 60`,
          '{{fs_operation}} {{fs_api}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Top path groups',
        'short',
        'The five busiest path groups, operations per minute.',
      ).withTarget(
        promQuery(`topk(5, sum by (fs_path_group) (rate(${ops}[${R}]))) * 60`, '{{fs_path_group}}'),
      ),
    )
    .withRow(row('Bytes and latency'))
    .withPanel(
      ts(
        'Bytes read and written',
        'Bps',
        'Bytes per second through node:fs, by direction and path group.',
      ).withTarget(
        promQuery(
          `sum by (fs_direction, fs_path_group) (rate(echoes_fs_io_bytes_total{${SEL}}[${R}]))`,
          '{{fs_direction}} {{fs_path_group}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'fs call duration p95',
        's',
        '95th percentile duration of node:fs calls by API style.',
      ).withTarget(
        promQuery(
          `histogram_quantile(0.95, sum by (le, fs_api) (rate(echoes_fs_operation_duration_seconds_bucket{${SEL}}[${R}])))`,
          '{{fs_api}}',
        ),
      ),
    )
    .withRow(row('Directories and disk'))
    .withPanel(
      ts(
        'Directory sizes',
        'bytes',
        'Total size of each watched directory (logs, caches, sessions).',
      ).withTarget(
        promQuery(`sum by (dir_name) (echoes_dir_size_bytes{${SEL}})`, '{{dir_name}}', 'A'),
      ),
    )
    .withPanel(
      ts(
        'Files per directory',
        'short',
        'Number of files under each watched directory.',
      ).withTarget(promQuery(`sum by (dir_name) (echoes_dir_files{${SEL}})`, '{{dir_name}}')),
    )
    .withPanel(
      tsTarget(
        'Disk utilization',
        'percentunit',
        'Used fraction of the volume holding each watched directory (from the app) and of the host filesystems (collector hostmetrics). The DiskUsageHigh alerts fire above 80 %.',
        [
          [null, GREEN],
          [TARGETS.diskUtilization, RED],
        ],
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            `max by (dir_name) (echoes_disk_utilization_ratio{${SEL}})`,
            'app: {{dir_name}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            'max by (mountpoint) (system_filesystem_utilization_ratio)',
            'host: {{mountpoint}}',
            'B',
          ),
        ),
    );
}

// ---------------------------------------------------------------- Logs

function logsDashboard(): dashboard.DashboardBuilder {
  const written = `echoes_log_written_bytes_total{${SEL}, log_sink="file"}`;
  return baseDashboard(
    'echoes-logs',
    'echoes-otel / Logs',
    'Log volume by level, growth per day against the 500 KB target, rotations and drops, and error lines from Loki with links to their traces.',
  )
    .withRow(row('Volume'))
    .withPanel(
      ts(
        'Records per second by level',
        'short',
        'Records accepted by the logger (echoes.log.records).',
      ).withTarget(
        promQuery(
          `sum by (log_level) (rate(echoes_log_records_total{${SEL}}[${R}]))`,
          '{{log_level}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Lines in Loki by severity',
        'short',
        'Log lines stored in Loki per interval, by OTLP severity text.',
      )
        .datasource(LOKI)
        .withTarget(
          lokiQuery(
            `sum by (severity_text) (count_over_time({${SEL}} [$__auto]))`,
            '{{severity_text}}',
          ),
        ),
    )
    .withRow(row('Growth'))
    .withPanel(
      tsTarget(
        'Log file growth per day',
        'decbytes',
        "Bytes written to the local log files over the last 24 h (solid) and the last hour's rate projected to a day. Audit target: under 500 KB per day.",
        [
          [null, GREEN],
          [TARGETS.logBytesPerDay, RED],
        ],
      )
        .withTarget(
          promQuery(
            `sum by (service_name) (increase(${written}[1d]))`,
            '{{service_name}} last 24 h',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name) (rate(${written}[1h])) * 86400`,
            '{{service_name}} projected',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Bytes written by sink',
        'Bps',
        'Bytes per second to local files and to the OTLP exporter.',
      ).withTarget(
        promQuery(
          `sum by (log_sink) (rate(echoes_log_written_bytes_total{${SEL}}[${R}]))`,
          '{{log_sink}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Rotations and dropped records',
        'short',
        'File rotations and records dropped or altered (truncated, sink_error, disk_full) in the last hour.',
      )
        .withTarget(
          promQuery(`sum(increase(echoes_log_rotations_total{${SEL}}[1h]))`, 'rotations', 'A'),
        )
        .withTarget(
          promQuery(
            `sum by (reason) (increase(echoes_log_dropped_total{${SEL}}[1h]))`,
            'dropped: {{reason}}',
            'B',
          ),
        ),
    )
    .withPanel(
      ts('Bytes in Loki per day', 'decbytes', 'Log bytes Loki stored over the last 24 h.')
        .datasource(LOKI)
        .withTarget(
          lokiQuery(`sum by (service_name) (bytes_over_time({${SEL}} [1d]))`, '{{service_name}}'),
        ),
    )
    .withRow(row('Errors'))
    .withPanel(
      new logs.PanelBuilder()
        .title('Error lines')
        .description(
          "ERROR and FATAL records from Loki. Expand a line: its trace_id links to the trace in Tempo (the Loki datasource's derived field).",
        )
        .datasource(LOKI)
        .height(12)
        .span(24)
        .showTime(true)
        .enableLogDetails(true)
        .wrapLogMessage(true)
        .sortOrder(common.LogsSortOrder.Descending)
        .withTarget(lokiQuery(`{${SEL}} | severity_text=~"(?i)error|fatal"`, '')),
    );
}

// ---------------------------------------------------------------- Runtime

function runtime(): dashboard.DashboardBuilder {
  return baseDashboard(
    'echoes-runtime',
    'echoes-otel / Runtime',
    'V8 heap, resident memory, event-loop delay and utilization, and garbage collection.',
  )
    .withRow(row('Memory'))
    .withPanel(
      ts('Heap used and heap size', 'bytes', 'V8 heap used and total heap space size per process.')
        .withTarget(
          promQuery(
            `sum by (instance) (v8js_memory_heap_used_bytes{${SEL}})`,
            '{{instance}} used',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (instance) (v8js_memory_heap_space_size_bytes{${SEL}})`,
            '{{instance}} size',
            'B',
          ),
        ),
    )
    .withPanel(
      ts('Resident set size', 'bytes', 'RSS per process (process.memory.usage).').withTarget(
        promQuery(`sum by (instance) (process_memory_usage_bytes{${SEL}})`, '{{instance}}'),
      ),
    )
    .withPanel(
      ts('Heap used by space', 'bytes', 'V8 heap used, by heap space.').withTarget(
        promQuery(
          `sum by (v8js_heap_space_name) (v8js_memory_heap_used_bytes{${SEL}})`,
          '{{v8js_heap_space_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Memory growth per hour',
        'bytes',
        'Slope of RSS and heap over the last 30 minutes, per hour. Bounded memory keeps this near zero; the MemoryLeakSuspected and HeapGrowthSustained alerts watch it.',
      )
        .withTarget(
          promQuery(
            `sum by (instance) (deriv(process_memory_usage_bytes{${SEL}}[30m])) * 3600`,
            '{{instance}} RSS',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (instance) (deriv(v8js_memory_heap_used_bytes{${SEL}}[30m])) * 3600`,
            '{{instance}} heap',
            'B',
          ),
        ),
    )
    .withRow(row('Event loop and GC'))
    .withPanel(
      ts('Event-loop delay', 's', 'Event-loop delay median and 99th percentile.')
        .withTarget(
          promQuery(
            `max by (instance) (nodejs_eventloop_delay_p50_seconds{${SEL}})`,
            '{{instance}} p50',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `max by (instance) (nodejs_eventloop_delay_p99_seconds{${SEL}})`,
            '{{instance}} p99',
            'B',
          ),
        ),
    )
    .withPanel(
      ts('Event-loop utilization', 'percentunit', 'Share of time the event loop was busy.')
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            `max by (instance) (nodejs_eventloop_utilization_ratio{${SEL}})`,
            '{{instance}}',
          ),
        ),
    )
    .withPanel(
      ts(
        'GC time per second',
        'percentunit',
        'Seconds per second spent in garbage collection, by GC type.',
      ).withTarget(
        promQuery(
          `sum by (v8js_gc_type) (rate(v8js_gc_duration_seconds_sum{${SEL}}[${R}]))`,
          '{{v8js_gc_type}}',
        ),
      ),
    )
    .withPanel(
      ts('GC runs per second', 'ops', 'Garbage collections per second, by GC type.').withTarget(
        promQuery(
          `sum by (v8js_gc_type) (rate(v8js_gc_duration_seconds_count{${SEL}}[${R}]))`,
          '{{v8js_gc_type}}',
        ),
      ),
    );
}

// ---------------------------------------------------------------- Audit targets

function auditTargets(): dashboard.DashboardBuilder {
  return baseDashboard(
    'echoes-audit-targets',
    'echoes-otel / Audit targets',
    "The audit's success metrics (section 8) over the selected time range, each against its target.",
  )
    .withRow(row('Success metrics (audit section 8)'))
    .withPanel(
      statPanel(
        'Average response time',
        's',
        'Target < 1.0 s (was 1.18 s). Sum of request durations / number of requests over the time range.',
        [
          [null, GREEN],
          [TARGETS.avgResponseSeconds, RED],
        ],
      ).withTarget(
        promQuery(
          `sum(rate(http_server_request_duration_seconds_sum{${SEL}}[$__range])) / sum(rate(http_server_request_duration_seconds_count{${SEL}}[$__range]))`,
          'average',
        ),
      ),
    )
    .withPanel(
      statPanel(
        'Disk I/O operations per minute',
        'short',
        'Target about 20 (was about 100). Rate of node:fs operations × 60. Yellow from 25, red from 100.',
        [
          [null, GREEN],
          [25, YELLOW],
          [100, RED],
        ],
      ).withTarget(
        promQuery(`sum(rate(echoes_fs_operations_total{${SEL}}[$__range])) * 60`, 'ops/min'),
      ),
    )
    .withPanel(
      statPanel(
        'Log file growth per day',
        'decbytes',
        'Target < 500 KB per day (was 1–5 MB). Bytes written to the local log files over the last 24 h.',
        [
          [null, GREEN],
          [TARGETS.logBytesPerDay, RED],
        ],
      ).withTarget(
        promQuery(
          `sum(increase(echoes_log_written_bytes_total{${SEL}, log_sink="file"}[1d]))`,
          'bytes/day',
        ),
      ),
    )
    .withPanel(
      statPanel(
        'Memory growth (RSS per hour)',
        'bytes',
        'Target: bounded (was unbounded). Slope of resident memory over the last hour; sustained growth above 10 MB per hour turns red.',
        [
          [null, GREEN],
          [1_000_000, YELLOW],
          [10_000_000, RED],
        ],
      ).withTarget(
        promQuery(`max(deriv(process_memory_usage_bytes{${SEL}}[1h])) * 3600`, 'RSS/hour'),
      ),
    )
    .withPanel(
      statPanel(
        'Unbounded caches',
        'short',
        'Target: 0 (every cache has a capacity). Caches that report entries but no capacity.',
        [
          [null, GREEN],
          [1, RED],
        ],
      )
        .noValue('0')
        .withTarget(
          promQuery(
            `count(echoes_cache_entries{${SEL}} unless on (job, instance, cache_name) echoes_cache_capacity)`,
            'unbounded',
          ),
        ),
    )
    .withPanel(
      statPanel(
        'Cache hit rate',
        'percentunit',
        'Target > 70 % (was unknown). Hits / lookups over all caches in the time range.',
        [
          [null, RED],
          [TARGETS.cacheHitRatio, GREEN],
        ],
      ).withTarget(
        promQuery(
          `sum(rate(echoes_cache_requests_total{${SEL}, cache_result="hit"}[$__range])) / sum(rate(echoes_cache_requests_total{${SEL}}[$__range]))`,
          'hit rate',
        ),
      ),
    );
}

// ---------------------------------------------------------------- Collector health

function collectorHealth(): dashboard.DashboardBuilder {
  // The collector's own metrics carry the collector's identity, not the app's: no $service filter.
  const by = (name: string, label: string) => `sum by (${label}) (rate(${name}[${R}]))`;
  return baseDashboard(
    'echoes-collector',
    'echoes-otel / Collector health',
    'What the bundled collector accepted, refused, failed to send or dropped, and how full its sending queues are.',
  )
    .withRow(row('Receivers'))
    .withPanel(
      ts('Accepted', 'short', 'Items per second the receivers accepted.')
        .withTarget(
          promQuery(
            by('otelcol_receiver_accepted_spans_total', 'receiver'),
            'spans {{receiver}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            by('otelcol_receiver_accepted_metric_points_total', 'receiver'),
            'metric points {{receiver}}',
            'B',
          ),
        )
        .withTarget(
          promQuery(
            by('otelcol_receiver_accepted_log_records_total', 'receiver'),
            'log records {{receiver}}',
            'C',
          ),
        ),
    )
    .withPanel(
      ts(
        'Refused',
        'short',
        'Items per second the receivers refused (memory limiter, invalid data). Anything above zero fires CollectorRefusingData.',
      )
        .withTarget(
          promQuery(
            by('otelcol_receiver_refused_spans_total', 'receiver'),
            'spans {{receiver}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            by('otelcol_receiver_refused_metric_points_total', 'receiver'),
            'metric points {{receiver}}',
            'B',
          ),
        )
        .withTarget(
          promQuery(
            by('otelcol_receiver_refused_log_records_total', 'receiver'),
            'log records {{receiver}}',
            'C',
          ),
        ),
    )
    .withRow(row('Exporters'))
    .withPanel(
      ts(
        'Failed sends and dropped items',
        'short',
        'Items per second an exporter failed to send, or could not enqueue because its queue was full. Anything above zero fires CollectorDroppingData.',
      )
        .withTarget(
          promQuery(
            by('otelcol_exporter_send_failed_spans_total', 'exporter'),
            'send failed spans {{exporter}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            by('otelcol_exporter_send_failed_log_records_total', 'exporter'),
            'send failed log records {{exporter}}',
            'B',
          ),
        )
        .withTarget(
          promQuery(
            by('otelcol_exporter_enqueue_failed_log_records_total', 'exporter'),
            'queue full, log records {{exporter}}',
            'C',
          ),
        ),
    )
    .withPanel(
      ts(
        'Sending queue size against capacity',
        'short',
        "Batches waiting in each exporter's sending queue, and the queue capacity.",
      )
        .withTarget(
          promQuery('sum by (exporter) (otelcol_exporter_queue_size)', '{{exporter}} size', 'A'),
        )
        .withTarget(
          promQuery(
            'sum by (exporter) (otelcol_exporter_queue_capacity)',
            '{{exporter}} capacity',
            'B',
          ),
        ),
    );
}

export interface GeneratedDashboard {
  /** File name under grafana/dashboards/. */
  readonly file: string;
  readonly json: dashboard.Dashboard;
}

/** Every dashboard, in a stable order. */
export function buildDashboards(): GeneratedDashboard[] {
  const builders: Array<[string, dashboard.DashboardBuilder]> = [
    ['service-overview.json', serviceOverview()],
    ['caches.json', caches()],
    ['disk-io.json', diskIo()],
    ['logs.json', logsDashboard()],
    ['runtime.json', runtime()],
    ['audit-targets.json', auditTargets()],
    ['collector-health.json', collectorHealth()],
  ];
  return builders.map(([file, b]) => {
    const json = b.build();
    // Stable panel ids (the builder leaves them unset and rows at 0): links and alerts can cite them.
    (json.panels ?? []).forEach((panel, i) => {
      panel.id = i + 1;
    });
    return { file, json };
  });
}

/** The exact bytes committed for a dashboard: stable key order from the builder, 2-space indent. */
export function serializeDashboard(d: dashboard.Dashboard): string {
  return JSON.stringify(d, null, 2) + '\n';
}
