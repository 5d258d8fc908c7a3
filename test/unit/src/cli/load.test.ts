import { describe, expect, it } from 'vitest';
import { formatSummary, percentile, progressBar } from '../../../../src/cli/load.js';

describe('percentile', () => {
  it('takes the nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('progressBar', () => {
  it('fills with elapsed time', () => {
    const p = {
      elapsedMs: 15_000,
      durationMs: 30_000,
      sent: 300,
      ok: 290,
      errors: 10,
      inFlight: 2,
    };
    expect(progressBar(p, 10)).toBe(
      '[#####-----]  50% 15.0s/30s sent 300 ok 290 errors 10 in flight 2',
    );
    expect(progressBar({ ...p, elapsedMs: 30_000 }, 4)).toMatch(/^\[####\] 100%/);
  });
});

describe('formatSummary', () => {
  it('names errors by kind and the requests the concurrency cap skipped', () => {
    const text = formatSummary({
      url: 'http://127.0.0.1:8080/',
      rate: 20,
      durationMs: 30_000,
      sent: 590,
      completed: 590,
      ok: 580,
      errors: 10,
      errorsByKind: { 'HTTP 503': 8, ECONNRESET: 2 },
      skipped: 10,
      achievedRate: 19.7,
      latencyMs: { p50: 12, p95: 40, p99: 80, max: 120, mean: 15 },
    });
    expect(text).toContain(
      'load: 590 requests to http://127.0.0.1:8080/ in 30s (asked 20/s, achieved 19.7/s)',
    );
    expect(text).toContain('ok 580, errors 10 (HTTP 503: 8, ECONNRESET: 2), skipped 10');
    expect(text).toContain('latency ms: p50 12  p95 40  p99 80  max 120  mean 15');
  });
});
