import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diag, trace, type DiagLogger } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { QUIET_SDK_ENV } from '../../helpers/sdk-env.js';
import { createCollapsingLogger, watchExporter } from '../../../instrumentation/export/diag.js';
import { prometheusBaseName } from '../../../instrumentation/export/metrics.js';
import { createRedactor } from '../../../instrumentation/redact.js';
import { currentEchoes, shutdownEchoes, startEchoes } from '../../../instrumentation/sdk.js';
import { createSampler, redactingExporter } from '../../../instrumentation/export/traces.js';

describe('createSampler', () => {
  it('maps every OTEL_TRACES_SAMPLER name', () => {
    expect(createSampler('always_on', undefined).toString()).toBe('AlwaysOnSampler');
    expect(createSampler('always_off', undefined).toString()).toBe('AlwaysOffSampler');
    expect(createSampler('traceidratio', 0.5).toString()).toBe('TraceIdRatioBased{0.5}');
    expect(createSampler('parentbased_always_on', undefined).toString()).toMatch(
      /^ParentBased\{root=AlwaysOnSampler/,
    );
    expect(createSampler('parentbased_always_off', undefined).toString()).toMatch(
      /^ParentBased\{root=AlwaysOffSampler/,
    );
    expect(createSampler('parentbased_traceidratio', 0.1).toString()).toMatch(
      /^ParentBased\{root=TraceIdRatioBased\{0.1\}/,
    );
  });
});

describe('redactingExporter', () => {
  it('redacts span and event attributes before export, leaving the span itself alone', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [
        new SimpleSpanProcessor(
          redactingExporter(memory, createRedactor(['authorization', 'password'])),
        ),
      ],
    });
    const span = provider
      .getTracer('t')
      .startSpan('s', { attributes: { authorization: 'Bearer abc.def', 'http.route': '/x' } });
    span.addEvent('login', { password: 'hunter2', user: 'ann' });
    span.end();
    await provider.forceFlush();
    const [out] = memory.getFinishedSpans();
    expect(out?.attributes).toEqual({ authorization: '[REDACTED]', 'http.route': '/x' });
    expect(out?.events[0]?.attributes).toEqual({ password: '[REDACTED]', user: 'ann' });
    expect(out?.name).toBe('s');
    expect(out?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify({ a: out?.attributes, e: out?.events })).not.toContain('hunter2');
  });
});

describe('watchExporter', () => {
  it('warns once when exports start failing and once when they recover', () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const results = [1, 1, 1, 0, 0];
    const exporter = {
      export(_items: unknown, cb: (r: { code: number; error?: Error }) => void) {
        const code = results.shift() ?? 0;
        cb(
          code === 0 ? { code } : { code, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') },
        );
      },
    };
    const health = watchExporter('traces', 'http://127.0.0.1:4318/v1/traces', exporter);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) exporter.export([], (r) => seen.push(r.code));
    expect(seen).toEqual([1, 1, 1, 0, 0]);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(
        /^echoes-otel: cannot export traces to http:\/\/127.0.0.1:4318\/v1\/traces: connect ECONNREFUSED/,
      ),
      'echoes-otel: traces export to http://127.0.0.1:4318/v1/traces recovered after 3 failed export(s)',
    ]);
    expect(health.failing).toBe(false);
    warn.mockRestore();
  });
});

describe('createCollapsingLogger', () => {
  it('prints a repeated warning once, even when its numbers change', () => {
    const calls: string[] = [];
    const inner = {
      error: (m: string) => calls.push(`E ${m}`),
      warn: (m: string) => calls.push(`W ${m}`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    } as DiagLogger;
    const l = createCollapsingLogger(inner);
    l.warn('export failed after 1001 ms');
    l.warn('export failed after 2002 ms');
    l.error('something else');
    expect(calls).toEqual(['W export failed after 1001 ms', 'E something else']);
    expect(l.suppressed).toBe(1);
  });
});

describe('prometheusBaseName', () => {
  it('appends the unit word as Prometheus does for OTLP metrics', () => {
    expect(prometheusBaseName('http.server.request.duration', 's', false)).toBe(
      'http_server_request_duration_seconds',
    );
    expect(prometheusBaseName('echoes.log.written', 'By', false)).toBe('echoes_log_written_bytes');
    expect(prometheusBaseName('echoes.cache.requests', '{request}', false)).toBe(
      'echoes_cache_requests',
    );
    expect(prometheusBaseName('echoes.disk.utilization', '1', true)).toBe(
      'echoes_disk_utilization_ratio',
    );
    expect(prometheusBaseName('x.count', '1', false)).toBe('x_count');
    expect(prometheusBaseName('already_seconds', 's', false)).toBe('already_seconds');
    expect(prometheusBaseName('net.rate', 'By/s', true)).toBe('net_rate_bytes_per_second');
  });
});

describe('startEchoes / shutdownEchoes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'echoes-sdk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('registers the providers, starts once, and shuts down idempotently within the deadline', async () => {
    const env = {
      ...QUIET_SDK_ENV,
      ECHOES_DIRS: 'none',
      ECHOES_INSTRUMENTATIONS: 'http',
    };
    const handle = await startEchoes({}, { env, cwd: dir });
    expect(await startEchoes({}, { env, cwd: dir })).toBe(handle);
    expect(currentEchoes()).toBe(handle);
    const provider = trace.getTracerProvider() as unknown as { getDelegate(): object };
    expect(provider.getDelegate().constructor.name).toBe('LeanTracerProvider');
    expect(handle.started).toContain('http');
    expect(handle.started).not.toContain('fs');
    expect(handle.config.shutdownTimeoutMs).toBe(1000);
    const t0 = Date.now();
    await Promise.all([shutdownEchoes(), shutdownEchoes()]);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(currentEchoes()).toBeUndefined();
    await shutdownEchoes();
  });
});
