import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createTracerProvider } from '../../../../instrumentation/export/traces.js';
import { createExportControl } from '../../../../instrumentation/export/export-transport.js';
import { createRedactor } from '../../../../instrumentation/redact.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../../helpers/otlp-receiver.js';

let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await receiver.close();
});

function provider(protocol: 'http/protobuf' | 'http/json') {
  const { config } = loadConfig(
    {},
    {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_TRACES_SAMPLER: 'always_on',
      },
    },
  );
  const control = createExportControl();
  return createTracerProvider(
    config,
    resourceFromAttributes({ 'service.name': `traces-test-${protocol}` }),
    createRedactor(['password']),
    control,
  );
}

describe('createTracerProvider', () => {
  it.each(['http/protobuf', 'http/json'] as const)(
    'batches, redacts and exports spans over %s, all of them by forceFlush and shutdown',
    async (protocol) => {
      const tp = provider(protocol);
      const tracer = tp.getTracer('traces-test', '1.0.0');
      for (let i = 0; i < 3; i++) {
        const span = tracer.startSpan(`op ${i} ✓`, {
          kind: SpanKind.SERVER,
          attributes: { password: 'hunter2', 'url.path': `/p/${i}`, n: i },
        });
        span.addEvent('ev', { password: 'hunter3' });
        span.end();
      }
      await tp.forceFlush();
      tracer.startSpan('after flush').end();
      await tp.shutdown();
      const service = `traces-test-${protocol}`;
      const spans = receiver.spans().filter((s) => s.resource['service.name'] === service);
      expect(spans.map((s) => s.name).sort()).toEqual(
        ['after flush', 'op 0 ✓', 'op 1 ✓', 'op 2 ✓'].sort(),
      );
      const op1 = spans.find((s) => s.name === 'op 1 ✓')!;
      expect(op1.attributes).toEqual({ password: '[REDACTED]', 'url.path': '/p/1', n: 1 });
      expect(op1.events[0]!.attributes).toEqual({ password: '[REDACTED]' });
      expect(op1.kind).toBe(2);
      expect(op1.scope).toBe('traces-test');
      const encodings = receiver.requests
        .filter((r) => r.signal === 'traces' && JSON.stringify(r.body).includes(service))
        .map((r) => r.encoding);
      expect(new Set(encodings)).toEqual(new Set([protocol === 'http/json' ? 'json' : 'protobuf']));
    },
  );
});
