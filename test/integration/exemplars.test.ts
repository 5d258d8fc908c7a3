/**
 * Exemplars end to end, under Node 20 and Node 24: a service under the preload handles requests (a file read inside each)
 * and calls itself; its hot-path histograms carry the trace and span id of sampled requests as
 * OTLP exemplars through the real collector into the real Prometheus (exemplar storage on, the
 * flags compose runs). Prometheus' /api/v1/query_exemplars must return trace ids that are trace
 * ids of spans the same run exported (received here by the Tempo stand-in), with the span id of
 * the very span the measurement belongs to. The service also calls a model through the real
 * `openai` client (a local OpenAI-compatible server in the test): gen_ai.client.operation.duration
 * and gen_ai.client.token.usage carry the chat client span of the call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startStack, tempDir, type Stack } from '../helpers/backends.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type FlatSpan, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openai-server.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';
import { pipelineMissing } from '../fixtures/pipeline/run.js';

const SERVICE = 'echoes-exemplars';
const SERVER = 2;
const CLIENT = 3;

const skipReason = pipelineMissing();
if (skipReason !== undefined)
  console.warn(`SKIPPED test/integration/exemplars.test.ts: ${skipReason}`);

// The openai client is the repository's (CommonJS, through the require hook, as most apps load it).
const APP = String.raw`
import http from 'node:http';
import fs from 'node:fs';
import { createRequire } from 'node:module';
const OpenAI = createRequire(process.env.REPO_PACKAGE)('openai');
const model = new OpenAI({ baseURL: process.env.MODEL_URL, apiKey: process.env.MODEL_KEY, maxRetries: 0 });
fs.writeFileSync('data.json', JSON.stringify({ a: 1 }));
const server = http.createServer(async (req, res) => {
  fs.readFileSync('data.json');
  if (req.url === '/chat') {
    try {
      await model.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'say hi' }] });
    } catch {}
  }
  res.end('ok');
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  let stopping = false;
  let n = 0;
  const tick = () => {
    if (stopping) return;
    // One request in five calls the model.
    const path = ++n % 5 === 0 ? '/chat' : '/x';
    http.get({ host: '127.0.0.1', port, path }, (r) => {
      r.resume();
      r.on('end', () => setTimeout(tick, 20));
    }).on('error', () => setTimeout(tick, 20));
  };
  tick();
  process.on('SIGTERM', () => { stopping = true; server.close(); });
});
`;

interface ExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }>;
}

describe.skipIf(skipReason !== undefined)('exemplars from the hot-path histograms', () => {
  let stack: Stack | undefined;
  let tempo: OtlpReceiver | undefined;
  let model: OpenAIServer | undefined;
  const apps: ChildProcess[] = [];
  let dir = '';
  const output: string[] = [];
  const started = Date.now() / 1000;

  beforeAll(async () => {
    dir = tempDir('exemplars');
    tempo = await startOtlpReceiver();
    model = await startOpenAIServer({ latencyMs: 5 });
    stack = await startStack({ tempo: tempo.url });
    const script = join(dir, 'app.mjs');
    writeFileSync(script, APP);
    // Under Node 20 and Node 24, each its own instance of the service.
    for (const node of NODE_BINARIES) {
      const cwd = join(dir, node.label.replace(/\W+/g, '-'));
      mkdirSync(cwd, { recursive: true });
      const app = spawn(node.path, ['--import', pathToFileURL(REGISTER).href, script], {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          OTEL_SERVICE_NAME: SERVICE,
          OTEL_EXPORTER_OTLP_ENDPOINT: stack.collector.otlpHttpUrl,
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
          OTEL_METRIC_EXPORT_TIMEOUT: '900',
          OTEL_BSP_SCHEDULE_DELAY: '200',
          ECHOES_LOG_CONSOLE: 'off',
          ECHOES_PROMETHEUS: 'off',
          REPO_PACKAGE: join(REPO_ROOT, 'package.json'),
          MODEL_URL: model.baseURL,
          MODEL_KEY: model.apiKey,
        },
      });
      app.stdout?.on('data', (d: Buffer) => output.push(`[${node.label}] ${d.toString()}`));
      app.stderr?.on('data', (d: Buffer) => output.push(`[${node.label}] ${d.toString()}`));
      apps.push(app);
    }
  });

  afterAll(async () => {
    await Promise.all(
      apps.map(async (app) => {
        if (app.exitCode !== null || app.signalCode !== null) return;
        const exited = new Promise((r) => app.once('exit', r));
        const kill = setTimeout(() => app.kill('SIGKILL'), 10_000);
        app.kill('SIGTERM');
        await exited;
        clearTimeout(kill);
      }),
    );
    await stack?.stop();
    await tempo?.close();
    await model?.close();
    if (dir !== '' && !process.env.ECHOES_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  });

  async function exemplarsOf(series: string): Promise<ExemplarSeries[]> {
    const q = new URLSearchParams({
      query: `${series}{service_name="${SERVICE}"}`,
      start: String(started - 60),
      end: String(Date.now() / 1000 + 60),
    });
    const r = await fetch(`${stack!.prometheus.url}/api/v1/query_exemplars?${q}`);
    const body = (await r.json()) as { status: string; error?: string; data: ExemplarSeries[] };
    if (body.status !== 'success') throw new Error(`query_exemplars: ${body.error}`);
    return body.data;
  }

  /** Exemplars of the series, once at least `min` arrived; each with its exported span. */
  async function resolved(series: string, min: number) {
    const data = await pollUntil(
      `exemplars on ${series} (app output: ${output.join('').slice(-1500)})`,
      async () => {
        const d = await exemplarsOf(series);
        return d.reduce((n, s) => n + s.exemplars.length, 0) >= min ? d : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    const exemplars = data.flatMap((s) =>
      s.exemplars.map((e) => ({ ...e, series: s.seriesLabels })),
    );
    // The spans of those traces reached Tempo's stand-in in the same run.
    const spans = await pollUntil(
      'the exemplars’ spans at the Tempo stand-in',
      () => {
        const byId = new Map(tempo!.spans().map((s) => [s.spanId, s] as const));
        return exemplars.every((e) => byId.has(e.labels.span_id!)) ? byId : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    return exemplars.map((e) => ({ exemplar: e, span: spans.get(e.labels.span_id!) as FlatSpan }));
  }

  it('puts trace ids of exported server spans on http.server.request.duration', async () => {
    const got = await resolved('http_server_request_duration_seconds_bucket', 2);
    for (const { exemplar, span } of got) {
      expect(exemplar.labels.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(span.traceId).toBe(exemplar.labels.trace_id);
      expect(span.kind).toBe(SERVER);
      expect(span.resource['service.name']).toBe(SERVICE);
      // The value is the request's duration, in the bucket (le) of the series it is attached to.
      const le = exemplar.series.le!;
      expect(Number(exemplar.value)).toBeLessThanOrEqual(le === '+Inf' ? Infinity : Number(le));
    }
    const traces = new Set(tempo!.spans().map((s) => s.traceId));
    expect(got.every(({ exemplar }) => traces.has(exemplar.labels.trace_id!))).toBe(true);
    // Both processes (Node 20 and Node 24) attach them.
    const instances = await pollUntil(
      'server exemplars from every Node binary',
      async () => {
        const d = await exemplarsOf('http_server_request_duration_seconds_bucket');
        const ids = new Set(
          d.filter((x) => x.exemplars.length > 0).map((x) => x.seriesLabels.service_instance_id),
        );
        return ids.size >= NODE_BINARIES.length ? ids : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    expect(instances.size).toBe(NODE_BINARIES.length);
  });

  it('puts the client span of each outbound call on http.client.request.duration', async () => {
    const got = await resolved('http_client_request_duration_seconds_bucket', 1);
    for (const { exemplar, span } of got) {
      expect(span.traceId).toBe(exemplar.labels.trace_id);
      expect(span.kind).toBe(CLIENT);
    }
  });

  it('puts the request being served on the fs duration of a read made inside it', async () => {
    const got = await resolved('echoes_fs_operation_duration_seconds_bucket', 1);
    for (const { exemplar, span } of got) {
      expect(span.traceId).toBe(exemplar.labels.trace_id);
      expect(span.kind).toBe(SERVER);
      expect(exemplar.series.fs_operation).toBe('readFile');
    }
  });

  it('puts the chat client span of each model call on gen_ai.client.operation.duration and token usage', async () => {
    for (const series of [
      'gen_ai_client_operation_duration_seconds_bucket',
      'gen_ai_client_token_usage_bucket',
    ]) {
      const got = await resolved(series, 1);
      for (const { exemplar, span } of got) {
        expect(exemplar.labels.trace_id).toMatch(/^[0-9a-f]{32}$/);
        expect(span.traceId).toBe(exemplar.labels.trace_id);
        expect(span.kind).toBe(CLIENT);
        expect(span.name).toBe('chat gpt-4o-mini');
        expect(span.attributes['gen_ai.operation.name']).toBe('chat');
        expect(span.resource['service.name']).toBe(SERVICE);
        expect(exemplar.series.gen_ai_request_model).toBe('gpt-4o-mini');
        expect(exemplar.series.gen_ai_operation_name).toBe('chat');
      }
    }
  });
});
