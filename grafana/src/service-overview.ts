/** Service overview: RED metrics, outbound calls, process CPU and the alert list, from semantic-convention series any OpenTelemetry service emits. */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  ALERTMANAGER,
  PROMETHEUS_NAME,
  SEL,
  baseDashboard,
  promExemplars,
  promQuery,
  tracesLink,
} from './common.js';
import { R, targetSteps, ts, tsTarget, row } from './panels.js';
import { TARGET } from '../../instrumentation/targets.js';

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

export function serviceOverview(): dashboard.DashboardBuilder {
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
