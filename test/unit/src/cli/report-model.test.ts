import { describe, expect, it } from 'vitest';
import {
  formatModelCalls,
  modelCallQueries,
  modelCallsFromSnapshots,
  modelCallsFromVectors,
} from '../../../../src/cli/report-model.js';
import type { Sample } from '../../../../src/cli/prom-text.js';

const S = (name: string, labels: Record<string, string>, value: number): Sample => ({
  name,
  labels,
  value,
});
const D = 'gen_ai_client_operation_duration_seconds';
const T = 'gen_ai_client_token_usage';

function page(calls: number, errors: number, out: number): Sample[] {
  const m = { gen_ai_request_model: 'gpt-4o', gen_ai_operation_name: 'chat' };
  const ok = calls - errors;
  return [
    S(`${D}_count`, { ...m, gen_ai_response_model: 'gpt-4o' }, ok),
    S(`${D}_count`, { ...m, error_type: 'InternalServerError' }, errors),
    // 90 % of the successful calls under 0.1 s, the rest under 0.5 s; errors under 0.01 s.
    S(`${D}_bucket`, { ...m, gen_ai_response_model: 'gpt-4o', le: '0.1' }, ok * 0.9),
    S(`${D}_bucket`, { ...m, gen_ai_response_model: 'gpt-4o', le: '0.5' }, ok),
    S(`${D}_bucket`, { ...m, gen_ai_response_model: 'gpt-4o', le: '+Inf' }, ok),
    S(`${D}_bucket`, { ...m, error_type: 'InternalServerError', le: '0.1' }, errors),
    S(`${D}_bucket`, { ...m, error_type: 'InternalServerError', le: '0.5' }, errors),
    S(`${D}_bucket`, { ...m, error_type: 'InternalServerError', le: '+Inf' }, errors),
    S(`${T}_sum`, { ...m, gen_ai_token_type: 'input' }, ok * 2),
    S(`${T}_sum`, { ...m, gen_ai_token_type: 'output' }, out),
  ];
}

describe('modelCallsFromSnapshots', () => {
  it('counts calls, errors, tokens and the p95 latency per model over the window', () => {
    const stats = modelCallsFromSnapshots([
      { samples: page(10, 0, 40) },
      { samples: page(30, 2, 150) },
    ]);
    expect(stats).toHaveLength(1);
    const [s] = stats;
    expect(s).toMatchObject({
      model: 'gpt-4o',
      calls: 20,
      errors: 2,
      inputTokens: 36,
      outputTokens: 110,
    });
    // 20 calls in the window: 16.2 under 0.1 s, all under 0.5 s: the p95 lies in (0.1, 0.5].
    expect(s!.p95S).toBeGreaterThan(0.1);
    expect(s!.p95S).toBeLessThanOrEqual(0.5);
    expect(formatModelCalls(stats)).toMatch(
      /^Model calls: gpt-4o 20 calls, p95 0\.\d{3} s, 36 in \/ 110 out tokens, 2 errors$/,
    );
  });

  it('says when no model was called', () => {
    expect(formatModelCalls(modelCallsFromSnapshots([{ samples: [] }, { samples: [] }]))).toBe(
      'Model calls: none in the window',
    );
  });
});

describe('modelCallQueries', () => {
  it('asks Prometheus per model, restricted to the job, and reads the answers back', () => {
    const q = modelCallQueries(300_000, 'echoes-api');
    expect(q.modelCalls).toBe(
      'sum by (gen_ai_request_model) (increase(gen_ai_client_operation_duration_seconds_count{job="echoes-api"}[5m]))',
    );
    expect(q.modelErrors).toContain('{job="echoes-api",error_type!=""}');
    const v = (metric: Record<string, string>, value: number) => ({
      metric,
      value: [0, String(value)] as [number, string],
    });
    const stats = modelCallsFromVectors({
      modelCalls: [v({ gen_ai_request_model: 'gpt-4' }, 5)],
      modelErrors: [],
      modelP95: [v({ gen_ai_request_model: 'gpt-4' }, 0.25)],
      modelTokens: [
        v({ gen_ai_request_model: 'gpt-4', gen_ai_token_type: 'input' }, 10),
        v({ gen_ai_request_model: 'gpt-4', gen_ai_token_type: 'output' }, 20),
      ],
    });
    expect(formatModelCalls(stats)).toBe(
      'Model calls: gpt-4 5 calls, p95 0.250 s, 10 in / 20 out tokens, 0 errors',
    );
  });
});

describe('formatReport with model calls', () => {
  it('prints the model calls line above the verdict, and keeps it in the JSON', async () => {
    const { formatReport } = await import('../../../../src/cli/report.js');
    const modelCalls = [
      { model: 'gpt-4', calls: 3, errors: 1, p95S: 0.2, inputTokens: 6, outputTokens: 12 },
    ];
    const report = {
      source: 'embedded' as const,
      url: 'http://127.0.0.1:9464/metrics',
      windowMs: 30_000,
      generatedAt: '2026-12-03T00:00:00.000Z',
      rows: [],
      modelCalls,
    };
    const text = formatReport(report, 'text');
    expect(text).toContain(
      'Model calls: gpt-4 3 calls, p95 0.200 s, 6 in / 12 out tokens, 1 error\n\n0 of 0 audit targets met',
    );
    expect(JSON.parse(formatReport(report, 'json')).modelCalls).toEqual(modelCalls);
  });
});
