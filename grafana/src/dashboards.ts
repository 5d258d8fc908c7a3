/**
 * The provisioned dashboards, built with Grafana's foundation SDK. `npm run dashboards` writes
 * them to grafana/dashboards/*.json; a unit test fails when the committed JSON differs. Only
 * signal-catalog series (instrumentation/catalog.ts, CATALOG and EXTERNAL_SERIES) appear in the
 * queries. Service overview, Runtime's CPU panel and Model calls read only semantic-convention
 * series, so they work for any OpenTelemetry service, not only ours.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as logs from '@grafana/grafana-foundation-sdk/logs';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import {
  ALERTMANAGER,
  LOKI,
  PROMETHEUS_NAME,
  PROMETHEUS,
  SEL,
  baseDashboard,
  lokiQuery,
  promExemplars,
  promInstant,
  promQuery,
  promStat,
  serviceVariables,
  thresholds,
  tracesLink,
} from './common.js';
import { TARGET, type Target } from '../../instrumentation/targets.js';

const R = '$__rate_interval';
const GREEN = 'green';
const RED = 'red';
/**
 * Threshold steps drawing a target (instrumentation/targets.ts, the numbers the report CLI and the
 * alert rules use): green where `passes(t, v)`, red elsewhere. Grafana colours a value by the last
 * step at or below it, so an inclusive bound (`<=`, `>`) starts the next colour just above it.
 */
export function targetSteps(t: Target): Array<readonly [number | null, string]> {
  const above = t.value + Math.max(Math.abs(t.value), 1) * 1e-9;
  switch (t.comparison) {
    case '<':
      return [
        [null, GREEN],
        [t.value, RED],
      ];
    case '<=':
      return [
        [null, GREEN],
        [above, RED],
      ];
    case '>':
      return [
        [null, RED],
        [above, GREEN],
      ];
    case '>=':
      return [
        [null, RED],
        [t.value, GREEN],
      ];
  }
}

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
  return (
    new stat.PanelBuilder()
      .title(title)
      .description(description)
      .datasource(PROMETHEUS)
      .unit(unit)
      .height(6)
      .span(8)
      .thresholds(thresholds(steps))
      .colorMode(common.BigValueColorMode.Background)
      // Instant queries: one value at the end of the range, no series to draw.
      .graphMode(common.BigValueGraphMode.None)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
  );
}

function row(title: string): RowBuilder {
  return new RowBuilder(title);
}

// ---------------------------------------------------------------- Service overview

/**
 * Grafana's alert-list panel (no foundation-SDK builder for it): firing and pending instances of
 * the alert rules for the selected services. The panel lists rules from a rule source, here the
 * Prometheus datasource (`manageAlerts`), whose rules Prometheus sends to Alertmanager to notify;
 * the panel's datasource is Alertmanager's, where their silences and notifications live.
 */
function alertList(): cog.Builder<dashboard.Panel> {
  const panel = {
    type: 'alertlist',
    title: 'Firing alerts',
    description:
      'Firing and pending alerts of the selected services and of their hosts, grouped by service and severity (Prometheus rules; Alertmanager notifies). docs/alerts.md has the runbook of each.',
    datasource: ALERTMANAGER,
    gridPos: { h: 6, w: 24, x: 0, y: 0 },
    options: {
      viewMode: 'list',
      groupMode: 'custom',
      groupBy: ['service_name', 'severity'],
      maxItems: 20,
      sortOrder: 3, // importance
      dashboardAlerts: false,
      alertName: '',
      showInstances: true,
      // `|`: alerts without a service (a host filesystem filling up) show with every service.
      alertInstanceLabelFilter: '{service_name=~"$service|"}',
      datasource: PROMETHEUS_NAME,
      stateFilter: {
        firing: true,
        pending: true,
        recovering: true,
        noData: false,
        normal: false,
        error: true,
      },
    },
  } as unknown as dashboard.Panel;
  return { build: () => panel };
}

function serviceOverview(): dashboard.DashboardBuilder {
  const count = `http_server_request_duration_seconds_count{${SEL}}`;
  const bucket = `http_server_request_duration_seconds_bucket{${SEL}}`;
  const clientCount = `http_client_request_duration_seconds_count{${SEL}}`;
  const clientBucket = `http_client_request_duration_seconds_bucket{${SEL}}`;
  const quantile = (q: number, refId: string) =>
    (refId === 'A' ? promExemplars : promQuery)(
      `histogram_quantile(${q}, sum by (le, service_name) (rate(${bucket}[${R}])))`,
      `{{service_name}} p${Math.round(q * 100)}`,
      refId,
    );
  return baseDashboard(
    'echoes-service-overview',
    'echoes-otel / Service overview',
    'Request rate, errors and latency of the selected services, and their outbound calls, from the HTTP semantic-convention histograms (http.server.request.duration, http.client.request.duration): any OpenTelemetry service has them. Latency panels show exemplars (dots) that open the trace in Tempo.',
  )
    .withRow(row('Alerts'))
    .withPanel(alertList())
    .withRow(row('Requests'))
    .withPanel(
      ts(
        'Request rate by route',
        'reqps',
        'Inbound HTTP requests per second, by service and route (http.route; empty when the service sets none).',
      ).withTarget(
        promQuery(
          `sum by (service_name, http_route) (rate(${count}[${R}]))`,
          '{{service_name}} {{http_route}}',
        ),
      ),
    )
    .withPanel(
      tsTarget(
        'Error rate (5xx share)',
        'percentunit',
        `Share of requests answered with a 5xx status, per service (0 when there are none). Target ${TARGET.errorRate.text}: the ErrorRateHigh alert fires above it.`,
        targetSteps(TARGET.errorRate),
      ).withTarget(
        promQuery(
          // No 5xx series at all means 0 %, not "no data".
          `(sum by (service_name) (rate(http_server_request_duration_seconds_count{${SEL}, http_response_status_code=~"5.."}[${R}])) or sum by (service_name) (rate(${count}[${R}])) * 0) / sum by (service_name) (rate(${count}[${R}]))`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      tsTarget(
        'Latency p50 / p95 / p99',
        's',
        `Server-side request duration quantiles per service; red from the p95 target (${TARGET.latencyP95.text}; the average's is ${TARGET.latencyAvg.text}). Dots are exemplars: sampled requests, each linked to its trace.`,
        targetSteps(TARGET.latencyP95),
      )
        .dataLinks([
          tracesLink('Server spans of ${__field.labels.service_name} in Tempo', 'server'),
        ])
        .withTarget(quantile(0.5, 'A'))
        .withTarget(quantile(0.95, 'B'))
        .withTarget(quantile(0.99, 'C')),
    )
    .withPanel(
      tsTarget(
        'Average response time',
        's',
        `Sum of durations / number of requests: the audit measures "average response time" this way (target ${TARGET.latencyAvg.text}).`,
        targetSteps(TARGET.latencyAvg),
      ).withTarget(
        promQuery(
          `sum by (service_name) (rate(http_server_request_duration_seconds_sum{${SEL}}[${R}])) / sum by (service_name) (rate(${count}[${R}]))`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Latency p95 by route',
        's',
        '95th percentile server duration per service and route. Dots are exemplars linked to their traces.',
      )
        .dataLinks([
          tracesLink('Server spans of ${__field.labels.service_name} in Tempo', 'server'),
        ])
        .withTarget(
          promExemplars(
            `histogram_quantile(0.95, sum by (le, service_name, http_route) (rate(${bucket}[${R}])))`,
            '{{service_name}} {{http_route}}',
          ),
        ),
    )
    .withPanel(
      ts(
        'Error responses by route and status',
        'reqps',
        '4xx and 5xx responses per second.',
      ).withTarget(
        promQuery(
          `sum by (service_name, http_route, http_response_status_code) (rate(http_server_request_duration_seconds_count{${SEL}, http_response_status_code=~"[45].."}[${R}]))`,
          '{{service_name}} {{http_route}} {{http_response_status_code}}',
        ),
      ),
    )
    .withRow(row('Outbound calls'))
    .withPanel(
      ts(
        'Outbound request rate by server',
        'reqps',
        'Outbound HTTP requests per second (http.client.request.duration), by service and the server called (server.address).',
      ).withTarget(
        promQuery(
          `sum by (service_name, server_address) (rate(${clientCount}[${R}]))`,
          '{{service_name}} → {{server_address}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Outbound latency p95 by server',
        's',
        '95th percentile client-side duration per server called. Dots are exemplars linked to their traces.',
      )
        .dataLinks([
          tracesLink('Client spans of ${__field.labels.service_name} in Tempo', 'client'),
        ])
        .withTarget(
          promExemplars(
            `histogram_quantile(0.95, sum by (le, service_name, server_address) (rate(${clientBucket}[${R}])))`,
            '{{service_name}} → {{server_address}}',
          ),
        ),
    )
    .withRow(row('Spans'))
    .withPanel(
      ts(
        'Latency p95 of server spans (span_metrics)',
        's',
        "95th percentile duration of server spans by service and span name, from the collector's span_metrics connector: any service that exports traces has it. Dots are exemplars linked to their traces.",
      )
        .dataLinks([
          tracesLink('Server spans of ${__field.labels.service_name} in Tempo', 'server'),
        ])
        .withTarget(
          promExemplars(
            `histogram_quantile(0.95, sum by (le, service_name, span_name) (rate(traces_span_metrics_duration_milliseconds_bucket{${SEL}, span_kind="SPAN_KIND_SERVER"}[${R}]))) / 1000`,
            '{{service_name}} {{span_name}}',
          ),
        ),
    )
    .withPanel(
      ts(
        'Server spans by status (span_metrics)',
        'reqps',
        "Span counts from the collector's span_metrics connector, by service, span name and status code.",
      ).withTarget(
        promQuery(
          `sum by (service_name, span_name, status_code) (rate(traces_span_metrics_calls_total{${SEL}, span_kind="SPAN_KIND_SERVER"}[${R}]))`,
          '{{service_name}} {{span_name}} {{status_code}}',
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
        `hits / (hits + misses) per cache. Audit target ${TARGET.cacheHitRate.text} (dashed line); the CacheHitRateLow alert fires below it.`,
        targetSteps(TARGET.cacheHitRate),
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
      ts('Lookups by result', 'ops', 'Cache lookups per second by cache and result.').withTarget(
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
        'opm',
        `node:fs calls per minute; async = callback, promise and stream APIs. Audit target for all of them together: ${TARGET.diskOpsPerMin.text} (was about 100).`,
        targetSteps(TARGET.diskOpsPerMin),
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
      ts('Operations per minute by operation', 'opm', 'By operation and API style.').withTarget(
        promQuery(
          `sum by (fs_operation, fs_api) (rate(${ops}[${R}])) * 60`,
          '{{fs_operation}} {{fs_api}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Top path groups',
        'opm',
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
        'Total size of each watched directory (ECHOES_DIRS: the log directory by default).',
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
        `Used fraction of the volume holding each watched directory (from the app) and of the host filesystems (collector hostmetrics). Target ${TARGET.diskUtilization.text}: the DiskUsageHigh alerts fire above it.`,
        targetSteps(TARGET.diskUtilization),
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
        'cps',
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
        `Bytes written to the local log files over the last 24 h (solid) and the last hour's rate projected to a day. Audit target: ${TARGET.logGrowthPerDay.text} per day.`,
        targetSteps(TARGET.logGrowthPerDay),
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
    'Process CPU, V8 heap, resident memory, event-loop delay and utilization, and garbage collection, per service (all its processes together).',
  )
    .withRow(row('CPU'))
    .withPanel(
      ts(
        'Process CPU',
        'percentunit',
        'CPU seconds per second of the selected services (process.cpu.time): 100 % is one core busy.',
      ).withTarget(
        promQuery(
          `sum by (service_name) (rate(process_cpu_time_seconds_total{${SEL}}[${R}]))`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Process CPU by mode',
        'percentunit',
        'CPU seconds per second in user and system (kernel) mode. A high system share points at I/O and syscalls.',
      ).withTarget(
        promQuery(
          `sum by (service_name, cpu_mode) (rate(process_cpu_time_seconds_total{${SEL}}[${R}]))`,
          '{{service_name}} {{cpu_mode}}',
        ),
      ),
    )
    .withRow(row('Memory'))
    .withPanel(
      ts('Heap used and heap size', 'bytes', 'V8 heap used and total heap space size per service.')
        .withTarget(
          promQuery(
            `sum by (service_name) (v8js_memory_heap_used_bytes{${SEL}})`,
            '{{service_name}} used',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name) (v8js_memory_heap_space_size_bytes{${SEL}})`,
            '{{service_name}} size',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Resident set size',
        'bytes',
        'RSS per service, its processes summed (process.memory.usage).',
      ).withTarget(
        promQuery(`sum by (service_name) (process_memory_usage_bytes{${SEL}})`, '{{service_name}}'),
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
        'si:B/h',
        'Slope of RSS and heap over the last 30 minutes, in bytes per hour. Bounded memory keeps this near zero; the MemoryLeakSuspected and HeapGrowthSustained alerts watch it.',
      )
        .withTarget(
          promQuery(
            `sum by (service_name) (deriv(process_memory_usage_bytes{${SEL}}[30m])) * 3600`,
            '{{service_name}} RSS',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name) (deriv(v8js_memory_heap_used_bytes{${SEL}}[30m])) * 3600`,
            '{{service_name}} heap',
            'B',
          ),
        ),
    )
    .withPanel(
      tsTarget(
        'Memory growth against the target',
        'percentunit',
        `Resident memory growth per hour as a share of its mean over ${TARGET.memoryGrowth.window} (the fastest-growing process of each service): "bounded" is ${TARGET.memoryGrowth.text} (dashed), the MemoryLeakSuspected alert fires above it.`,
        targetSteps(TARGET.memoryGrowth),
      ).withTarget(
        promQuery(`max by (service_name) (${TARGET.memoryGrowth.query(SEL)})`, '{{service_name}}'),
      ),
    )
    .withRow(row('Event loop and GC'))
    .withPanel(
      ts(
        'Event-loop delay',
        's',
        'Event-loop delay median and 99th percentile (the worst process of each service).',
      )
        .withTarget(
          promQuery(
            `max by (service_name) (nodejs_eventloop_delay_p50_seconds{${SEL}})`,
            '{{service_name}} p50',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `max by (service_name) (nodejs_eventloop_delay_p99_seconds{${SEL}})`,
            '{{service_name}} p99',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Event-loop utilization',
        'percentunit',
        'Share of time the event loop was busy (the busiest process of each service).',
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            `max by (service_name) (nodejs_eventloop_utilization_ratio{${SEL}})`,
            '{{service_name}}',
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

/**
 * A stat for one audit target: its own instant query (instrumentation/targets.ts, the one the
 * report CLI and the alert rules evaluate) over the dashboard's selected range, its unit, and
 * its threshold.
 */
function targetStat(t: Target, description: string, expr = t.query(SEL, '$__range')) {
  return statPanel(
    t.title,
    t.grafanaUnit,
    `Target ${t.text}${t.before ? ` (was ${t.before})` : ''}. ${description}`,
    targetSteps(t),
  ).withTarget(promStat(expr, '{{service_name}}'));
}

/** `a / b` as `(a or b * 0) / b`: a ratio whose numerator has no series yet is 0, not "no data". */
function zeroWhenNone(ratio: string): string {
  const i = ratio.indexOf(' / ');
  if (i < 0) return ratio;
  const [num, den] = [ratio.slice(0, i), ratio.slice(i + 3)];
  return `(${num} or ${den} * 0) / ${den}`;
}

function auditTargets(): dashboard.DashboardBuilder {
  const bucket = `http_server_request_duration_seconds_bucket{${SEL}}`;
  const hits = `echoes_cache_requests_total{${SEL}, cache_result="hit"}`;
  const lookups = `echoes_cache_requests_total{${SEL}}`;
  const rangeQuantile = (q: number, refId: string) =>
    promStat(
      `histogram_quantile(${q}, sum by (le) (increase(${bucket}[$__range])))`,
      `p${Math.round(q * 100)}`,
      refId,
    );
  const trendQuantile = (q: number, refId: string) =>
    (refId === 'A' ? promExemplars : promQuery)(
      `histogram_quantile(${q}, sum by (le) (rate(${bucket}[${R}])))`,
      `p${Math.round(q * 100)}`,
      refId,
    );
  const logs = TARGET.logGrowthPerDay;
  return baseDashboard(
    'echoes-audit-targets',
    'echoes-otel / Audit targets',
    "The audit's success metrics (section 8) over the selected time range, each against its target, measured by the very queries the report CLI and the alert rules use (instrumentation/targets.ts); plus the latency quantiles, error rate and disk utilization its monitoring section asks for. One value per service.",
  )
    .withRow(row('Success metrics (audit section 8), over the selected range'))
    .withPanel(
      targetStat(
        TARGET.latencyAvg,
        'Sum of request durations / number of requests over the selected range.',
      ),
    )
    .withPanel(
      targetStat(
        TARGET.diskOpsPerMin,
        'node:fs operations per minute (every API, every path group) over the selected range.',
      ),
    )
    .withPanel(
      targetStat(
        logs,
        'Bytes written to the local log files over the selected range, per day (projected when the range is shorter or longer than a day).',
        `${logs.query(SEL, '$__range')} * 86400 / $__range_s`,
      ),
    )
    .withPanel(
      targetStat(
        TARGET.memoryGrowth,
        'Resident memory growth per hour, as a share of its mean over the selected range (least-squares slope), per process. The other half of "bounded", every cache having a capacity, is the next panel.',
      ),
    )
    .withPanel(
      targetStat(
        TARGET.unboundedCaches,
        'Caches that report entries but no capacity, now.',
      ).noValue('0'),
    )
    .withPanel(
      targetStat(
        TARGET.cacheHitRate,
        'Hits / lookups per cache over the selected range; the worst cache decides.',
      ),
    )
    .withRow(row('Monitoring requirements (audit section 8)'))
    .withPanel(
      statPanel(
        'Latency p50 / p95 / p99',
        's',
        `Request duration quantiles over the selected range, all selected services together; red from the p95 target (${TARGET.latencyP95.text}).`,
        targetSteps(TARGET.latencyP95),
      )
        .withTarget(rangeQuantile(0.5, 'A'))
        .withTarget(rangeQuantile(0.95, 'B'))
        .withTarget(rangeQuantile(0.99, 'C')),
    )
    .withPanel(
      targetStat(
        TARGET.errorRate,
        'Share of requests answered with a 5xx status over the selected range.',
        zeroWhenNone(TARGET.errorRate.query(SEL, '$__range')),
      ),
    )
    .withPanel(
      targetStat(
        TARGET.diskUtilization,
        'Used share of the volume holding each watched directory, now (the host filesystems: the trend panel below).',
      ),
    )
    .withRow(row('Trends'))
    .withPanel(
      tsTarget(
        'Latency p50 / p95 / p99 over time',
        's',
        `Request duration quantiles (dashed: the p95 target, ${TARGET.latencyP95.text}). Dots are exemplars linked to their traces.`,
        targetSteps(TARGET.latencyP95),
      )
        .withTarget(trendQuantile(0.5, 'A'))
        .withTarget(trendQuantile(0.95, 'B'))
        .withTarget(trendQuantile(0.99, 'C')),
    )
    .withPanel(
      tsTarget(
        'Disk utilization over time',
        'percentunit',
        `Fullest app volume and host filesystem (dashed: ${TARGET.diskUtilization.text}).`,
        targetSteps(TARGET.diskUtilization),
      )
        .min(0)
        .max(1)
        .withTarget(promQuery(`max(echoes_disk_utilization_ratio{${SEL}})`, 'app volumes', 'A'))
        .withTarget(promQuery('max(system_filesystem_utilization_ratio)', 'host', 'B')),
    )
    .withPanel(
      tsTarget(
        'Disk I/O operations per minute over time',
        'opm',
        `node:fs operations per minute (dashed: ${TARGET.diskOpsPerMin.text}).`,
        targetSteps(TARGET.diskOpsPerMin),
      ).withTarget(
        promQuery(
          `sum by (service_name) (rate(echoes_fs_operations_total{${SEL}}[${R}])) * 60`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      tsTarget(
        'Cache hit rate over time',
        'percentunit',
        `Hits / lookups per cache (dashed: ${TARGET.cacheHitRate.text}).`,
        targetSteps(TARGET.cacheHitRate),
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            `sum by (cache_name) (rate(${hits}[${R}])) / sum by (cache_name) (rate(${lookups}[${R}]))`,
            '{{cache_name}}',
          ),
        ),
    );
}

// ---------------------------------------------------------------- Collector health

/** The collectors' own series carry their service name (otelcol-echoes), listed by this variable. */
const COLLECTOR_SEL = 'service_name=~"$collector", deployment_environment_name=~"$environment"';

function collectorVariables(): dashboard.QueryVariableBuilder[] {
  const [service, environment] = serviceVariables('otelcol_process_uptime_seconds_total');
  // Its own name, so the dashboard links (which carry the app's $service along) cannot empty it.
  service!
    .name('collector')
    .label('Collector')
    .query('label_values(otelcol_process_uptime_seconds_total, service_name)');
  environment!.query(
    'label_values(otelcol_process_uptime_seconds_total{service_name=~"$collector"}, deployment_environment_name)',
  );
  return [service!, environment!];
}

function collectorHealth(): dashboard.DashboardBuilder {
  const by = (name: string, label: string) =>
    `sum by (${label}) (rate(${name}{${COLLECTOR_SEL}}[${R}]))`;
  return baseDashboard(
    'echoes-collector',
    'echoes-otel / Collector and backends',
    'What the selected collectors accepted, refused, failed to send or dropped, how full their sending queues are and what they cost; and the health of Prometheus, Loki and Tempo from their own metrics (Prometheus scrapes them: prometheus/prometheus.yml).',
    collectorVariables(),
  )
    .withRow(row('Receivers'))
    .withPanel(
      ts('Accepted', 'cps', 'Items per second the receivers accepted.')
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
        'cps',
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
        'cps',
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
          promQuery(
            `sum by (exporter) (otelcol_exporter_queue_size{${COLLECTOR_SEL}})`,
            '{{exporter}} size',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (exporter) (otelcol_exporter_queue_capacity{${COLLECTOR_SEL}})`,
            '{{exporter}} capacity',
            'B',
          ),
        ),
    )
    .withRow(row('Collector process'))
    .withPanel(
      ts('Collector CPU', 'percentunit', 'CPU seconds per second of each collector.').withTarget(
        promQuery(
          `sum by (service_name) (rate(otelcol_process_cpu_seconds_total{${COLLECTOR_SEL}}[${R}]))`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Collector resident memory',
        'bytes',
        'RSS of each collector; its memory_limiter refuses data above OTELCOL_MEMORY_LIMIT_MIB.',
      ).withTarget(
        promQuery(
          `sum by (service_name) (otelcol_process_memory_rss_bytes{${COLLECTOR_SEL}})`,
          '{{service_name}}',
        ),
      ),
    )
    .withRow(row('Backends'))
    .withPanel(
      ts(
        'Backends up',
        'short',
        "1 when Prometheus' last scrape of the backend's own /metrics succeeded, 0 when it failed.",
      )
        .min(0)
        .max(1)
        .withTarget(promQuery('max by (job) (up{job=~"prometheus|loki|tempo"})', '{{job}}')),
    )
    .withPanel(
      ts(
        'Prometheus ingestion',
        'cps',
        'Samples Prometheus appends per second (everything: OTLP from the collector, remote write from Tempo, its scrapes).',
      ).withTarget(
        promQuery(
          `sum(rate(prometheus_tsdb_head_samples_appended_total[${R}]))`,
          'samples appended',
        ),
      ),
    )
    .withPanel(
      ts(
        'Prometheus ingestion and rule errors',
        'reqps',
        'OTLP and remote-write requests Prometheus answered with an error, and failed rule evaluations, per second (0 when none).',
      )
        .withTarget(
          promQuery(
            `sum by (handler) (rate(prometheus_http_requests_total{handler=~"/api/v1/(otlp/v1/metrics|write)", code!~"2.."}[${R}])) or sum by (handler) (rate(prometheus_http_requests_total{handler=~"/api/v1/(otlp/v1/metrics|write)"}[${R}])) * 0`,
            'failed {{handler}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum(rate(prometheus_rule_evaluation_failures_total[${R}]))`,
            'rule evaluation failures',
            'B',
          ),
        ),
    )
    .withPanel(
      ts('Loki ingestion', 'Bps', "Log bytes and lines per second Loki's distributor received.")
        .withTarget(
          promQuery(`sum(rate(loki_distributor_bytes_received_total[${R}]))`, 'bytes', 'A'),
        )
        .withTarget(
          promQuery(`sum(rate(loki_distributor_lines_received_total[${R}]))`, 'lines', 'B'),
        )
        .overrideByName('lines', [{ id: 'unit', value: 'cps' }]),
    )
    .withPanel(
      ts(
        'Loki errors',
        'cps',
        'Log lines Loki discarded (by reason) and requests it answered with a 5xx, per second.',
      )
        .withTarget(
          promQuery(
            `sum by (reason) (rate(loki_discarded_samples_total[${R}]))`,
            'discarded: {{reason}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (route) (rate(loki_request_duration_seconds_count{status_code=~"5.."}[${R}]))`,
            '5xx: {{route}}',
            'B',
          ),
        ),
    )
    .withPanel(
      ts('Tempo ingestion', 'cps', "Spans per second Tempo's distributor received.").withTarget(
        promQuery(`sum(rate(tempo_distributor_spans_received_total[${R}]))`, 'spans'),
      ),
    )
    .withPanel(
      ts(
        'Tempo errors',
        'cps',
        'Spans Tempo discarded (by reason) and requests it answered with a 5xx, per second.',
      )
        .withTarget(
          promQuery(
            `sum by (reason) (rate(tempo_discarded_spans_total[${R}]))`,
            'discarded: {{reason}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (route) (rate(tempo_request_duration_seconds_count{status_code=~"5.."}[${R}]))`,
            '5xx: {{route}}',
            'B',
          ),
        ),
    );
}

// ---------------------------------------------------------------- Model calls

function modelCalls(): dashboard.DashboardBuilder {
  const tokens = `gen_ai_client_token_usage_sum{${SEL}}`;
  const calls = `gen_ai_client_operation_duration_seconds_count{${SEL}}`;
  const bucket = `gen_ai_client_operation_duration_seconds_bucket{${SEL}}`;
  return baseDashboard(
    'echoes-model-calls',
    'echoes-otel / Model calls',
    'LLM calls of the selected services from the GenAI semantic-convention metrics (gen_ai.client.token.usage, gen_ai.client.operation.duration) that any instrumented client emits: tokens per minute, latency and errors by model.',
  )
    .withRow(row('Tokens'))
    .withPanel(
      ts(
        'Tokens per minute by model',
        'suffix: tokens/min',
        'Input and output tokens per minute, by requested model (gen_ai.client.token.usage).',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_token_type) (rate(${tokens}[${R}])) * 60`,
          '{{gen_ai_request_model}} {{gen_ai_token_type}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Tokens per call',
        'short',
        'Average tokens per call, by model and token type.',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_token_type) (rate(${tokens}[${R}])) / sum by (gen_ai_request_model, gen_ai_token_type) (rate(gen_ai_client_token_usage_count{${SEL}}[${R}]))`,
          '{{gen_ai_request_model}} {{gen_ai_token_type}}',
        ),
      ),
    )
    .withRow(row('Calls and latency'))
    .withPanel(
      ts(
        'Calls per minute by model',
        'opm',
        'Model calls per minute, by requested model and operation (chat, embeddings...).',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_operation_name) (rate(${calls}[${R}])) * 60`,
          '{{gen_ai_request_model}} {{gen_ai_operation_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Latency p95 by model',
        's',
        '95th percentile model call duration by requested model (gen_ai.client.operation.duration). Dots are exemplars linked to their traces.',
      )
        .dataLinks([
          tracesLink('Client spans of ${__field.labels.service_name} in Tempo', 'client'),
        ])
        .withTarget(
          promExemplars(
            `histogram_quantile(0.95, sum by (le, service_name, gen_ai_request_model) (rate(${bucket}[${R}])))`,
            '{{service_name}} {{gen_ai_request_model}}',
          ),
        ),
    )
    .withPanel(
      ts(
        'Errors by model',
        'opm',
        'Failed model calls per minute, by model and error.type (0 when none failed).',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, error_type) (rate(gen_ai_client_operation_duration_seconds_count{${SEL}, error_type!=""}[${R}])) * 60 or sum by (gen_ai_request_model) (rate(${calls}[${R}])) * 0`,
          '{{gen_ai_request_model}} {{error_type}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Served by model',
        'opm',
        'Calls per minute by the model that answered (gen_ai.response.model): a provider may serve another version than the one asked for.',
      ).withTarget(
        promQuery(
          `sum by (gen_ai_request_model, gen_ai_response_model) (rate(${calls}[${R}])) * 60`,
          '{{gen_ai_request_model}} → {{gen_ai_response_model}}',
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
    ['model-calls.json', modelCalls()],
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
