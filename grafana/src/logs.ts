/** Logs: volume by level, growth on disk, drops, and the log lines themselves (Loki). */
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as logs from '@grafana/grafana-foundation-sdk/logs';
import { LOKI, SEL, baseDashboard, lokiQuery, promQuery } from './common.js';
import { R, targetSteps, ts, tsTarget, row } from './panels.js';
import { TARGET } from '../../instrumentation/targets.js';

// ---------------------------------------------------------------- Logs

export function logsDashboard(): dashboard.DashboardBuilder {
  const written = `echoes_log_written_bytes_total{${SEL}, log_sink="file"}`;
  return baseDashboard(
    'echoes-logs',
    'echoes-otel / Logs',
    'Log volume by level, growth per day against the 500 KB target, rotations and drops, and error lines from Loki with links to their traces.',
  )
    .withRow(row('Volume'))
    .withPanel(
      ts(
        'Records per second by level',
        'cps',
        'Records accepted by the logger (echoes.log.records).',
      ).withTarget(
        promQuery(
          `sum by (log_level) (rate(echoes_log_records_total{${SEL}}[${R}]))`,
          '{{log_level}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Lines in Loki by severity',
        'short',
        'Log lines stored in Loki per interval, by OTLP severity text.',
      )
        .datasource(LOKI)
        .withTarget(
          lokiQuery(
            `sum by (severity_text) (count_over_time({${SEL}} [$__auto]))`,
            '{{severity_text}}',
          ),
        ),
    )
    .withRow(row('Growth'))
    .withPanel(
      tsTarget(
        'Log file growth per day',
        'decbytes',
        `Bytes written to the local log files over the last 24 h (solid) and the last hour's rate projected to a day. Audit target: ${TARGET.logGrowthPerDay.text} per day.`,
        targetSteps(TARGET.logGrowthPerDay),
      )
        .withTarget(
          promQuery(
            `sum by (service_name) (increase(${written}[1d]))`,
            '{{service_name}} last 24 h',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name) (rate(${written}[1h])) * 86400`,
            '{{service_name}} projected',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Bytes written by sink',
        'Bps',
        'Bytes per second to local files and to the OTLP exporter.',
      ).withTarget(
        promQuery(
          `sum by (log_sink) (rate(echoes_log_written_bytes_total{${SEL}}[${R}]))`,
          '{{log_sink}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Rotations and dropped records',
        'short',
        'File rotations and records dropped or altered (truncated, sink_error, disk_full) in the last hour.',
      )
        .withTarget(
          promQuery(`sum(increase(echoes_log_rotations_total{${SEL}}[1h]))`, 'rotations', 'A'),
        )
        .withTarget(
          promQuery(
            `sum by (reason) (increase(echoes_log_dropped_total{${SEL}}[1h]))`,
            'dropped: {{reason}}',
            'B',
          ),
        ),
    )
    .withPanel(
      ts('Bytes in Loki per day', 'decbytes', 'Log bytes Loki stored over the last 24 h.')
        .datasource(LOKI)
        .withTarget(
          lokiQuery(`sum by (service_name) (bytes_over_time({${SEL}} [1d]))`, '{{service_name}}'),
        ),
    )
    .withRow(row('Errors'))
    .withPanel(
      new logs.PanelBuilder()
        .title('Error lines')
        .description(
          "ERROR and FATAL records from Loki. Expand a line: its trace_id links to the trace in Tempo (the Loki datasource's derived field).",
        )
        .datasource(LOKI)
        .height(12)
        .span(24)
        .showTime(true)
        .enableLogDetails(true)
        .wrapLogMessage(true)
        .sortOrder(common.LogsSortOrder.Descending)
        .withTarget(lokiQuery(`{${SEL}} | severity_text=~"(?i)error|fatal"`, '')),
    );
}
