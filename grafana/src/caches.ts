/** Caches: hit rate against the audit target, size against capacity, evictions. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { PROMETHEUS, SEL, baseDashboard, promInstant, promQuery } from './common.js';
import { R, targetSteps, ts, tsTarget, row } from './panels.js';
import { TARGET } from '../../instrumentation/targets.js';

// ---------------------------------------------------------------- Caches

export function caches(): dashboard.DashboardBuilder {
  const req = `echoes_cache_requests_total{${SEL}}`;
  return baseDashboard(
    'echoes-caches',
    'echoes-otel / Caches',
    'Hit ratio per cache against the 70 % target, evictions, entries against capacity, and caches with no capacity.',
  )
    .withRow(row('Effectiveness'))
    .withPanel(
      tsTarget(
        'Hit ratio per cache',
        'percentunit',
        `hits / (hits + misses) per cache. Audit target ${TARGET.cacheHitRate.text} (dashed line); the CacheHitRateLow alert fires below it.`,
        targetSteps(TARGET.cacheHitRate),
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            // A cache with no hit at all has no hit series: fall back to 0 instead of no line.
            `(sum by (cache_name) (rate(echoes_cache_requests_total{${SEL}, cache_result="hit"}[${R}])) or sum by (cache_name) (rate(${req}[${R}])) * 0) / sum by (cache_name) (rate(${req}[${R}]))`,
            '{{cache_name}}',
          ),
        ),
    )
    .withPanel(
      ts('Lookups by result', 'ops', 'Cache lookups per second by cache and result.').withTarget(
        promQuery(
          `sum by (cache_name, cache_result) (rate(${req}[${R}]))`,
          '{{cache_name}} {{cache_result}}',
        ),
      ),
    )
    .withRow(row('Size'))
    .withPanel(
      ts(
        'Evictions',
        'ops',
        'Entries removed per second, by cache and reason (capacity, ttl, manual).',
      ).withTarget(
        promQuery(
          `sum by (cache_name, cache_eviction_reason) (rate(echoes_cache_evictions_total{${SEL}}[${R}]))`,
          '{{cache_name}} {{cache_eviction_reason}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Entries against capacity',
        'short',
        'Entries held (solid) and configured capacity per cache. A cache with no capacity line is unbounded.',
      )
        .withTarget(
          promQuery(
            `sum by (cache_name) (echoes_cache_entries{${SEL}})`,
            '{{cache_name}} entries',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (cache_name) (echoes_cache_capacity{${SEL}})`,
            '{{cache_name}} capacity',
            'B',
          ),
        ),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Unbounded caches')
        .description(
          'Caches that report entries but no capacity: memory they hold can grow without limit. The audit asks for none.',
        )
        .datasource(PROMETHEUS)
        .height(8)
        .span(24)
        .noValue('none: every cache has a capacity')
        .withTarget(
          promInstant(
            `sum by (service_name, cache_name) (echoes_cache_entries{${SEL}} unless on (job, instance, cache_name) echoes_cache_capacity)`,
            '{{cache_name}}',
          ),
        ),
    );
}
