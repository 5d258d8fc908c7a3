import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import { redactingLoggerProvider } from '../../../../instrumentation/signals/genai.js';
import { createRedactor } from '../../../../instrumentation/redact.js';

describe('redactingLoggerProvider', () => {
  it('redacts the body and attributes of captured GenAI content before any processor sees them', () => {
    const exporter = new InMemoryLogRecordExporter();
    const lp = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
    const logger = redactingLoggerProvider(lp, createRedactor(['api_key'])).getLogger('genai');
    const body = { content: 'my key is sk-abcdefghijklmnopqrstuvwx, api_key: x', role: 'user' };
    logger.emit({
      body: { ...body, api_key: 'sk-zzzzzzzzzzzzzzzzzzzzzzzz' },
      attributes: { 'event.name': 'gen_ai.user.message', authorization: 'Bearer abc.def.ghi' },
    });
    const [rec] = exporter.getFinishedLogRecords();
    expect(JSON.stringify(rec!.body)).not.toMatch(/sk-[a-z]{16}/);
    expect(rec!.body).toMatchObject({ role: 'user', api_key: '[REDACTED]' });
    expect(rec!.attributes['event.name']).toBe('gen_ai.user.message');
    expect(String(rec!.attributes.authorization)).not.toContain('abc.def.ghi');
  });
});
