import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { describe, expect, it } from 'vitest';
import {
  buildDashboards,
  serializeDashboard,
  targetSteps,
} from '../../../grafana/src/dashboards.js';
import {
  passes,
  TARGET,
  TARGETS,
  type Target,
  type TargetId,
} from '../../../instrumentation/targets.js';
import {
  ALL_ENVIRONMENTS,
  ALL_SERVICES,
  DATASOURCE_UIDS,
  SEL,
} from '../../../grafana/src/common.js';
import { catalogSeriesNames } from '../../../instrumentation/catalog.js';
import {
  DASHBOARD_DIR,
  alertOperands,
  dashboardQueries,
  datasourceLogQueries,
  datasourceMetricQueries,
  interpolate,
  panelsOf,
  promqlMetricNames,
  type Panel,
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

  it('cover the eight views with stable, unique uids', () => {
    const uids = committed.map((d) => d.json.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(uids.sort()).toEqual(
      [
        'echoes-audit-targets',
        'echoes-caches',
        'echoes-collector',
        'echoes-disk-io',
        'echoes-logs',
        'echoes-model-calls',
        'echoes-runtime',
        'echoes-service-overview',
      ].sort(),
    );
  });

  it('list services from target_info (every OTel SDK sends it), and "All" environments keeps series without one', () => {
    for (const { file, json } of committed) {
      const vars = new Map((json.templating?.list ?? []).map((v) => [v.name, v]));
      // Collector health lists collectors under their own name: the links carry $service along.
      const svc = file === 'collector-health.json' ? 'collector' : 'service';
      expect([...vars.keys()].sort(), file).toEqual([svc, 'environment'].sort());
      // Loki rejects a selector whose every matcher matches "": the service's All must not.
      expect(vars.get(svc)!.allValue, file).toBe('.+');
      expect(vars.get('environment')!.allValue, file).toBe('.*');
      if (svc === 'service')
        expect(vars.get('service')!.query, file).toBe('label_values(target_info, service_name)');
    }
    expect('').toMatch(new RegExp(`^(?:${ALL_ENVIRONMENTS})$`));
    expect('').not.toMatch(new RegExp(`^(?:${ALL_SERVICES})$`));
  });

  it('filter every app query on both variables, and Collector health on its own', () => {
    for (const q of dashboardQueries()) {
      if (q.where.includes('› variable')) continue;
      const file = q.where.split(' › ')[0]!;
      // Backends: Prometheus, Loki and Tempo are not services of the app (their own metrics).
      if (/^(up|prometheus_|loki_|tempo_)/.test(promqlMetricNames(q.expr)[0] ?? '')) continue;
      if (/system_filesystem_utilization_ratio/.test(q.expr)) continue; // the host, not a service
      if (file === 'collector-health.json') {
        expect(q.expr, q.where).toContain('service_name=~"$collector"');
      } else {
        expect(q.expr, q.where).toContain('service_name=~"$service"');
      }
      expect(q.expr, q.where).toContain('deployment_environment_name=~"$environment"');
    }
  });

  it('never group or label series by instance (a new id after every restart)', () => {
    for (const { file, json } of committed) {
      const text = JSON.stringify(json);
      expect(text, file).not.toMatch(/\{\{instance\}\}|by \((?:[^)]*, )?instance\b/);
    }
  });

  it('share the crosshair, and give every graph and stat a unit; no rate is shown as "short"', () => {
    for (const { file, json } of committed) {
      expect((json as { graphTooltip?: number }).graphTooltip, file).toBe(1);
      for (const p of panelsOf(json)) {
        if (p.type !== 'timeseries' && p.type !== 'stat') continue;
        const unit = p.fieldConfig?.defaults?.unit;
        expect(unit, `${file} › ${p.title}`).toBeTruthy();
        for (const t of p.targets ?? []) {
          const perTime = /\brate\(/.test(t.expr ?? '') && !/\) \/ /.test(t.expr ?? '');
          if (perTime)
            expect(unit, `${file} › ${p.title}: a rate shown as ${unit}`).not.toBe('short');
          if (perTime && /\* 60\b/.test(t.expr ?? ''))
            expect(unit, `${file} › ${p.title}: per minute`).toMatch(
              /^(opm|cpm|rpm|wpm|suffix:.*\/min)$/,
            );
        }
      }
    }
  });

  it('show exemplars on every latency graph, and link each per-service one to the traces in Tempo', () => {
    let linked = 0;
    for (const { file, json } of committed) {
      for (const p of panelsOf(json)) {
        if (p.type !== 'timeseries' || !/latency/i.test(p.title ?? '')) continue;
        const where = `${file} › ${p.title}`;
        expect(
          (p.targets ?? []).some((t) => t.exemplar === true),
          where,
        ).toBe(true);
        if (!(p.targets ?? []).some((t) => /by \([^)]*service_name/.test(t.expr ?? ''))) continue;
        const links = p.fieldConfig?.defaults?.links ?? [];
        expect(links.length, where).toBeGreaterThan(0);
        const url = decodeURIComponent(links[0]!.url.replace(/\$\{[^}]*\}/g, 'X'));
        expect(url, where).toMatch(/^\/explore\?schemaVersion=1&panes=/);
        const panes = JSON.parse(url.slice(url.indexOf('panes=') + 6)) as Record<
          string,
          { datasource: string; queries: Array<{ query: string }> }
        >;
        expect(Object.values(panes)[0]!.datasource, where).toBe('tempo');
        expect(Object.values(panes)[0]!.queries[0]!.query, where).toMatch(
          /^\{resource\.service\.name="X" && kind=(server|client)\}$/,
        );
        expect(links[0]!.url, where).toContain('${__field.labels.service_name:percentencode}');
        linked++;
      }
    }
    expect(linked).toBeGreaterThanOrEqual(4);
  });

  it('put an alert list from the Alertmanager datasource on Service overview', () => {
    const so = committed.find((d) => d.file === 'service-overview.json')!.json;
    const list = panelsOf(so).find((p) => p.type === 'alertlist');
    expect(list?.datasource).toEqual({ type: 'alertmanager', uid: 'alertmanager' });
    const provisioned = provisionedDatasources().find((d) => d.uid === list!.datasource!.uid);
    expect(provisioned?.type).toBe('alertmanager');
    // Its rules come from the Prometheus datasource, which manages the Prometheus rules.
    const source = (list as unknown as { options: { datasource: string } }).options.datasource;
    const rules = provisionedDatasources().find(
      (d) => (d as unknown as { name: string }).name === source,
    );
    expect(rules?.type).toBe('prometheus');
    expect(rules?.jsonData?.manageAlerts).toBe(true);
    expect(JSON.stringify(list)).toContain('$service');
  });

  it('use instant queries over the selected range for the Audit targets stats', () => {
    const at = committed.find((d) => d.file === 'audit-targets.json')!.json;
    const stats = panelsOf(at).filter((p) => p.type === 'stat');
    expect(stats.length).toBeGreaterThanOrEqual(9);
    for (const p of stats) {
      for (const t of p.targets ?? []) {
        expect(t.instant, `${p.title} [${t.refId}]`).toBe(true);
        expect(t.range, `${p.title} [${t.refId}]`).not.toBe(true);
        // No fixed window: a range function over a stat looks at exactly the selected range.
        for (const w of (t.expr ?? '').matchAll(/\[([^\]]+)\]/g))
          expect(w[1], `${p.title}: ${t.expr}`).toBe('$__range');
      }
    }
    const titles = stats.map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        ...TARGETS.filter((t) => t.kind === 'success-metric').map((t) => t.title),
        TARGET.errorRate.title,
        TARGET.diskUtilization.title,
        'Latency p50 / p95 / p99',
      ]),
    );
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

type Steps = Array<{ value: number | null; color: string }>;

const asSteps = (pairs: ReadonlyArray<readonly [number | null, string]>): Steps =>
  pairs.map(([value, color]) => ({ value, color }));

/** The colour Grafana gives `v`: the last step at or below it (the first step is the base). */
function colourOf(steps: Steps, v: number): string {
  let colour = steps[0]!.color;
  for (const s of steps) if (s.value === null || s.value <= v) colour = s.color;
  return colour;
}

/** Does the panel colour values exactly as the target judges them, around its boundary? */
function agrees(steps: Steps, t: Target): boolean {
  const d = Math.max(Math.abs(t.value), 1) * 1e-6;
  return [t.value - d, t.value, t.value + d, t.value * 2 + 1, t.value / 2 - 1].every(
    (v) => (colourOf(steps, v) === 'green') === passes(t, v),
  );
}

/** Panels that draw an audit target: file › title → the target (instrumentation/targets.ts). */
const TARGET_PANELS: ReadonlyArray<readonly [string, string, TargetId]> = [
  ...TARGETS.filter((t) => t.kind === 'success-metric').map(
    (t) => ['audit-targets.json', t.title, t.id] as const,
  ),
  ['audit-targets.json', TARGET.errorRate.title, 'errorRate'],
  ['audit-targets.json', TARGET.diskUtilization.title, 'diskUtilization'],
  ['audit-targets.json', 'Latency p50 / p95 / p99', 'latencyP95'],
  ['audit-targets.json', 'Latency p50 / p95 / p99 over time', 'latencyP95'],
  ['audit-targets.json', 'Disk utilization over time', 'diskUtilization'],
  ['audit-targets.json', 'Disk I/O operations per minute over time', 'diskOpsPerMin'],
  ['audit-targets.json', 'Cache hit rate over time', 'cacheHitRate'],
  ['service-overview.json', 'Error rate (5xx share)', 'errorRate'],
  ['service-overview.json', 'Latency p50 / p95 / p99', 'latencyP95'],
  ['service-overview.json', 'Average response time', 'latencyAvg'],
  ['caches.json', 'Hit ratio per cache', 'cacheHitRate'],
  ['disk-io.json', 'Operations per minute: sync vs async', 'diskOpsPerMin'],
  ['disk-io.json', 'Disk utilization', 'diskUtilization'],
  ['logs.json', 'Log file growth per day', 'logGrowthPerDay'],
  ['runtime.json', 'Memory growth against the target', 'memoryGrowth'],
];

describe('dashboard thresholds against instrumentation/targets.ts', () => {
  const committed = readDashboards();
  const panel = (file: string, title: string) =>
    panelsOf(committed.find((d) => d.file === file)!.json).find((p) => p.title === title);

  it.each(TARGET_PANELS.map(([f, title, id]) => [`${f} › ${title}`, f, title, id] as const))(
    'colour %s as the target judges it',
    (_where, file, title, id) => {
      const p = panel(file, title) as
        (Panel & { fieldConfig?: { defaults?: { thresholds?: { steps: Steps } } } }) | undefined;
      expect(p, `${file} has no panel "${title}"`).toBeDefined();
      const t = TARGET[id];
      expect(
        agrees(p!.fieldConfig!.defaults!.thresholds!.steps, t),
        `${file} › ${title} vs ${id} (${t.text})`,
      ).toBe(true);
      if (p!.type === 'stat' && file === 'audit-targets.json' && title === t.title)
        expect(p!.fieldConfig?.defaults?.unit).toBe(t.grafanaUnit);
    },
  );

  it("measures each success metric with the target's own query over the selected range", () => {
    for (const t of TARGETS.filter((x) => x.kind === 'success-metric' || x.id === 'errorRate')) {
      const p = panel('audit-targets.json', t.title)!;
      const expr = p.targets![0]!.expr!;
      const own = t.query(SEL, '$__range');
      if (t.id === 'errorRate') expect(expr).toContain(own.slice(0, own.indexOf(' / ')));
      else expect(expr.startsWith(own), `${t.title}: ${expr}`).toBe(true);
    }
  });

  it('the check itself catches a threshold off the target, or one on the wrong side', () => {
    const t = TARGET.diskOpsPerMin; // <= 20
    expect(agrees(asSteps(targetSteps(t)), t)).toBe(true);
    const steps = (pairs: Array<[number | null, string]>) =>
      pairs.map(([value, color]) => ({ value, color }));
    expect(
      agrees(
        steps([
          [null, 'green'],
          [25, 'red'],
        ]),
        t,
      ),
    ).toBe(false);
    expect(
      agrees(
        steps([
          [null, 'green'],
          [20, 'red'],
        ]),
        t,
      ),
    ).toBe(false); // 20 passes
    expect(
      agrees(
        steps([
          [null, 'red'],
          [20, 'green'],
        ]),
        t,
      ),
    ).toBe(false);
    const hit = TARGET.cacheHitRate; // > 0.7
    expect(agrees(asSteps(targetSteps(hit)), hit)).toBe(true);
    expect(
      agrees(
        steps([
          [null, 'red'],
          [0.7, 'green'],
        ]),
        hit,
      ),
    ).toBe(false); // 0.7 fails
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

describe('Tempo trace-to-metrics queries', () => {
  it("filter on the span's service through $__tags and name only catalog series", () => {
    const queries = datasourceMetricQueries();
    expect(queries.length).toBeGreaterThanOrEqual(3);
    const allowed = catalogSeriesNames();
    for (const q of queries) {
      expect(q.expr, q.where).toContain('{$__tags}');
      for (const n of promqlMetricNames(interpolate(q.expr)))
        expect(allowed.has(n), q.where).toBe(true);
    }
    expect(interpolate(queries[0]!.expr, { service: 'svc' })).toContain('{service_name="svc"}');
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
