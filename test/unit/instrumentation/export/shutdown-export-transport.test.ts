import { createServer as createHttpServer, request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { createExportControl } from '../../../../instrumentation/export/export-transport.js';
import { isRetryable } from '../../../../instrumentation/export/export-spool.js';

type Result = { status: 'success' | 'retryable' | 'failure'; retryInMillis?: number };

/** An object shaped like OTLPExporterBase: _delegate._transport (retrying) wraps the HTTP transport. */
function fakeExporter(results: Result[]) {
  const sends: number[] = [];
  const inner = {
    send: async (): Promise<Result> => {
      sends.push(Date.now());
      return results.shift() ?? { status: 'retryable' };
    },
    shutdown: () => {},
  };
  const exporter = {
    _delegate: { _transport: { _transport: inner, send: inner.send, shutdown: inner.shutdown } },
  };
  const send = (): Promise<Result> =>
    (
      exporter._delegate._transport as unknown as {
        send(d: Uint8Array, t: number): Promise<Result>;
      }
    ).send(new Uint8Array(0), 10_000);
  return { exporter, sends, send };
}

describe('createExportControl', () => {
  it('retries a retryable export as upstream does', async () => {
    const control = createExportControl();
    const f = fakeExporter([{ status: 'retryable', retryInMillis: 10 }, { status: 'success' }]);
    expect(control.adopt(f.exporter)).toBe(true);
    expect(await f.send()).toEqual({ status: 'success' });
    expect(f.sends).toHaveLength(2);
  });

  it('stops retrying at release(), waking a pending backoff at once', async () => {
    const control = createExportControl();
    const f = fakeExporter([{ status: 'retryable', retryInMillis: 5000 }]);
    control.adopt(f.exporter);
    const t0 = Date.now();
    const pending = f.send();
    setTimeout(() => control.release(), 20);
    const r = (await pending) as Result & { error?: unknown };
    expect(r).toMatchObject({ status: 'retryable', retryInMillis: 5000 });
    // Out of attempts on a retryable answer: marked so for the export spool.
    expect(isRetryable(r.error)).toBe(true);
    expect(control.stopping).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(f.sends).toHaveLength(1);
    expect(control.released).toBe(true);
  });

  it('makes one attempt per export after stopRetries(), waking a pending backoff', async () => {
    const control = createExportControl();
    const f = fakeExporter([{ status: 'retryable', retryInMillis: 5000 }, { status: 'success' }]);
    control.adopt(f.exporter);
    const t0 = Date.now();
    const pending = f.send();
    setTimeout(() => control.stopRetries(), 20);
    expect((await pending).status).toBe('retryable');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(f.sends).toHaveLength(1);
    // Later exports still go out, once each.
    expect((await f.send()).status).toBe('success');
    expect(f.sends).toHaveLength(2);
    expect(control.released).toBe(false);
  });

  it('fails an export started after release() without sending it', async () => {
    const control = createExportControl();
    const f = fakeExporter([{ status: 'success' }]);
    control.adopt(f.exporter);
    control.release();
    expect((await f.send()).status).toBe('failure');
    expect(f.sends).toHaveLength(0);
  });

  it('adopts the pinned OTLP exporters (their internals are what it patches)', async () => {
    const control = createExportControl();
    for (const e of [new OTLPTraceExporter(), new OTLPMetricExporter(), new OTLPLogExporter()]) {
      expect(control.adopt(e), e.constructor.name).toBe(true);
      await e.shutdown();
    }
  });

  it("hands upstream's HTTP transport our agent and node:http's request up front (no dynamic import of http at the first export)", async () => {
    const received: string[] = [];
    const sink = createHttpServer((req, res) => {
      received.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    try {
      const control = createExportControl();
      const url = `http://127.0.0.1:${(sink.address() as { port: number }).port}/v1/traces`;
      const exporter = new OTLPTraceExporter({ url });
      expect(control.adopt(exporter)).toBe(true);
      const inner = (
        exporter as unknown as {
          _delegate: { _transport: { _inner: { _utils: { agent: unknown; request: unknown } } } };
        }
      )._delegate._transport._inner;
      expect(inner._utils.agent).toBe(control.agentFactory('http:'));
      expect(inner._utils.request).toBe(request);
      const code = await new Promise<number>((resolve) =>
        exporter.export([], (r) => resolve(r.code)),
      );
      expect(code).toBe(0);
      expect(received).toEqual(['/v1/traces']);
      await exporter.shutdown();
    } finally {
      sink.closeAllConnections();
      await new Promise((r) => sink.close(r));
    }
  });

  it('leaves an exporter of another shape alone', () => {
    expect(createExportControl().adopt({})).toBe(false);
  });

  describe('agents', () => {
    let silent: Server;
    const accepted: Socket[] = [];
    afterAll(() => {
      for (const s of accepted) s.destroy();
      silent?.close();
    });

    it('destroys in-flight export sockets at release(), so a silent collector cannot hold the process', async () => {
      // Accepts connections and never answers, like a hung collector.
      silent = createServer((s) => void accepted.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
      const port = (silent.address() as { port: number }).port;
      const control = createExportControl();
      const agent = control.agentFactory('http:');
      expect(control.agentFactory('http:')).toBe(agent);
      const failed = new Promise<string>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', agent },
          () => resolve('answered'),
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end('x');
      });
      await new Promise<void>((r) => {
        const check = (): void => (accepted.length > 0 ? r() : void setTimeout(check, 5));
        check();
      });
      control.release();
      expect(await failed).toBe('ECONNRESET');
    });
  });
});
