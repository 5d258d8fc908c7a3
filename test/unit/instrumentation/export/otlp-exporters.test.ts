import { createServer, type Server as NetServer } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { isRetryable } from '../../../../instrumentation/export/export-spool.js';
import { createExportControl } from '../../../../instrumentation/export/export-transport.js';
import {
  createOtlpExporter,
  prepareOtlpExporters,
  spooled,
} from '../../../../instrumentation/export/otlp-exporters.js';

// The OTLP/gRPC branch of the shared exporter factory against real gRPC endpoints on loopback:
// a gRPC server answering the OTLP trace service (the metadata it gets), a closed port
// (UNAVAILABLE: retried by our transport, held by the spool), and a gRPC server without the OTLP
// service (UNIMPLEMENTED: final, as the OTLP spec says).

let closedPort: number;
let grpcServer: Server;
let grpcPort: number;
let otlpServer: Server;
let otlpPort: number;
const received: { metadata: Record<string, unknown>; bytes: number }[] = [];

const identity = (b: Buffer): Buffer => b;
/** The OTLP trace service's one method, raw bytes in and out (an empty response decodes fine). */
const TRACE_SERVICE = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

function bind(server: Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

beforeAll(async () => {
  const probe: NetServer = createServer();
  closedPort = await new Promise<number>((resolve) =>
    probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
  );
  await new Promise((r) => probe.close(r));
  grpcServer = new Server();
  grpcPort = await bind(grpcServer);
  otlpServer = new Server();
  otlpServer.addService(TRACE_SERVICE, {
    Export: (
      call: { metadata: { getMap(): Record<string, unknown> }; request: Buffer },
      cb: (err: null, res: Buffer) => void,
    ) => {
      received.push({ metadata: call.metadata.getMap(), bytes: call.request.length });
      cb(null, Buffer.alloc(0));
    },
  });
  otlpPort = await bind(otlpServer);
});

afterAll(() => {
  grpcServer?.forceShutdown();
  otlpServer?.forceShutdown();
});

function grpcConfig(endpoint: string, headers?: string) {
  return loadConfig(undefined, {
    env: {
      ...(headers !== undefined && { OTEL_EXPORTER_OTLP_HEADERS: headers }),
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

async function grpcTraceExporter(endpoint: string, headers?: string) {
  const config = grpcConfig(endpoint, headers);
  expect(config.traces.otlp).toMatchObject({ protocol: 'grpc', url: endpoint });
  await prepareOtlpExporters(config);
  const control = createExportControl();
  const exporter = createOtlpExporter<SpanExporter>('traces', config.traces.otlp, control);
  return { config, control, exporter };
}

describe('createOtlpExporter over gRPC', () => {
  it('exports to an OTLP gRPC service, the OTLP headers sent as metadata', async () => {
    const { exporter, control } = await grpcTraceExporter(
      `http://127.0.0.1:${otlpPort}`,
      'X-Tenant=acme,Authorization=Bearer%20t0ken',
    );
    const result = await exportOnce(exporter, [aSpan()]);
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    expect(received).toHaveLength(1);
    expect(received[0]!.bytes).toBeGreaterThan(0);
    expect(received[0]!.metadata).toMatchObject({
      'x-tenant': 'acme',
      authorization: 'Bearer t0ken',
    });
    control.release();
    await exporter.shutdown();
  });

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
