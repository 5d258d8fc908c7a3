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

export const PROMETHEUS: dashboard.DataSourceRef = {
  type: 'prometheus',
  uid: DATASOURCE_UIDS.prometheus,
};
export const LOKI: dashboard.DataSourceRef = { type: 'loki', uid: DATASOURCE_UIDS.loki };

/**
 * Label selector for the two variables. Prometheus promotes `service.name` and
 * `deployment.environment.name` to these labels (prometheus/prometheus.yml) and Loki indexes them
 * under the same names (loki/config.yaml), so one selector serves both query languages.
 * "All" is `.+`, not `.*`: Loki rejects a stream selector whose every matcher matches "".
 */
export const SEL = 'service_name=~"$service", deployment_environment_name=~"$environment"';

/** The series every instrumented process exports; the variables list its label values. */
const VARIABLE_SOURCE = 'process_memory_usage_bytes';

export function serviceVariables(): dashboard.QueryVariableBuilder[] {
  const service = new dashboard.QueryVariableBuilder('service')
    .label('Service')
    .datasource(PROMETHEUS)
    .query(`label_values(${VARIABLE_SOURCE}, service_name)`)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .includeAll(true)
    .allValue('.+')
    .multi(true);
  const environment = new dashboard.QueryVariableBuilder('environment')
    .label('Environment')
    .datasource(PROMETHEUS)
    .query(
      `label_values(${VARIABLE_SOURCE}{service_name=~"$service"}, deployment_environment_name)`,
    )
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .includeAll(true)
    .allValue('.+')
    .multi(true);
  return [service, environment];
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

/** Dashboard skeleton shared by all seven: uid, tags, variables, links to the others. */
export function baseDashboard(
  uid: string,
  title: string,
  description: string,
): dashboard.DashboardBuilder {
  const b = new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['echoes-otel'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('browser')
    .link(
      new dashboard.DashboardLinkBuilder('echoes-otel dashboards')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['echoes-otel'])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    );
  for (const v of serviceVariables()) b.withVariable(v);
  return b;
}
