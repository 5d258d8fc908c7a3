import { describe, expect, it } from 'vitest';
import {
  ExpositionError,
  parseExposition,
  sumBy,
  sumSamples,
} from '../../../../src/cli/prom-text.js';

const TEXT = `# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name="echoes-api"} 1
# TYPE echoes_fs_operations_total counter
echoes_fs_operations_total{fs_operation="open",fs_api="promise",fs_path_group="sessions",otel_scope_name="echoes-otel"} 12
echoes_fs_operations_total{fs_operation="write",fs_api="stream",fs_path_group="logs"} 30 1700000000000
http_server_request_duration_bucket{le="+Inf",http_route="/chat"} 5
weird{v="a \\"quoted\\" \\\\ value, with }"} NaN
no_labels 3.5e2
`;

describe('parseExposition', () => {
  it('reads names, labels with escapes, values and skips comments', () => {
    const s = parseExposition(TEXT);
    expect(s).toHaveLength(6);
    expect(s[1]).toEqual({
      name: 'echoes_fs_operations_total',
      labels: {
        fs_operation: 'open',
        fs_api: 'promise',
        fs_path_group: 'sessions',
        otel_scope_name: 'echoes-otel',
      },
      value: 12,
    });
    expect(s[3]!.labels.le).toBe('+Inf');
    expect(s[4]!.labels.v).toBe('a "quoted" \\ value, with }');
    expect(s[4]!.value).toBeNaN();
    expect(s[5]).toEqual({ name: 'no_labels', labels: {}, value: 350 });
  });
  it('rejects text that is not the exposition format', () => {
    expect(() => parseExposition('<html><body>hi</body></html>')).toThrow(ExpositionError);
    expect(() => parseExposition('metric{a="b" 1')).toThrow(ExpositionError);
    expect(() => parseExposition('metric abc')).toThrow(ExpositionError);
  });
  it('sums with label filters and groups', () => {
    const s = parseExposition(TEXT);
    expect(sumSamples(s, 'echoes_fs_operations_total')).toBe(42);
    expect(sumSamples(s, 'echoes_fs_operations_total', { fs_path_group: 'logs' })).toBe(30);
    expect(sumSamples(s, 'absent')).toBeUndefined();
    expect([...sumBy(s, 'echoes_fs_operations_total', 'fs_path_group')]).toEqual([
      ['sessions', 12],
      ['logs', 30],
    ]);
  });
});
