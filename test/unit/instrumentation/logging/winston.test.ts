import { logs } from '@opentelemetry/api-logs';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../instrumentation/config/config.js';
import { createWinstonInstrumentation } from '../../../../instrumentation/logging/winston.js';

const require = createRequire(import.meta.url);

interface TransportCtor {
  new (opts?: object): { log(info: object, cb: () => void): void };
}
// The copy instrumentation-winston loads (the one createWinstonInstrumentation wraps).
const fromInstrumentation = createRequire(
  require.resolve('@opentelemetry/instrumentation-winston'),
);
const { OpenTelemetryTransportV3 } = fromInstrumentation('@opentelemetry/winston-transport') as {
  OpenTelemetryTransportV3: TransportCtor;
};

const disposers: Array<() => void> = [];
afterEach(() => {
  for (const d of disposers.splice(0)) d();
});

describe('createWinstonInstrumentation', () => {
  it('redacts what the OTel winston transport ships, without touching the record the app’s other transports get', async () => {
    const { config } = loadConfig({}, { env: {}, cwd: process.cwd() });
    const inst = createWinstonInstrumentation(config);
    disposers.push(() => inst.disable());
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({
      processors: [new SimpleLogRecordProcessor({ exporter })],
    });
    logs.setGlobalLoggerProvider(provider);
    disposers.push(() => logs.disable());

    const level = Symbol.for('level');
    const info = {
      level: 'info',
      message: 'call with Bearer abc.def',
      api_key: 'k-1',
      user: 'ada',
      [level]: 'info',
    };
    const snapshot = { ...info };
    await new Promise<void>((resolve) => new OpenTelemetryTransportV3().log(info, resolve));

    expect(info).toEqual(snapshot);
    const [rec] = exporter.getFinishedLogRecords();
    expect(rec!.body).toBe('call with Bearer [REDACTED]');
    expect(rec!.attributes).toMatchObject({ api_key: '[REDACTED]', user: 'ada' });
    expect(exporter.getFinishedLogRecords()).toHaveLength(1);
    await provider.shutdown();
  });

  it('turns log sending off when the logs exporter is none (correlation stays on)', () => {
    const { config } = loadConfig({ logs: { exporter: 'none' } }, { env: {}, cwd: process.cwd() });
    const inst = createWinstonInstrumentation(config);
    disposers.push(() => inst.disable());
    expect(inst.getConfig()).toMatchObject({
      disableLogSending: true,
      disableLogCorrelation: false,
    });
  });
});
