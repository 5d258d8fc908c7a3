import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ExportSpool,
  isRetryable,
  markRetryable,
  type BatchExporter,
} from '../../../../instrumentation/export/export-spool.js';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createExportControl } from '../../../../instrumentation/export/export-transport.js';
import { createLoggerProvider } from '../../../../instrumentation/export/logs-sdk.js';
import { createResource } from '../../../../instrumentation/export/resource.js';

/** An exporter that answers each export with the next scripted outcome and records what it got. */
function scripted(outcomes: Array<'ok' | 'retry' | 'refuse'>) {
  const calls: number[][] = [];
  let shutdowns = 0;
  const exporter: BatchExporter<number> = {
    export(items, cb) {
      calls.push([...items]);
      const o = outcomes.shift() ?? 'ok';
      queueMicrotask(() =>
        cb(
          o === 'ok'
            ? { code: ExportResultCode.SUCCESS }
            : {
                code: ExportResultCode.FAILED,
                error:
                  o === 'retry' ? markRetryable(new Error('ECONNREFUSED')) : new Error('HTTP 400'),
              },
        ),
      );
    },
    async shutdown() {
      shutdowns++;
    },
  };
  return { exporter, calls, shutdowns: () => shutdowns };
}

const exportOnce = (e: BatchExporter<number>, items: number[]) =>
  new Promise<ExportResult>((r) => e.export(items, r));

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

let stopping = false;
const opts = (maxItems: number, retryMs = 60_000) => ({
  maxItems,
  maxBatch: 4,
  retryMs,
  stopping: () => stopping,
  what: 'items',
});

afterEach(() => {
  stopping = false;
  vi.restoreAllMocks();
});

describe('ExportSpool', () => {
  it('holds a batch that failed retryably and sends it ahead of the next batch', async () => {
    const s = scripted(['retry', 'ok']);
    const spool = new ExportSpool(s.exporter, opts(100));
    expect((await exportOnce(spool, [1, 2])).code).toBe(ExportResultCode.SUCCESS);
    expect(spool.held).toBe(2);
    expect((await exportOnce(spool, [3])).code).toBe(ExportResultCode.SUCCESS);
    expect(s.calls).toEqual([
      [1, 2],
      [1, 2, 3],
    ]);
    expect(spool.held).toBe(0);
    expect(spool.delivered).toBe(2);
    expect(spool.dropped).toBe(0);
  });

  it('resends held items on its own after retryMs when no batch comes, in order, maxBatch at a time', async () => {
    const s = scripted(['retry', 'retry', 'ok', 'ok', 'ok']);
    const spool = new ExportSpool(s.exporter, opts(100, 20));
    await exportOnce(spool, [1, 2, 3]);
    await exportOnce(spool, [4, 5, 6]); // takes 1 held item along (maxBatch 4), fails again
    expect(spool.held).toBe(6);
    await until(() => spool.held === 0);
    expect(s.calls.slice(2)).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    expect(spool.delivered).toBe(6);
  });

  it('gives up on a refused batch (not retryable) at once and reports the failure', async () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const s = scripted(['refuse']);
    const spool = new ExportSpool(s.exporter, opts(100));
    const r = await exportOnce(spool, [1, 2]);
    expect(r.code).toBe(ExportResultCode.FAILED);
    expect(String(r.error)).toMatch(/HTTP 400/);
    expect(spool.held).toBe(0);
    expect(spool.dropped).toBe(2);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      'echoes-otel: the collector refused 2 items (HTTP 400); a refused batch is not retried; further drops are counted quietly',
    ]);
  });

  it('holds at most maxItems, dropping the oldest, and warns once', async () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const s = scripted(['retry', 'retry', 'retry', 'ok']);
    const spool = new ExportSpool(s.exporter, opts(5));
    await exportOnce(spool, [1, 2, 3, 4]);
    await exportOnce(spool, [5, 6, 7, 8]); // nothing taken along: the batch is full
    await exportOnce(spool, [9]); // takes 3 held along: [1,2,3,9] fails; held is [1,2,3,5..9] -> 5 kept
    expect(spool.held).toBe(5);
    expect(spool.dropped).toBe(4);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      'echoes-otel: the OTLP retry buffer is full (ECHOES_OTLP_RETRY_BUFFER=5 items): the collector has been unreachable too long, so the oldest held items are dropped; further drops are counted quietly',
    ]);
    await exportOnce(spool, []);
    expect(s.calls.at(-1)).toEqual([5, 6, 7, 8]);
  });

  it('holds nothing with maxItems 0 (the exporter as it was)', async () => {
    const s = scripted(['retry']);
    const spool = new ExportSpool(s.exporter, opts(0));
    expect((await exportOnce(spool, [1])).code).toBe(ExportResultCode.FAILED);
    expect(spool.dropped).toBe(1);
  });

  it('once shutdown begins, failures are final; shutdown sends what is held once, then drops it', async () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const s = scripted(['retry', 'retry', 'retry', 'retry']);
    const spool = new ExportSpool(s.exporter, opts(100));
    await exportOnce(spool, [1, 2, 3]);
    await exportOnce(spool, [4, 5, 6, 7]);
    expect(spool.held).toBe(7);
    stopping = true;
    await spool.shutdown();
    // One attempt for each held item, maxBatch at a time; a failure during shutdown is final.
    expect(s.calls.slice(2)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7],
    ]);
    expect(spool.held).toBe(0);
    expect(spool.dropped).toBe(7);
    expect(s.shutdowns()).toBe(1);
    // Said once, as what it is: not a full buffer, an exit with the collector away.
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      'echoes-otel: 7 items were not shipped before exit: the collector did not take them',
    ]);
  });
});

describe('ExportSpool with the real OTLP exporter and transport', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  it('marks 503 answers retryable and delivers every record once the collector answers 200', async () => {
    let answer = 503;
    const received = new Set<string>();
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (answer === 200) {
          // Each record's body is "line-N": find them in the protobuf bytes.
          for (const l of Buffer.concat(chunks)
            .toString('latin1')
            .match(/line-\d+/g) ?? [])
            received.add(l);
        }
        res.writeHead(answer, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
    const control = createExportControl();
    const otlp = new OTLPLogExporter({
      url,
      // A 503 comes back at once; the transport's first backoff (1 s ± 20 %) does not fit in
      // 800 ms, so each failed export is one request.
      timeoutMillis: 800,
      httpAgentOptions: (p: string) => control.agentFactory(p),
    });
    expect(control.adopt(otlp)).toBe(true);
    const seen: ExportResult[] = [];
    const watched = otlp.export.bind(otlp);
    otlp.export = (items, cb) => watched(items, (r) => (seen.push(r), cb(r)));
    const spool = new ExportSpool(otlp, {
      maxItems: 1000,
      maxBatch: 512,
      retryMs: 50,
      stopping: () => control.stopping,
      what: 'log records',
    });
    const provider = new LoggerProvider({
      processors: [new BatchLogRecordProcessor({ exporter: spool, scheduledDelayMillis: 20 })],
    });
    const logger = provider.getLogger('t');
    for (let i = 0; i < 30; i++) logger.emit({ body: `line-${i}` });
    await until(() => seen.length > 0 && spool.held === 30, 5000).catch((e: Error) => {
      throw new Error(
        `${e.message}: ${JSON.stringify({ seen: seen.length, held: spool.held, received: received.size, dropped: spool.dropped, err: String(seen[0]?.error) })}`,
      );
    });
    expect(isRetryable(seen[0]!.error)).toBe(true);
    answer = 200;
    for (let i = 30; i < 40; i++) logger.emit({ body: `line-${i}` });
    // At least once: a request that timed out may have arrived too; every line arrives.
    await until(() => received.size === 40 && spool.held === 0 && spool.delivered === 30, 8000);
    expect(spool.dropped).toBe(0);
    expect(spool.delivered).toBe(30);
    control.stopRetries();
    await provider.shutdown();
    control.release();
  });
});

describe('createLoggerProvider with the spool', () => {
  it('holds up to ECHOES_OTLP_RETRY_BUFFER records while the collector refuses connections and counts the rest as otlp_export_failed', async () => {
    vi.spyOn(diag, 'warn').mockImplementation(() => {});
    // A port nothing listens on: bound, then closed.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const { config } = loadConfig(
      {},
      {
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_EXPORTER_OTLP_TIMEOUT: '300', // no backoff fits: one attempt per export
          ECHOES_OTLP_RETRY_BUFFER: '2',
        },
        cwd: process.cwd(),
      },
    );
    expect(config.otlpRetryBuffer).toBe(2);
    const control = createExportControl();
    const { provider, otlpDrops } = createLoggerProvider(config, createResource(config), control);
    const logger = provider.getLogger('t');
    for (let i = 0; i < 5; i++) logger.emit({ body: `r${i}` });
    await provider.forceFlush();
    await until(() => otlpDrops!.droppedExportFailed === 3, 5000);
    expect(otlpDrops!.droppedQueueFull).toBe(0);
    // At shutdown the two held records get their last attempt, fail, and are counted too.
    control.stopRetries();
    await provider.shutdown();
    control.release();
    expect(otlpDrops!.droppedExportFailed).toBe(5);
  });
});
