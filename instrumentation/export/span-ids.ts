import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

/**
 * Trace and span ids from a pooled crypto buffer. The SDK's RandomIdGenerator calls Math.random
 * and writeUInt32BE per 4 bytes of every id; here one randomFillSync fills 4 KiB (256 trace+span
 * id pairs) and each id is one native hex conversion of its slice. A byte-to-hex lookup table
 * was tried and lost once the id string is used (its concatenated string must be flattened):
 * docs/performance.md, "Span creation". Ids stay valid W3C ids: lowercase hex, 32/16 characters,
 * never all zero.
 */

const POOL_BYTES = 4096;

export function createIdGenerator(): IdGenerator {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  // Start "exhausted" so the first id fills the pool: nothing is drawn for an app with no spans.
  let offset = POOL_BYTES;

  function take(bytes: number): string {
    if (offset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const start = offset;
    const end = (offset += bytes);
    let i = start;
    while (i < end && pool[i] === 0) i++;
    // An all-zero id is invalid (W3C trace context); the SDK sets the last byte to 1 likewise.
    if (i === end) pool[end - 1] = 1;
    return pool.toString('hex', start, end);
  }

  return {
    generateTraceId: () => take(16),
    generateSpanId: () => take(8),
  };
}
