/** Runtime: event-loop delay, heap and RSS, GC, CPU. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { SEL, baseDashboard, promQuery } from './common.js';
import { R, targetSteps, ts, tsTarget, row } from './panels.js';
import { TARGET } from '../../instrumentation/targets.js';

// ---------------------------------------------------------------- Runtime

export function runtime(): dashboard.DashboardBuilder {
  return baseDashboard(
    'echoes-runtime',
    'echoes-otel / Runtime',
    'Process CPU, V8 heap, resident memory, event-loop delay and utilization, and garbage collection, per service (all its processes together).',
  )
    .withRow(row('CPU'))
    .withPanel(
      ts(
        'Process CPU',
        'percentunit',
        'CPU seconds per second of the selected services (process.cpu.time): 100 % is one core busy.',
      ).withTarget(
        promQuery(
          `sum by (service_name) (rate(process_cpu_time_seconds_total{${SEL}}[${R}]))`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Process CPU by mode',
        'percentunit',
        'CPU seconds per second in user and system (kernel) mode. A high system share points at I/O and syscalls.',
      ).withTarget(
        promQuery(
          `sum by (service_name, cpu_mode) (rate(process_cpu_time_seconds_total{${SEL}}[${R}]))`,
          '{{service_name}} {{cpu_mode}}',
        ),
      ),
    )
    .withRow(row('Memory'))
    .withPanel(
      ts('Heap used and heap size', 'bytes', 'V8 heap used and total heap space size per service.')
        .withTarget(
          promQuery(
            `sum by (service_name) (v8js_memory_heap_used_bytes{${SEL}})`,
            '{{service_name}} used',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name) (v8js_memory_heap_space_size_bytes{${SEL}})`,
            '{{service_name}} size',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Resident set size',
        'bytes',
        'RSS per service, its processes summed (process.memory.usage).',
      ).withTarget(
        promQuery(`sum by (service_name) (process_memory_usage_bytes{${SEL}})`, '{{service_name}}'),
      ),
    )
    .withPanel(
      ts('Heap used by space', 'bytes', 'V8 heap used, by heap space.').withTarget(
        promQuery(
          `sum by (v8js_heap_space_name) (v8js_memory_heap_used_bytes{${SEL}})`,
          '{{v8js_heap_space_name}}',
        ),
      ),
    )
    .withPanel(
      ts(
        'Memory growth per hour',
        'si:B/h',
        'Slope of RSS and heap over the last 30 minutes, in bytes per hour. Bounded memory keeps this near zero; the MemoryLeakSuspected and HeapGrowthSustained alerts watch it.',
      )
        .withTarget(
          promQuery(
            `sum by (service_name) (deriv(process_memory_usage_bytes{${SEL}}[30m])) * 3600`,
            '{{service_name}} RSS',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name) (deriv(v8js_memory_heap_used_bytes{${SEL}}[30m])) * 3600`,
            '{{service_name}} heap',
            'B',
          ),
        ),
    )
    .withPanel(
      tsTarget(
        'Memory growth against the target',
        'percentunit',
        `Resident memory growth per hour as a share of its mean over ${TARGET.memoryGrowth.window} (the fastest-growing process of each service): "bounded" is ${TARGET.memoryGrowth.text} (dashed), the MemoryLeakSuspected alert fires above it.`,
        targetSteps(TARGET.memoryGrowth),
      ).withTarget(
        promQuery(`max by (service_name) (${TARGET.memoryGrowth.query(SEL)})`, '{{service_name}}'),
      ),
    )
    .withRow(row('Event loop and GC'))
    .withPanel(
      ts(
        'Event-loop delay',
        's',
        'Event-loop delay median and 99th percentile (the worst process of each service).',
      )
        .withTarget(
          promQuery(
            `max by (service_name) (nodejs_eventloop_delay_p50_seconds{${SEL}})`,
            '{{service_name}} p50',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `max by (service_name) (nodejs_eventloop_delay_p99_seconds{${SEL}})`,
            '{{service_name}} p99',
            'B',
          ),
        ),
    )
    .withPanel(
      ts(
        'Event-loop utilization',
        'percentunit',
        'Share of time the event loop was busy (the busiest process of each service).',
      )
        .min(0)
        .max(1)
        .withTarget(
          promQuery(
            `max by (service_name) (nodejs_eventloop_utilization_ratio{${SEL}})`,
            '{{service_name}}',
          ),
        ),
    )
    .withPanel(
      ts(
        'GC time per second',
        'percentunit',
        'Seconds per second spent in garbage collection, by GC type.',
      ).withTarget(
        promQuery(
          `sum by (v8js_gc_type) (rate(v8js_gc_duration_seconds_sum{${SEL}}[${R}]))`,
          '{{v8js_gc_type}}',
        ),
      ),
    )
    .withPanel(
      ts('GC runs per second', 'ops', 'Garbage collections per second, by GC type.').withTarget(
        promQuery(
          `sum by (v8js_gc_type) (rate(v8js_gc_duration_seconds_count{${SEL}}[${R}]))`,
          '{{v8js_gc_type}}',
        ),
      ),
    );
}
