/** Disk I/O: node:fs operations sync vs async per path group, latency, bytes, and disk use. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { SEL, baseDashboard, promQuery } from './common.js';
import { R, targetSteps, ts, tsTarget, row } from './panels.js';
import { TARGET } from '../../instrumentation/targets.js';

// ---------------------------------------------------------------- Disk I/O

export function diskIo(): dashboard.DashboardBuilder {
  const ops = `echoes_fs_operations_total{${SEL}}`;
  return baseDashboard(
    'echoes-disk-io',
    'echoes-otel / Disk I/O',
    'node:fs operations per minute (sync against async), bytes, event-loop time blocked by sync calls, path groups, directory sizes and disk utilization.',
  )
    .withRow(row('Operations'))
    .withPanel(
      tsTarget(
        'Operations per minute: sync vs async',
        'opm',
        `node:fs calls per minute; async = callback, promise and stream APIs. Audit target for all of them together: ${TARGET.diskOpsPerMin.text} (was about 100).`,
        targetSteps(TARGET.diskOpsPerMin),
      )
        .withTarget(
          promQuery(
            `sum(rate(echoes_fs_operations_total{${SEL}, fs_api="sync"}[${R}])) * 60`,
            'sync',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum(rate(echoes_fs_operations_total{${SEL}, fs_api!="sync"}[${R}])) * 60`,
            'async',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Event-loop time blocked by sync fs',
        'percentunit',
        'Seconds per second spent inside synchronous fs calls: the share of the event loop they block.',
      ).withTarget(
        promQuery(
          `sum(rate(echoes_fs_operation_duration_seconds_sum{${SEL}, fs_api="sync"}[${R}]))`,
          'blocked',
        ),
      ),
    )
    .withPanel(
      ts('Operations per minute by operation', 'opm', 'By operation and API style.').withTarget(
        promQuery(
          `sum by (fs_operation, fs_api) (rate(${ops}[${R}])) * 60`,
          '{{fs_operation}} {{fs_api}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Top path groups',
        'opm',
        'The five busiest path groups, operations per minute.',
      ).withTarget(
        promQuery(`topk(5, sum by (fs_path_group) (rate(${ops}[${R}]))) * 60`, '{{fs_path_group}}'),
      ),
    )
    .withRow(row('Bytes and latency'))
    .withPanel(
      ts(
        'Bytes read and written',
        'Bps',
        'Bytes per second through node:fs, by direction and path group.',
      ).withTarget(
        promQuery(
          `sum by (fs_direction, fs_path_group) (rate(echoes_fs_io_bytes_total{${SEL}}[${R}]))`,
          '{{fs_direction}} {{fs_path_group}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'fs call duration p95',
        's',
        '95th percentile duration of node:fs calls by API style.',
      ).withTarget(
        promQuery(
          `histogram_quantile(0.95, sum by (le, fs_api) (rate(echoes_fs_operation_duration_seconds_bucket{${SEL}}[${R}])))`,
          '{{fs_api}}',
        ),
      ),
    )
    .withRow(row('Directories and disk'))
    .withPanel(
      ts(
        'Directory sizes',
        'bytes',
        'Total size of each watched directory (ECHOES_DIRS: the log directory by default).',
      ).withTarget(
        promQuery(`sum by (dir_name) (echoes_dir_size_bytes{${SEL}})`, '{{dir_name}}', 'A'),
      ),
    )
    .withPanel(
      ts(
        'Files per directory',
        'short',
        'Number of files under each watched directory.',
      ).withTarget(promQuery(`sum by (dir_name) (echoes_dir_files{${SEL}})`, '{{dir_name}}')),
    )
    .withPanel(
      tsTarget(
        'Disk utilization',
        'percentunit',
        `Used fraction of the volume holding each watched directory (from the app) and of the host filesystems (collector hostmetrics). Target ${TARGET.diskUtilization.text}: the DiskUsageHigh alerts fire above it.`,
        targetSteps(TARGET.diskUtilization),
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            `max by (dir_name) (echoes_disk_utilization_ratio{${SEL}})`,
            'app: {{dir_name}}',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            'max by (mountpoint) (system_filesystem_utilization_ratio)',
            'host: {{mountpoint}}',
            'B',
          ),
        ),
    );
}
