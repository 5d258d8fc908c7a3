import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLatencyRecorder,
  formatSummary,
  progressBar,
  runLoad,
} from '../../../../src/cli/load.js';

describe('createLatencyRecorder', () => {
  it('gives percentiles within the histogram precision (3 significant digits)', () => {
    const r = createLatencyRecorder();
    expect(r.summary()).toBeNull();
    for (let i = 1; i <= 1000; i++) r.record(i);
    const s = r.summary()!;
    expect(r.count).toBe(1000);
    expect(s.p50).toBeCloseTo(500, -1);
    expect(s.p95).toBeCloseTo(950, -1);
    expect(s.p99).toBeCloseTo(990, -1);
    expect(s.max).toBeCloseTo(1000, -1);
    expect(s.mean).toBeCloseTo(500.5, -1);
  });

  it('keeps sub-millisecond latencies', () => {
    const r = createLatencyRecorder();
    r.record(0.25);
    expect(r.summary()!.p50).toBeCloseTo(0.25, 2);
  });
});

describe('runLoad', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  it('counts a stall that delayed the sends against the delayed requests (coordinated omission)', async () => {
    let chats = 0;
    server = createServer((req, res) => {
      if (req.url?.startsWith('/chat') && ++chats === 10) {
        // One slow answer that blocks the loop: the generator in this process stalls with it,
        // as a client stalls behind a saturated server. Requests due meanwhile go out late.
        const until = Date.now() + 400;
        while (Date.now() < until);
      }
      req.resume();
      req.on('end', () => res.end('{"status":"ok"}'));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const s = await runLoad({
      url: new URL(`http://127.0.0.1:${port}`),
      rate: 200,
      // Long enough that the stall (near the start) ends well inside the run, even on a loaded machine.
      durationMs: 2000,
      sessions: 5,
      concurrency: 64,
    });
    expect(s.ok).toBe(s.sent);
    // ~80 requests fell due during the 400 ms stall, ~60 of them over 100 ms before it ended:
    // measured from when they were due, the worst waited most of it. Measured from when they went
    // out, p95 would be a few ms.
    expect(s.late).toBeGreaterThan(20);
    expect(s.latencyMs!.p95).toBeGreaterThan(150);
    expect(s.latencyMs!.max).toBeGreaterThan(300);
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
      late: 3,
      achievedRate: 19.7,
      latencyMs: { p50: 12, p95: 40, p99: 80, max: 120, mean: 15 },
    });
    expect(text).toContain(
      'load: 590 requests to http://127.0.0.1:8080/ in 30s (asked 20/s, achieved 19.7/s)',
    );
    expect(text).toContain('ok 580, errors 10 (HTTP 503: 8, ECONNRESET: 2), skipped 10');
    expect(text).toContain('3 sent over 100 ms late');
    expect(text).toContain('latency ms (from when due): p50 12  p95 40  p99 80  max 120  mean 15');
  });
});
