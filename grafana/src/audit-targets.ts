/** Audit targets: every row of the audit's section 8 against instrumentation/targets.ts, instant queries for stats. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { SEL, baseDashboard, promExemplars, promQuery, promStat } from './common.js';
import { R, targetSteps, tsTarget, statPanel, row } from './panels.js';
import { TARGET, type Target } from '../../instrumentation/targets.js';

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

export function auditTargets(): dashboard.DashboardBuilder {
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
