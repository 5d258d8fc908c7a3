import { createServer, type Server as NetServer } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../instrumentation/config.js';
import { isRetryable } from '../../../instrumentation/export-spool.js';
import { createExportControl } from '../../../instrumentation/export-transport.js';
import {
  createOtlpExporter,
  prepareOtlpExporters,
  spooled,
} from '../../../instrumentation/otlp-exporters.js';

// The OTLP/gRPC branch of the shared exporter factory against real gRPC endpoints on loopback:
// a closed port (UNAVAILABLE: retried by our transport, held by the spool), and a gRPC server
// without the OTLP service (UNIMPLEMENTED: final, as the OTLP spec says).

let closedPort: number;
let grpcServer: Server;
let grpcPort: number;

beforeAll(async () => {
  const probe: NetServer = createServer();
  closedPort = await new Promise<number>((resolve) =>
    probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
  );
  await new Promise((r) => probe.close(r));
  grpcServer = new Server();
  grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
});

afterAll(() => {
  grpcServer?.forceShutdown();
});

function grpcConfig(endpoint: string) {
  return loadConfig(undefined, {
    env: {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_TIMEOUT: '800',
      ECHOES_OTLP_RETRY_BUFFER: '100',
    },
  }).config;
}

function aSpan(): ReadableSpan {
  const span = new BasicTracerProvider().getTracer('t').startSpan('s');
  span.end();
  return span as unknown as ReadableSpan;
}

function exportOnce(
  exporter: { export(items: ReadableSpan[], cb: (r: ExportResult) => void): void },
  spans: ReadableSpan[],
): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

async function grpcTraceExporter(endpoint: string) {
  const config = grpcConfig(endpoint);
  expect(config.traces.otlp).toMatchObject({ protocol: 'grpc', url: endpoint });
  await prepareOtlpExporters(config);
  const control = createExportControl();
  const exporter = createOtlpExporter<SpanExporter>('traces', config.traces.otlp, control, () => {
    throw new Error('the http exporter is not asked for over gRPC');
  });
  return { config, control, exporter };
}

describe('createOtlpExporter over gRPC', () => {
  it("builds upstream's gRPC exporter, whose failures our transport classifies", async () => {
    const { exporter, control } = await grpcTraceExporter(`http://127.0.0.1:${closedPort}`);
    expect(exporter.constructor.name).toBe('OTLPTraceExporter');
    const result = await exportOnce(exporter, [aSpan()]);
    expect(result.code).toBe(ExportResultCode.FAILED);
    // UNAVAILABLE (connection refused) is retryable in the OTLP spec: marked for the spool.
    expect(isRetryable(result.error)).toBe(true);
    control.release();
    await exporter.shutdown();
  });

  it('holds a batch the collector could not take in the spool, and drops a refused one', async () => {
    const down = await grpcTraceExporter(`http://127.0.0.1:${closedPort}`);
    const spool = spooled<ReadableSpan, SpanExporter>(
      down.exporter,
      down.config,
      'spans',
      down.control,
    );
    const r1 = await exportOnce(spool, [aSpan(), aSpan()]);
    // Held for a resend: the processor is told it is taken care of.
    expect(r1.code).toBe(ExportResultCode.SUCCESS);
    expect((spool as unknown as { held: number }).held).toBe(2);
    down.control.release();
    await spool.shutdown();

    const wrong = await grpcTraceExporter(`http://127.0.0.1:${grpcPort}`);
    const result = await exportOnce(wrong.exporter, [aSpan()]);
    expect(result.code).toBe(ExportResultCode.FAILED);
    expect((result.error as { code?: number }).code).toBe(12); // UNIMPLEMENTED
    expect(isRetryable(result.error)).toBe(false);
    wrong.control.release();
    await wrong.exporter.shutdown();
  });
});
