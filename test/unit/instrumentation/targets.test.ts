import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { catalogSeriesNames } from '../../../instrumentation/catalog.js';
import {
  TARGET,
  TARGETS,
  breachExpr,
  durationSeconds,
  passes,
  type Target,
} from '../../../instrumentation/targets.js';
import { evaluate, type AuditInputs, type ReportRow } from '../../../src/cli/report.js';
import { REPO_ROOT } from '../../helpers/paths.js';

const RULES_FILE = join(REPO_ROOT, 'prometheus/rules/echoes.yml');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}

/** Alerts that enforce no target value (a relative comparison with yesterday; pipeline health). */
const NOT_TARGETS = new Set([
  'LatencyDegradedVsYesterday',
  'LogRecordsLost',
  'LogRecordsNotShipped',
  'CollectorRefusingData',
  'CollectorDroppingData',
  'CollectorQueueNearlyFull',
  'GatewayLostUndecidedTraces',
]);

const squash = (s: string) =>
  s.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();

/** Every way the rules file and the targets module disagree (empty when they agree). */
function ruleDisagreements(rulesYaml: string, targets: readonly Target[]): string[] {
  const doc = parseYaml(rulesYaml) as { groups: Array<{ rules: Rule[] }> };
  const rules = new Map(
    doc.groups.flatMap((g) => g.rules).flatMap((r) => (r.alert ? [[r.alert, r] as const] : [])),
  );
  const out: string[] = [];
  const enforced = new Set<string>();
  for (const t of targets) {
    for (const a of t.alerts) {
      enforced.add(a.name);
      const r = rules.get(a.name);
      if (!r) {
        out.push(`${t.id}: alert ${a.name} is not in the rules`);
        continue;
      }
      if (squash(r.expr) !== squash(a.expr))
        out.push(
          `${a.name}: expr differs\n  rules:   ${squash(r.expr)}\n  targets: ${squash(a.expr)}`,
        );
      if ((r.for ?? '0s') !== a.for)
        out.push(`${a.name}: for ${r.for} in the rules, ${a.for} in targets`);
      if (r.labels?.severity !== a.severity)
        out.push(
          `${a.name}: severity ${r.labels?.severity} in the rules, ${a.severity} in targets`,
        );
    }
  }
  for (const name of rules.keys())
    if (!enforced.has(name) && !NOT_TARGETS.has(name))
      out.push(`${name}: a rule no target declares (add it to targets.ts or to NOT_TARGETS)`);
  return out;
}

const healthy: AuditInputs = {
  windowS: 3600,
  httpDurationSumS: 10,
  httpCount: 100,
  fsOpsPerMin: 1,
  fsOpsPerMinByGroup: {},
  logFileBytesPerDay: 1,
  memory: {
    series: 'process_memory_usage_bytes',
    slopeBytesPerS: 0,
    meanBytes: 100e6,
    caches: ['c'],
    cappedCaches: ['c'],
  },
  cacheRequests: { c: { hits: 99, misses: 1 } },
};

/** Inputs whose one measured figure for `id` is `v` (everything else healthy). */
function withValue(id: string, v: number): AuditInputs {
  switch (id) {
    case 'latencyAvg':
      return { ...healthy, httpDurationSumS: v * 100, httpCount: 100 };
    case 'diskOpsPerMin':
      return { ...healthy, fsOpsPerMin: v };
    case 'logGrowthPerDay':
      return { ...healthy, logFileBytesPerDay: v };
    case 'memoryGrowth':
      return { ...healthy, memory: { ...healthy.memory, slopeBytesPerS: (v * 100e6) / 3600 } };
    case 'unboundedCaches': {
      const caches = ['c', ...Array.from({ length: v }, (_, i) => `u${i}`)];
      return { ...healthy, memory: { ...healthy.memory, caches } };
    }
    case 'cacheHitRate':
      return { ...healthy, cacheRequests: { c: { hits: v * 1e6, misses: (1 - v) * 1e6 } } };
    default:
      throw new Error(`no report row for ${id}`);
  }
}

const ROW: Record<string, ReportRow['key']> = {
  latencyAvg: 'avg_response_time',
  diskOpsPerMin: 'disk_io_per_min',
  logGrowthPerDay: 'log_growth_per_day',
  memoryGrowth: 'memory',
  unboundedCaches: 'memory',
  cacheHitRate: 'cache_hit_rate',
};

/** Where `report` decides differently from the targets module, at and around each threshold. */
function reportDisagreements(targets: readonly Target[], ev = evaluate): string[] {
  const out: string[] = [];
  for (const t of targets.filter((x) => x.kind === 'success-metric')) {
    const key = ROW[t.id];
    if (key === undefined) {
      out.push(`${t.id}: a success metric the report has no row for`);
      continue;
    }
    const step = t.value === 0 ? 1 : Math.abs(t.value) * 0.001;
    const probes =
      t.id === 'unboundedCaches' ? [0, 1, 2] : [t.value - step, t.value, t.value + step];
    for (const v of probes) {
      const row = ev(withValue(t.id, v)).find((r) => r.key === key)!;
      if (row.pass !== passes(t, v))
        out.push(`${t.id} at ${v}: report says ${row.pass}, targets say ${passes(t, v)}`);
    }
    if (key !== 'memory' && ev(healthy).find((r) => r.key === key)!.target !== t.text)
      out.push(`${t.id}: report prints another target than "${t.text}"`);
  }
  return out;
}

describe('targets', () => {
  it('have unique ids and the lookup record matches the list', () => {
    expect(new Set(TARGETS.map((t) => t.id)).size).toBe(TARGETS.length);
    for (const t of TARGETS) expect(TARGET[t.id]).toBe(t);
  });

  it("cover the audit's five success metrics and its three alerts", () => {
    const ids = TARGETS.map((t) => t.id);
    for (const id of [
      'latencyAvg',
      'diskOpsPerMin',
      'logGrowthPerDay',
      'memoryGrowth',
      'cacheHitRate',
    ])
      expect(ids).toContain(id);
    // Disk > 80 %, memory leaks, response time degradation.
    expect(TARGET.diskUtilization.value).toBe(0.8);
    expect(TARGET.memoryGrowth.alerts.map((a) => a.name)).toContain('MemoryLeakSuspected');
    expect(TARGET.latencyP95.alerts.length).toBeGreaterThan(0);
  });

  it('decide pass and fail by their comparison', () => {
    expect(passes(TARGET.latencyAvg, 0.99)).toBe(true);
    expect(passes(TARGET.latencyAvg, 1)).toBe(false);
    expect(passes(TARGET.diskOpsPerMin, 20)).toBe(true);
    expect(passes(TARGET.diskOpsPerMin, 20.1)).toBe(false);
    expect(passes(TARGET.cacheHitRate, 0.7)).toBe(false);
    expect(passes(TARGET.cacheHitRate, 0.71)).toBe(true);
  });

  it('build PromQL that keeps the breaching series and takes selectors and windows', () => {
    expect(breachExpr(TARGET.diskOpsPerMin)).toBe(
      'sum by (service_name, deployment_environment_name) (rate(echoes_fs_operations_total[15m])) * 60 > 20',
    );
    const q = TARGET.logGrowthPerDay.query('service_name=~"$service"', '$__range');
    expect(q).toContain(
      'echoes_log_written_bytes_total{log_sink="file", service_name=~"$service"}[$__range]',
    );
    expect(TARGET.latencyAvg.query()).toContain('[5m]');
  });

  it('name only signal-catalog series in their queries and alerts', () => {
    const known = catalogSeriesNames();
    for (const t of TARGETS) {
      for (const promql of [t.query(), ...t.alerts.map((a) => a.expr)]) {
        const series = [...promql.matchAll(/\b([a-z][a-z0-9_]*)(?=\{|\[| unless|\)|$| )/g)]
          .map((m) => m[1]!)
          .filter((n) => /_(total|bytes|seconds|ratio|bucket|sum|count|entries|capacity)$/.test(n));
        for (const s of series) expect(known.has(s), `${t.id}: ${s}`).toBe(true);
      }
    }
  });

  it('are each documented in docs/alerts.md with the alerts that enforce them', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/alerts.md'), 'utf8');
    for (const t of TARGETS) {
      const line = doc.split('\n').find((l) => l.startsWith(`| \`${t.id}\``));
      expect(line, `docs/alerts.md has no row for ${t.id}`).toBeDefined();
      for (const a of t.alerts) expect(line, `${t.id} row names ${a.name}`).toContain(a.name);
    }
  });

  it('parse PromQL durations', () => {
    expect(durationSeconds('15m')).toBe(900);
    expect(durationSeconds('1h30m')).toBe(5400);
    expect(() => durationSeconds('soon')).toThrow();
  });
});

describe('targets and the alert rules', () => {
  const yaml = readFileSync(RULES_FILE, 'utf8');

  it('agree: every rule enforcing a target is the expression, hold and severity targets.ts gives', () => {
    expect(ruleDisagreements(yaml, TARGETS)).toEqual([]);
  });

  it('disagree as soon as one threshold is changed in the rules file', () => {
    const changed = yaml.replace(
      '(rate(echoes_fs_operations_total[15m])) * 60 > 20',
      '(rate(echoes_fs_operations_total[15m])) * 60 > 25',
    );
    expect(changed).not.toBe(yaml);
    expect(ruleDisagreements(changed, TARGETS).join('\n')).toMatch(
      /DiskOpsAboveTarget: expr differs/,
    );
  });
});

describe('targets and the report', () => {
  it('agree: report passes and fails each success metric exactly where targets.ts does', () => {
    expect(reportDisagreements(TARGETS)).toEqual([]);
  });

  it('disagree as soon as the report judges by another number', () => {
    // A report that still held the old 25 %/h memory threshold.
    const stale: typeof evaluate = (inputs) =>
      evaluate(inputs).map((r) => {
        if (r.key !== 'memory' || r.value === null) return r;
        return { ...r, pass: r.value < 0.25 && r.pass !== false ? true : r.value < 0.25 };
      });
    expect(reportDisagreements(TARGETS, stale).join('\n')).toMatch(/memoryGrowth at 0\.1/);
  });
});
