import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context, diag, trace, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, isTracingSuppressed, type ExportResult } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { SpanBatchProcessor } from '../../../../instrumentation/export/span-batch-processor.js';

interface TestExporter extends SpanExporter {
  batches: string[][];
  suppressed: boolean[];
  /** Answers held back until `answer()` (when `manual`). */
  pending: Array<(r: ExportResult) => void>;
  shutdowns: number;
}

function testExporter(mode: 'now' | 'manual' | 'fail' = 'now'): TestExporter {
  const e: TestExporter = {
    batches: [],
    suppressed: [],
    pending: [],
    shutdowns: 0,
    export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
      e.batches.push(spans.map((s) => s.name));
      e.suppressed.push(isTracingSuppressed(context.active()));
      if (mode === 'manual') e.pending.push(done);
      else if (mode === 'fail') done({ code: ExportResultCode.FAILED, error: new Error('nope') });
      else done({ code: ExportResultCode.SUCCESS });
    },
    async shutdown() {
      e.shutdowns++;
    },
  };
  return e;
}

const OPTIONS = {
  maxQueueSize: 8,
  maxExportBatchSize: 4,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 5000,
};

function setup(exporter: SpanExporter, options = OPTIONS) {
  const processor = new SpanBatchProcessor(exporter, options);
  const provider = new BasicTracerProvider({ spanProcessors: [processor] });
  const tracer = provider.getTracer('t');
  const end = (...names: string[]) => names.forEach((n) => tracer.startSpan(n).end());
  return { processor, provider, tracer, end };
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});

afterAll(() => {
  context.disable();
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('SpanBatchProcessor', () => {
  it('exports a partial batch once the delay after its first span has passed, not before', () => {
    vi.useFakeTimers();
    const exporter = testExporter();
    const { end } = setup(exporter);
    end('a');
    vi.advanceTimersByTime(600);
    end('b'); // does not restart the delay
    vi.advanceTimersByTime(399);
    expect(exporter.batches).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(exporter.batches).toEqual([['a', 'b']]);
  });

  it('re-arms the same timer for the next batch after it fired', async () => {
    // Real timers: the fake ones do not re-arm a fired Timeout on refresh() as Node does.
    const exporter = testExporter();
    const { processor, end } = setup(exporter, { ...OPTIONS, scheduledDelayMillis: 50 });
    end('a');
    await vi.waitFor(() => expect(exporter.batches).toEqual([['a']]));
    const timer = (processor as unknown as { _timer: NodeJS.Timeout })._timer;
    const started = performance.now();
    end('b');
    expect(exporter.batches).toHaveLength(1);
    await vi.waitFor(() => expect(exporter.batches).toEqual([['a'], ['b']]));
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect((processor as unknown as { _timer: NodeJS.Timeout })._timer).toBe(timer);
    await processor.shutdown();
  });

  it('exports at once when a full batch waits, with tracing suppressed', () => {
    vi.useFakeTimers();
    const exporter = testExporter();
    const { end } = setup(exporter);
    end(...names('s', 4));
    expect(exporter.batches).toEqual([names('s', 4)]);
    expect(exporter.suppressed).toEqual([true]);
    // The delay the first span armed finds nothing left and exports nothing.
    vi.advanceTimersByTime(2000);
    expect(exporter.batches).toHaveLength(1);
  });

  it('keeps one background export in flight and sends what queued meanwhile when it ends', () => {
    vi.useFakeTimers();
    const exporter = testExporter('manual');
    const { end } = setup(exporter);
    end(...names('a', 4));
    end(...names('b', 5));
    expect(exporter.batches).toHaveLength(1);
    exporter.pending.shift()!({ code: ExportResultCode.SUCCESS });
    return vi.waitFor(() => expect(exporter.batches).toEqual([names('a', 4), names('b', 4)]));
  });

  it('ignores spans that are not sampled', async () => {
    const exporter = testExporter();
    const { processor, tracer } = setup(exporter);
    const parent = trace.setSpanContext(context.active(), {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.NONE,
    });
    // Not recording, so the SDK never hands it over; and one handed over directly:
    tracer.startSpan('unsampled', {}, parent).end();
    const span = { spanContext: () => ({ traceFlags: TraceFlags.NONE }) } as ReadableSpan;
    processor.onEnd(span);
    await processor.forceFlush();
    expect(exporter.batches).toEqual([]);
  });

  it('drops the newest spans past the queue bound, counts them and warns once with the count', async () => {
    vi.useFakeTimers();
    const warn = vi.spyOn(diag, 'warn');
    const exporter = testExporter('manual');
    const { processor, end } = setup(exporter);
    end(...names('a', 4)); // in flight
    end(...names('q', 8)); // fills the queue
    end('x', 'y', 'z'); // dropped
    expect(processor.dropped).toBe(3);
    expect(warn).not.toHaveBeenCalled();
    exporter.pending.shift()!({ code: ExportResultCode.SUCCESS });
    await vi.waitFor(() => expect(exporter.batches).toHaveLength(2));
    end('later');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toBe('Dropped 3 spans because maxQueueSize reached');
    // In flight: the queue's first 4 (sent when 'a' ended); the flush sends the other 5.
    const flushed = processor.forceFlush();
    expect(exporter.pending).toHaveLength(3);
    for (const answer of exporter.pending.splice(0)) answer({ code: ExportResultCode.SUCCESS });
    await flushed;
    expect(exporter.batches.flat()).toEqual([...names('a', 4), ...names('q', 8), 'later']);
  });

  it('forceFlush exports every queued span in batches and waits for an export in flight', async () => {
    const exporter = testExporter('manual');
    const { processor, end } = setup(exporter, { ...OPTIONS, maxQueueSize: 16 });
    end(...names('a', 4)); // background export, held
    end(...names('b', 9));
    let flushed = false;
    const flush = processor.forceFlush().then(() => (flushed = true));
    expect(exporter.batches.map((b) => b.length)).toEqual([4, 4, 4, 1]);
    for (const answer of exporter.pending.splice(1)) answer({ code: ExportResultCode.SUCCESS });
    await new Promise((r) => setImmediate(r));
    expect(flushed).toBe(false); // the background export still runs
    exporter.pending.shift()!({ code: ExportResultCode.SUCCESS });
    await flush;
    expect(flushed).toBe(true);
  });

  it('forceFlush rejects when a flushed batch fails; a failed background export goes to the error handler', async () => {
    vi.useFakeTimers();
    const exporter = testExporter('fail');
    const error = vi.spyOn(diag, 'error');
    const { processor, end } = setup(exporter);
    end('a');
    await expect(processor.forceFlush()).rejects.toThrow('nope');
    end(...names('b', 4));
    await vi.waitFor(() => expect(error).toHaveBeenCalled());
  });

  it('gives an export up after the export timeout, on an unref’d timer', async () => {
    vi.useFakeTimers();
    const exporter = testExporter('manual');
    const { processor, end } = setup(exporter, { ...OPTIONS, exportTimeoutMillis: 300 });
    end('a');
    const flush = processor.forceFlush();
    const rejected = expect(flush).rejects.toThrow('Timeout');
    vi.advanceTimersByTime(300);
    await rejected;
    // A late answer changes nothing.
    exporter.pending.shift()!({ code: ExportResultCode.SUCCESS });
  });

  it('never holds the process: its delay timer is unref’d', () => {
    const exporter = testExporter();
    const { processor, end } = setup(exporter);
    end('a');
    const timer = (processor as unknown as { _timer: NodeJS.Timeout })._timer;
    expect(timer.hasRef()).toBe(false);
    return processor.shutdown();
  });

  it('shuts down once: flushes the queue, ignores later spans, then shuts the exporter down', async () => {
    const exporter = testExporter();
    const { processor, end } = setup(exporter);
    end('a', 'b');
    const first = processor.shutdown();
    end('late');
    expect(processor.shutdown()).toBe(first);
    expect(processor.forceFlush()).toBe(first);
    await first;
    expect(exporter.batches).toEqual([['a', 'b']]);
    expect(exporter.shutdowns).toBe(1);
  });

  it('shuts the exporter down even when the last flush fails, and rejects with that failure', async () => {
    const exporter = testExporter('fail');
    const { processor, end } = setup(exporter);
    end('a');
    await expect(processor.shutdown()).rejects.toThrow('nope');
    expect(exporter.shutdowns).toBe(1);
  });
});
