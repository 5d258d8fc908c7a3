/** Collector health: what the collectors received, sent, refused and queued, and the backends' own ingestion. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { baseDashboard, promQuery, serviceVariables } from './common.js';
import { R, ts, row } from './panels.js';

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

export function collectorHealth(): dashboard.DashboardBuilder {
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
    .withRow(row('Gateways (two-tier mode)'))
    .withPanel(
      ts(
        'Gateway undecided traces',
        'short',
        // The two-tier mode (docs/scaling.md, "Failures"; prometheus/rules/echoes.yml).
        'Traces each gateway holds in its tail-sampling buffer, not decided yet, as of its last report (received minus decided minus evicted early): what a SIGKILL, OOM kill or crash of that gateway would lose.',
      ).withTarget(
        promQuery(
          `sum by (service_instance_id) (otelcol:tail_sampling_undecided_traces{${COLLECTOR_SEL}})`,
          '{{service_instance_id}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Gateway traces lost at restarts (10 min)',
        'short',
        'Per gateway, over the last 10 minutes: the undecided traces it held at its last report before each restart without a graceful stop (a graceful stop decides on all of them and counts 0). Alert: GatewayLostUndecidedTraces.',
      ).withTarget(
        promQuery(
          `sum by (service_instance_id) (otelcol:tail_sampling_lost_traces:10m{${COLLECTOR_SEL}})`,
          '{{service_instance_id}}',
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
