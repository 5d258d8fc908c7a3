/**
 * Shared pieces of the dashboard generator: provisioned datasource uids, the service/environment
 * variables and the label selector every panel query starts from.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as loki from '@grafana/grafana-foundation-sdk/loki';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';

/** The uids `grafana/provisioning/datasources/datasources.yaml` gives; links and panels rely on them. */
export const DATASOURCE_UIDS = {
  prometheus: 'prometheus',
  loki: 'loki',
  tempo: 'tempo',
  alertmanager: 'alertmanager',
} as const;

/** The Prometheus datasource's provisioned name: the alert list names its rule source by name. */
export const PROMETHEUS_NAME = 'Prometheus';

export const PROMETHEUS: dashboard.DataSourceRef = {
  type: 'prometheus',
  uid: DATASOURCE_UIDS.prometheus,
};
export const LOKI: dashboard.DataSourceRef = { type: 'loki', uid: DATASOURCE_UIDS.loki };

/** Alertmanager (Prometheus sends its alerts there): Service overview's alert list reads it. */
export const ALERTMANAGER: dashboard.DataSourceRef = {
  type: 'alertmanager',
  uid: DATASOURCE_UIDS.alertmanager,
};

/**
 * Label selector for the two variables. Prometheus promotes `service.name` and
 * `deployment.environment.name` to these labels (prometheus/prometheus.yml) and Loki indexes them
 * under the same names (loki/config.yaml), so one selector serves both query languages.
 * The service's "All" is `.+`: Loki rejects a stream selector whose every matcher matches "".
 * The environment's "All" is `.*`, so series of a service that sets no environment (the label
 * is absent: matches "") stay in; the service matcher keeps every Loki selector valid.
 */
export const SEL = 'service_name=~"$service", deployment_environment_name=~"$environment"';

/**
 * The series the variables list from: Prometheus writes one `target_info` per OTLP resource, so
 * every service an OpenTelemetry SDK exports from appears, whatever instrumentation it runs.
 */
export const VARIABLE_SOURCE = 'target_info';

export const ALL_SERVICES = '.+';
export const ALL_ENVIRONMENTS = '.*';

function variable(
  name: string,
  label: string,
  query: string,
  allValue: string,
): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(PROMETHEUS)
    .query(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .includeAll(true)
    .allValue(allValue)
    .multi(true);
}

/**
 * `service` and `environment`. `source` is the series listing them: `target_info` for the app
 * dashboards; Collector health lists the collectors (their own service name) instead.
 */
export function serviceVariables(source = VARIABLE_SOURCE): dashboard.QueryVariableBuilder[] {
  return [
    variable('service', 'Service', `label_values(${source}, service_name)`, ALL_SERVICES),
    variable(
      'environment',
      'Environment',
      `label_values(${source}{service_name=~"$service"}, deployment_environment_name)`,
      ALL_ENVIRONMENTS,
    ),
  ];
}

export function promQuery(expr: string, legend: string, refId = 'A'): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .datasource(PROMETHEUS)
    .expr(expr)
    .legendFormat(legend)
    .refId(refId);
}

export function promInstant(
  expr: string,
  legend: string,
  refId = 'A',
): prometheus.DataqueryBuilder {
  return promQuery(expr, legend, refId).instant().format(prometheus.PromQueryFormat.Table);
}

/** One instant value for a stat panel: evaluated once at the end of the range, not per step. */
export function promStat(expr: string, legend: string, refId = 'A'): prometheus.DataqueryBuilder {
  return promQuery(expr, legend, refId).instant();
}

/** A latency query whose exemplars (trace ids on the histogram buckets) Grafana draws, linked to Tempo. */
export function promExemplars(
  expr: string,
  legend: string,
  refId = 'A',
): prometheus.DataqueryBuilder {
  return promQuery(expr, legend, refId).exemplar(true);
}

export function lokiQuery(expr: string, legend: string, refId = 'A'): loki.DataqueryBuilder {
  const q = new loki.DataqueryBuilder().datasource(LOKI).expr(expr).refId(refId);
  return legend === '' ? q : q.legendFormat(legend);
}

export function thresholds(
  steps: ReadonlyArray<readonly [number | null, string]>,
): cog.Builder<dashboard.ThresholdsConfig> {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

/**
 * A data link from a series to its service's traces in Tempo (Explore, TraceQL), over the
 * dashboard's time range. Used on latency panels whose series carry `service_name`; `kind` picks
 * server or client spans. Placeholders are swapped in after encoding: Grafana fills
 * `${__field.labels.service_name:percentencode}`, `${__from}` and `${__to}` when the link is opened.
 */
export function tracesLink(
  title: string,
  kind: 'server' | 'client',
): dashboard.DashboardLinkBuilder {
  const panes = {
    traces: {
      datasource: DATASOURCE_UIDS.tempo,
      queries: [
        {
          refId: 'A',
          datasource: { type: 'tempo', uid: DATASOURCE_UIDS.tempo },
          queryType: 'traceql',
          query: `{resource.service.name="@SERVICE@" && kind=${kind}}`,
        },
      ],
      range: { from: '@FROM@', to: '@TO@' },
    },
  };
  const url = `/explore?schemaVersion=1&panes=${encodeURIComponent(JSON.stringify(panes))}`
    .replace('%40SERVICE%40', '${__field.labels.service_name:percentencode}')
    .replace('%40FROM%40', '${__from}')
    .replace('%40TO%40', '${__to}');
  return new dashboard.DashboardLinkBuilder(title).url(url).targetBlank(true);
}

/** Dashboard skeleton shared by all: uid, tags, shared crosshair, variables, links to the others. */
export function baseDashboard(
  uid: string,
  title: string,
  description: string,
  variables: dashboard.QueryVariableBuilder[] = serviceVariables(),
): dashboard.DashboardBuilder {
  const b = new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['echoes-otel'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('browser')
    // One cursor across panels: a latency spike lines up with the error, CPU and GC panels.
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder('echoes-otel dashboards')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['echoes-otel'])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    );
  for (const v of variables) b.withVariable(v);
  return b;
}
