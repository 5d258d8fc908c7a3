/**
 * Every query the stack ships, gathered from the committed files: PromQL and LogQL from the
 * generated dashboards, PromQL from the alert rules, LogQL from the datasource links. The unit
 * tests check them statically; test/integration/queries.test.ts runs the PromQL ones for real.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

import { durationSeconds } from '../../../instrumentation/targets.js';
import { REPO_ROOT } from '../../helpers/paths.js';

export const DASHBOARD_DIR = join(REPO_ROOT, 'grafana/dashboards');
export const RULES_DIR = join(REPO_ROOT, 'prometheus/rules');
export const DATASOURCES_FILE = join(
  REPO_ROOT,
  'grafana/provisioning/datasources/datasources.yaml',
);

export interface DatasourceRef {
  type?: string;
  uid?: string;
}

export interface ShippedQuery {
  /** Where it comes from, for messages: "caches.json › Hit ratio per cache [A]". */
  readonly where: string;
  readonly language: 'promql' | 'logql';
  readonly expr: string;
  readonly datasource?: DatasourceRef;
  /** Grafana instant query (stat/table), or an alert expression (always instant). */
  readonly instant: boolean;
}

export interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: DatasourceRef;
  targets?: Array<{
    expr?: string;
    refId?: string;
    datasource?: DatasourceRef;
    instant?: boolean;
    range?: boolean;
    exemplar?: boolean;
  }>;
  fieldConfig?: { defaults?: { unit?: string; links?: Array<{ title: string; url: string }> } };
  panels?: Panel[];
}

export interface DashboardJson {
  uid: string;
  title: string;
  panels?: Panel[];
  templating?: {
    list?: Array<{ name: string; query?: unknown; datasource?: DatasourceRef; allValue?: string }>;
  };
}

export function readDashboards(): Array<{ file: string; json: DashboardJson }> {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as DashboardJson,
    }));
}

/** Every panel of a dashboard, those inside collapsed rows included. */
export function panelsOf(json: DashboardJson): Panel[] {
  return flatPanels(json.panels);
}

function flatPanels(panels: Panel[] | undefined): Panel[] {
  const out: Panel[] = [];
  for (const p of panels ?? []) {
    out.push(p);
    if (p.panels) out.push(...flatPanels(p.panels));
  }
  return out;
}

export function dashboardQueries(): ShippedQuery[] {
  const out: ShippedQuery[] = [];
  for (const { file, json } of readDashboards()) {
    for (const v of json.templating?.list ?? []) {
      if (typeof v.query === 'string' && v.query !== '') {
        out.push({
          where: `${file} › variable ${v.name}`,
          language: 'promql',
          expr: v.query,
          datasource: v.datasource,
          instant: true,
        });
      }
    }
    for (const p of flatPanels(json.panels)) {
      for (const t of p.targets ?? []) {
        if (t.expr === undefined) continue;
        const ds = t.datasource ?? p.datasource;
        out.push({
          where: `${file} › ${p.title ?? p.type} [${t.refId ?? '?'}]`,
          language: ds?.type === 'loki' ? 'logql' : 'promql',
          expr: t.expr,
          datasource: ds,
          instant: t.instant === true,
        });
      }
    }
  }
  return out;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly file: string;
  readonly group: string;
}

export function readAlertRules(): AlertRule[] {
  const rules: AlertRule[] = [];
  for (const file of readdirSync(RULES_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const doc = parseYaml(readFileSync(join(RULES_DIR, file), 'utf8')) as {
      groups: Array<{
        name: string;
        rules: Array<Omit<AlertRule, 'file' | 'group'> & { record?: string }>;
      }>;
    };
    for (const g of doc.groups) {
      for (const r of g.rules) {
        if (r.alert !== undefined) rules.push({ ...r, file, group: g.name });
      }
    }
  }
  return rules;
}

export function ruleQueries(): ShippedQuery[] {
  return readAlertRules().map((r) => ({
    where: `${r.file} › ${r.alert}`,
    language: 'promql',
    expr: r.expr,
    instant: true,
  }));
}

/** LogQL in the datasource provisioning (Tempo's trace-to-logs query). `$$` is Grafana's escape for `$`. */
export function datasourceLogQueries(): ShippedQuery[] {
  const doc = parseYaml(readFileSync(DATASOURCES_FILE, 'utf8')) as {
    datasources: Array<{ uid: string; jsonData?: { tracesToLogsV2?: { query?: string } } }>;
  };
  const out: ShippedQuery[] = [];
  for (const ds of doc.datasources) {
    const q = ds.jsonData?.tracesToLogsV2?.query;
    if (q !== undefined) {
      out.push({
        where: `datasources.yaml › ${ds.uid} tracesToLogsV2`,
        language: 'logql',
        expr: q.replaceAll('$$', '$'),
        instant: false,
      });
    }
  }
  return out;
}

/** PromQL in the datasource provisioning (Tempo's trace-to-metrics queries). */
export function datasourceMetricQueries(): ShippedQuery[] {
  const doc = parseYaml(readFileSync(DATASOURCES_FILE, 'utf8')) as {
    datasources: Array<{
      uid: string;
      jsonData?: { tracesToMetrics?: { queries?: Array<{ name: string; query: string }> } };
    }>;
  };
  const out: ShippedQuery[] = [];
  for (const ds of doc.datasources) {
    for (const q of ds.jsonData?.tracesToMetrics?.queries ?? []) {
      out.push({
        where: `datasources.yaml › ${ds.uid} tracesToMetrics › ${q.name}`,
        language: 'promql',
        expr: q.query.replaceAll('$$', '$'),
        datasource: { type: 'prometheus', uid: 'prometheus' },
        instant: false,
      });
    }
  }
  return out;
}

export function provisionedDatasources(): Array<{
  uid: string;
  type: string;
  jsonData?: Record<string, unknown>;
}> {
  const doc = parseYaml(readFileSync(DATASOURCES_FILE, 'utf8')) as {
    datasources: Array<{ uid: string; type: string; jsonData?: Record<string, unknown> }>;
  };
  return doc.datasources;
}

export interface Interpolation {
  /** Value for $service / $environment (a regex: the variables are multi-value). */
  readonly service?: string;
  readonly environment?: string;
  /** Value for $collector (Collector health's own variable). */
  readonly collector?: string;
  /** Range for $__rate_interval, $__interval and $__auto. */
  readonly rateInterval?: string;
  /** Range for $__range (the dashboard time range). */
  readonly range?: string;
}

/**
 * What Grafana does before a query reaches Prometheus or Loki: replace its variables. The
 * defaults are Grafana's "All" (`.+` for services, `.*` for environments) and short ranges that
 * the integration workload fills.
 */
export function interpolate(expr: string, opts: Interpolation = {}): string {
  const rate = opts.rateInterval ?? '1m';
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__auto/g, rate)
    .replace(/\$__range_s\b/g, String(durationSeconds(opts.range ?? '1h')))
    .replace(/\$__range/g, opts.range ?? '1h')
    .replace(/\$\{__tags\}|\$__tags/g, `service_name="${opts.service ?? 'echoes-api'}"`)
    .replace(/\$\{__trace\.traceId\}/g, '0af7651916cd43dd8448eb211c80319c')
    .replace(/\$\{?service\}?/g, opts.service ?? '.+')
    .replace(/\$\{?collector\}?/g, opts.collector ?? '.+')
    .replace(/\$\{?environment\}?/g, opts.environment ?? '.*');
}

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
  'atan2',
  'start',
  'end',
]);

/**
 * Metric names a PromQL expression selects. Not a full parser, but enough for the queries we
 * write: strings, label matchers, ranges, numbers and grouping clauses are removed first; what
 * is left that is not a function call or keyword is a metric name. `label_values(m, l)` yields m.
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr.replace(/^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)\s*$/s, '$1');
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/(?<![a-zA-Z0-9_:])\d[\w.]*/g, ' ');
  const names = new Set<string>();
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const word = m[0];
    if (PROMQL_KEYWORDS.has(word)) continue;
    if (/^\s*\(/.test(s.slice(m.index + word.length))) continue; // function or aggregation
    names.add(word);
  }
  return [...names];
}

/**
 * Splits an alert expression into the sub-expressions whose value it tests: top-level
 * `and` / `unless` / `or` operands, and of each, the left side of a top-level comparison. The
 * integration test requires each of these to return data, so an alert that is quiet because its
 * input series are missing (a wrong name or label) cannot pass as "healthy".
 */
export function alertOperands(expr: string): string[] {
  const parts = splitTopLevel(expr, /^(and|unless|or)\b(\s+(on|ignoring)\s*\([^)]*\))?/);
  const out: string[] = [];
  for (const part of parts) {
    const inner = stripOuterParens(part.trim());
    const [lhs] = splitTopLevel(inner, /^(==|!=|>=|<=|>|<)(\s*bool\b)?/);
    out.push(stripOuterParens(lhs!.trim()));
  }
  return out;
}

function stripOuterParens(s: string): string {
  while (s.startsWith('(') && s.endsWith(')') && matchingParen(s, 0) === s.length - 1)
    s = s.slice(1, -1).trim();
  return s;
}

function matchingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Splits at operators matched by `op` that sit outside (), {}, [] and strings. */
function splitTopLevel(s: string, op: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (depth === 0 && (i === 0 || /[\s)]/.test(s[i - 1]!))) {
      const m = op.exec(s.slice(i));
      if (m !== null) {
        parts.push(s.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(s.slice(start));
  return parts;
}
