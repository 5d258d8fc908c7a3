import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { describe, expect, it } from 'vitest';
import { buildDashboards, serializeDashboard } from '../../../grafana/src/dashboards.js';
import { DATASOURCE_UIDS } from '../../../grafana/src/common.js';
import { catalogSeriesNames } from '../../../instrumentation/catalog.js';
import {
  DASHBOARD_DIR,
  alertOperands,
  dashboardQueries,
  datasourceLogQueries,
  interpolate,
  promqlMetricNames,
  provisionedDatasources,
  readDashboards,
  ruleQueries,
} from './stack-queries.js';

/** lezer marks what it could not parse with error nodes; a query Loki accepts has none. */
function logqlErrors(query: string): string[] {
  const tree = logqlParser.parse(query);
  const errors: string[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError)
        errors.push(`at ${node.from}: "${query.slice(Math.max(0, node.from - 15), node.to + 15)}"`);
    },
  });
  return errors;
}

describe('the PromQL helpers these tests rely on', () => {
  it('extracts metric names and ignores functions, labels, strings, ranges and keywords', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.95, sum by (le, service_name) (rate(http_server_request_duration_seconds_bucket{service_name=~".+", x="a{b}"}[5m] offset 1d))) > 1.5 and on (job) up_metric',
      ).sort(),
    ).toEqual(['http_server_request_duration_seconds_bucket', 'up_metric']);
    expect(
      promqlMetricNames(
        'label_values(process_memory_usage_bytes{service_name=~"$service"}, deployment_environment_name)',
      ),
    ).toEqual(['process_memory_usage_bytes']);
    expect(
      promqlMetricNames(
        'sum(label_replace(rate(a_total[5m]), "signal", "spans", "", "")) * 60 + 1e6',
      ),
    ).toEqual(['a_total']);
    expect(promqlMetricNames('max(nodejs_eventloop_delay_p50_seconds) * 0.5')).toEqual([
      'nodejs_eventloop_delay_p50_seconds',
    ]);
  });

  it('splits an alert into the operands it tests', () => {
    expect(alertOperands('max by (x) (a) > 0.8')).toEqual(['max by (x) (a)']);
    expect(alertOperands('(b / c > 1.5 * d) and (b > 0.2)')).toEqual(['b / c', 'b']);
    expect(alertOperands('deriv(e[30m]) > 0 unless on (job, cache_name) f')).toEqual([
      'deriv(e[30m])',
      'f',
    ]);
    expect(alertOperands('sum by (r) (g{a="x > y"} or h) > 0')).toEqual([
      'sum by (r) (g{a="x > y"} or h)',
    ]);
  });
});

describe('generated dashboards', () => {
  const generated = buildDashboards();
  const committed = readDashboards();

  it('are the committed JSON, byte for byte (run `npm run dashboards` after changing grafana/src)', () => {
    expect(committed.map((d) => d.file).sort()).toEqual(generated.map((d) => d.file).sort());
    for (const d of generated) {
      const onDisk = readFileSync(join(DASHBOARD_DIR, d.file), 'utf8');
      expect(onDisk, `grafana/dashboards/${d.file} is stale`).toBe(serializeDashboard(d.json));
    }
  });

  it('cover the seven views with stable, unique uids', () => {
    const uids = committed.map((d) => d.json.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(uids.sort()).toEqual(
      [
        'echoes-audit-targets',
        'echoes-caches',
        'echoes-collector',
        'echoes-disk-io',
        'echoes-logs',
        'echoes-runtime',
        'echoes-service-overview',
      ].sort(),
    );
  });

  it('each have the service and environment variables, with "All" usable in a Loki selector', () => {
    for (const { file, json } of committed) {
      const vars = json.templating?.list ?? [];
      const names = vars.map((v) => v.name);
      expect(names, file).toEqual(expect.arrayContaining(['service', 'environment']));
      for (const v of vars) expect(v.allValue, `${file} ${v.name}`).toBe('.+');
    }
  });

  it('reference only the provisioned datasource uids, with matching types', () => {
    const provisioned = new Map(provisionedDatasources().map((d) => [d.uid, d.type]));
    expect([...provisioned.keys()].sort()).toEqual(Object.values(DATASOURCE_UIDS).sort());
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(40);
    for (const q of queries) {
      expect(q.datasource?.uid, q.where).toBeDefined();
      expect(provisioned.get(q.datasource!.uid!), `${q.where}: uid ${q.datasource?.uid}`).toBe(
        q.datasource?.type,
      );
    }
  });

  it('name only catalog series in their PromQL', () => {
    const allowed = catalogSeriesNames();
    const promql = dashboardQueries().filter((q) => q.language === 'promql');
    let names = 0;
    for (const q of promql) {
      const found = promqlMetricNames(interpolate(q.expr));
      expect(found.length, `${q.where}: no metric name found in ${q.expr}`).toBeGreaterThan(0);
      for (const n of found) {
        names++;
        expect(allowed.has(n), `${q.where}: ${n} is not in instrumentation/catalog.ts`).toBe(true);
      }
    }
    expect(names).toBeGreaterThan(40);
  });

  it("have LogQL that parses with Grafana's own grammar (@grafana/lezer-logql), after variable interpolation", () => {
    const logql = [
      ...dashboardQueries().filter((q) => q.language === 'logql'),
      ...datasourceLogQueries(),
    ];
    expect(logql.length).toBeGreaterThanOrEqual(4);
    for (const q of logql) {
      const expr = interpolate(q.expr);
      expect(logqlErrors(expr), `${q.where}: ${expr}`).toEqual([]);
    }
  });

  it('the LogQL check itself rejects broken queries', () => {
    expect(logqlErrors('{service_name=~".+"} | severity_text=~"(?i)error"')).toEqual([]);
    expect(logqlErrors('{service_name=~".+" | severity_text=')).not.toEqual([]);
    expect(logqlErrors('sum by (x) (count_over_time({a="b"} [$__auto]))')).not.toEqual([]);
  });
});

describe('datasource provisioning', () => {
  const ds = new Map(provisionedDatasources().map((d) => [d.uid, d]));

  it('links Loki log lines to Tempo through the trace_id structured metadata', () => {
    const derived = (ds.get('loki')?.jsonData?.derivedFields ?? []) as Array<
      Record<string, string>
    >;
    expect(derived).toContainEqual(
      expect.objectContaining({
        matcherType: 'label',
        matcherRegex: 'trace_id',
        datasourceUid: 'tempo',
      }),
    );
  });

  it('links Tempo traces to their Loki logs and Prometheus exemplars to Tempo', () => {
    const t2l = ds.get('tempo')?.jsonData?.tracesToLogsV2 as Record<string, unknown> | undefined;
    expect(t2l?.datasourceUid).toBe('loki');
    expect(String(t2l?.query)).toContain('trace_id');
    const ex = ds.get('prometheus')?.jsonData?.exemplarTraceIdDestinations as
      Array<Record<string, string>> | undefined;
    expect(ex).toContainEqual(
      expect.objectContaining({ name: 'trace_id', datasourceUid: 'tempo' }),
    );
  });
});

describe('alert rules', () => {
  it('name only catalog series', () => {
    const allowed = catalogSeriesNames();
    for (const q of ruleQueries()) {
      const found = promqlMetricNames(q.expr);
      expect(found.length, q.where).toBeGreaterThan(0);
      for (const n of found)
        expect(allowed.has(n), `${q.where}: ${n} is not in instrumentation/catalog.ts`).toBe(true);
    }
  });
});
