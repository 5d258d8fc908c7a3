/**
 * The provisioned dashboards, built with Grafana's foundation SDK. `npm run dashboards` writes
 * them to grafana/dashboards/*.json; a unit test fails when the committed JSON differs. Only
 * signal-catalog series (instrumentation/catalog.ts, CATALOG and EXTERNAL_SERIES) appear in the
 * queries. Service overview, Runtime's CPU panel and Model calls read only semantic-convention
 * series, so they work for any OpenTelemetry service, not only ours.
 */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { serviceOverview } from './service-overview.js';
import { caches } from './caches.js';
import { diskIo } from './disk-io.js';
import { logsDashboard } from './logs.js';
import { runtime } from './runtime.js';
import { auditTargets } from './audit-targets.js';
import { collectorHealth } from './collector-health.js';
import { modelCalls } from './model-calls.js';

export { targetSteps } from './panels.js';

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
