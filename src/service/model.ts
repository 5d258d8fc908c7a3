import { randomUUID } from 'node:crypto';
import type * as Http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import OpenAI from 'openai';

/**
 * The service's simulated model, behind an OpenAI-compatible server the service starts itself on
 * a loopback port (`POST /v1/chat/completions`, in a worker thread), and the real `openai` client
 * that calls it. So a chat request is
 * traced the way a real assistant's is: the `chat {model}` client span (gen_ai.* attributes,
 * token usage, errors) and the model's latency and tokens in gen_ai.client.* metrics, in the same
 * trace as the request, through the same client library a real service uses.
 *
 * The key is random per process and only ever sent to this loopback server, which checks it as
 * OpenAI does (401 otherwise).
 */

/** What the model server is told per call (headers the client sends). */
export interface ModelCallTuning {
  readonly latencyMs: number;
  /** The caller rolled a failure: the model answers 503 after the latency. */
  readonly fail: boolean;
}

/** How the caller tunes one call: the simulated latency, and whether it fails (rolled by the caller). */
export const TUNING_HEADERS = {
  latencyMs: 'x-echoes-latency-ms',
  fail: 'x-echoes-fail',
} as const;

export interface ModelServer {
  /** `http://127.0.0.1:<port>/v1`: the openai client's `baseURL`. */
  readonly baseURL: string;
  readonly apiKey: string;
  close(): Promise<void>;
}

/**
 * The model server's code, run in a worker thread (`eval`, CommonJS: `require` is the worker's).
 * A worker, not a route on the service: requests to the model are then not requests to the
 * service (its http.server.request.duration, the audit's response time, counts only its own),
 * as with a remote model; and the preload starts no SDK in workers (ECHOES_IN_WORKERS off).
 */
function modelServerMain(): void {
  const req = require as (id: string) => unknown;
  const http = req('node:http') as typeof Http;
  const { parentPort, workerData } = req('node:worker_threads') as typeof WorkerThreads;
  const { apiKey, known } = workerData as { apiKey: string; known: string[] };
  const words = (t: string): number => (t.trim() === '' ? 0 : t.trim().split(/\s+/).length);
  const reply = (res: Http.ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const fail = (res: Http.ServerResponse, status: number, message: string, type: string) =>
    reply(res, status, { error: { message, type, param: null, code: null } });
  const server = http.createServer((request, res) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        fail(res, 404, `no route ${request.method} ${request.url}`, 'invalid_request_error');
        return;
      }
      if (request.headers.authorization !== `Bearer ${apiKey}`) {
        fail(res, 401, 'Incorrect API key provided', 'invalid_request_error');
        return;
      }
      let body: { model?: unknown; messages?: Array<{ role?: unknown; content?: unknown }> };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        fail(res, 400, 'body is not valid JSON', 'invalid_request_error');
        return;
      }
      const model = String(body.model ?? '');
      if (!known.includes(model)) {
        fail(res, 404, `The model \`${model}\` does not exist`, 'invalid_request_error');
        return;
      }
      const messages = Array.isArray(body.messages) ? body.messages : [];
      const last = messages.filter((m) => m.role === 'user').at(-1);
      const prompt = typeof last?.content === 'string' ? last.content : '';
      const latencyMs = Math.max(0, Number(request.headers['x-echoes-latency-ms'] ?? 0) || 0);
      const failing = request.headers['x-echoes-fail'] === '1';
      setTimeout(() => {
        if (failing) {
          fail(res, 503, `simulated failure of ${model}`, 'server_error');
          return;
        }
        const content = `echo from ${model}: ${prompt.slice(0, 200)}`;
        const input = messages.reduce(
          (n, m) => n + (typeof m.content === 'string' ? words(m.content) : 0),
          0,
        );
        const output = words(content);
        reply(res, 200, {
          id: `chatcmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content, refusal: null },
              finish_reason: 'stop',
              logprobs: null,
            },
          ],
          usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
        });
      }, Math.round(latencyMs));
    });
  });
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1', () => {
    parentPort!.postMessage((server.address() as AddressInfo).port);
  });
}

/** Starts the simulated model's OpenAI-compatible server in a worker thread. */
export async function startModelServer(known: readonly string[]): Promise<ModelServer> {
  const apiKey = `echoes-local-${randomUUID()}`;
  const worker = new Worker(`(${modelServerMain.toString()})()`, {
    eval: true,
    workerData: { apiKey, known: [...known] },
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (p: number) => resolve(p));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`model worker exited (${code})`)));
  });
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    apiKey,
    close: async () => {
      await worker.terminate();
    },
  };
}

export interface ModelClient {
  /** The reply, or throws `ModelCallError` (status from the endpoint). */
  chat(model: string, message: string, tuning: ModelCallTuning): Promise<string>;
}

export class ModelCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The `openai` client against the model server (`server()` resolves once it listens). */
export function createModelClient(server: () => Promise<ModelServer>): ModelClient {
  let client: OpenAI | undefined;
  return {
    async chat(model, message, tuning) {
      if (client === undefined) {
        const { baseURL, apiKey } = await server();
        client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 65_000 });
      }
      try {
        const r = await client.chat.completions.create(
          { model, messages: [{ role: 'user', content: message }] },
          {
            headers: {
              [TUNING_HEADERS.latencyMs]: String(tuning.latencyMs),
              [TUNING_HEADERS.fail]: tuning.fail ? '1' : '0',
            },
          },
        );
        return r.choices[0]?.message.content ?? '';
      } catch (err) {
        if (err instanceof OpenAI.APIError) {
          throw new ModelCallError(err.status ?? 502, err.message);
        }
        throw err;
      }
    },
  };
}
