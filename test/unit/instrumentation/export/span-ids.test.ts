import { describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { createIdGenerator } from '../../../../instrumentation/export/span-ids.js';

describe('createIdGenerator', () => {
  it('makes lowercase hex trace ids of 32 and span ids of 16 characters across pool refills', () => {
    const ids = createIdGenerator();
    const seen = new Set<string>();
    // 3000 pairs of 24 bytes cross the 4 KiB pool many times.
    for (let i = 0; i < 3000; i++) {
      const t = ids.generateTraceId();
      const s = ids.generateSpanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      expect(trace.isSpanContextValid({ traceId: t, spanId: s, traceFlags: 1 })).toBe(true);
      seen.add(t);
      seen.add(s);
    }
    expect(seen.size).toBe(6000);
  });

  it('never returns an all-zero id even when the random bytes are all zero', async () => {
    const crypto = await import('node:crypto');
    const { vi } = await import('vitest');
    vi.resetModules();
    vi.doMock('node:crypto', () => ({
      ...crypto,
      randomFillSync: (b: Buffer) => b.fill(0),
    }));
    const { createIdGenerator: zeroed } =
      await import('../../../../instrumentation/export/span-ids.js');
    const ids = zeroed();
    expect(ids.generateTraceId()).toBe('0'.repeat(30) + '01');
    expect(ids.generateSpanId()).toBe('0'.repeat(14) + '01');
    vi.doUnmock('node:crypto');
    vi.resetModules();
  });
});
