import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local OpenAI-compatible HTTP server for the real `openai` client (real HTTP, real client,
 * nothing mocked inside the app): `new OpenAI({ baseURL: server.baseURL, apiKey: server.apiKey })`.
 *
 *   POST /v1/chat/completions  a `chat.completion` with `usage`; with `stream: true` an SSE stream
 *                              of `chat.completion.chunk`s, then (when
 *                              `stream_options.include_usage`) a final chunk with empty `choices`
 *                              and the `usage`, then `data: [DONE]`
 *   POST /v1/embeddings        `list` of `embedding`s (floats, or base64 little-endian float32 when
 *                              `encoding_format: "base64"`, which the openai client asks for by
 *                              default) with `usage`
 *   GET  /v1/models            the model list
 *
 * Token counts are deterministic: words in the prompt (input) and in the reply (output), so tests
 * can assert exact `gen_ai.usage.*` values (`tokens(text)` computes them the same way).
 *
 * Errors as OpenAI sends them (`{ error: { message, type, param, code } }`): a request whose model
 * is `error-429`, `error-500` or `error-401` fails with that status; `failNext(status, n)` makes
 * the next n requests fail; a wrong `Authorization: Bearer` key gets 401. (The openai client
 * retries 429 and 5xx twice by default: give it `maxRetries: 0` to see one attempt.)
 */

export interface OpenAIRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- request JSON
  readonly status: number;
}

export interface OpenAIServerOptions {
  /** The key the client must send as `Authorization: Bearer <key>` (default: a random `sk-test-...`). */
  apiKey?: string;
  /** What the model answers (default `Hello from the local model.`). */
  reply?: string;
  /** Delay before answering each request, to give the call a visible latency (default 0). */
  latencyMs?: number;
  /** Dimensions of each embedding (default 8). */
  embeddingDimensions?: number;
}

export interface OpenAIServer {
  /** `http://127.0.0.1:<port>/v1`: the client's `baseURL`. */
  readonly baseURL: string;
  readonly port: number;
  readonly apiKey: string;
  readonly reply: string;
  /** Every request answered, in order. */
  readonly requests: readonly OpenAIRequest[];
  /** The next `times` requests fail with `status` (429, 500, 503, 401, ...). */
  failNext(status: number, times?: number): void;
  setLatency(ms: number): void;
  /** Resolves when `count` requests (matching `path` when given) have been answered. */
  waitForRequests(count: number, path?: string, timeoutMs?: number): Promise<OpenAIRequest[]>;
  close(): Promise<void>;
}

/** The server's token count for a text: its whitespace-separated words. */
export function tokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

const ERRORS: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: 'Invalid request.', type: 'invalid_request_error', code: null },
  401: {
    message:
      'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
    type: 'invalid_request_error',
    code: 'invalid_api_key',
  },
  404: {
    message: 'The model does not exist.',
    type: 'invalid_request_error',
    code: 'model_not_found',
  },
  429: {
    message: 'Rate limit reached for requests. Please try again in 1s.',
    type: 'requests',
    code: 'rate_limit_exceeded',
  },
  500: {
    message: 'The server had an error while processing your request. Sorry about that!',
    type: 'server_error',
    code: null,
  },
  503: {
    message: 'The engine is currently overloaded, please try again later.',
    type: 'server_error',
    code: null,
  },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- message content is free-form JSON
function contentText(content: any): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
  }
  return '';
}

/** A deterministic unit-ish vector per input text. */
function embed(text: string, dims: number): number[] {
  const h = createHash('sha256').update(text).digest();
  return Array.from({ length: dims }, (_, i) => (h[i % h.length]! - 128) / 128);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

export async function startOpenAIServer(opts: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  const apiKey = opts.apiKey ?? `sk-test-${randomBytes(12).toString('hex')}`;
  const reply = opts.reply ?? 'Hello from the local model.';
  const dims = opts.embeddingDimensions ?? 8;
  let latencyMs = opts.latencyMs ?? 0;
  const failures: number[] = [];
  const requests: OpenAIRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  function send(res: ServerResponse, status: number, body: unknown): void {
    const json = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
      'x-request-id': `req_${randomBytes(8).toString('hex')}`,
      'openai-processing-ms': String(latencyMs),
    });
    res.end(json);
  }

  function sendError(res: ServerResponse, status: number): void {
    const e = ERRORS[status] ?? { message: `Error ${status}`, type: 'server_error', code: null };
    send(res, status, { error: { message: e.message, type: e.type, param: null, code: e.code } });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- request JSON
  function chat(res: ServerResponse, body: any): number {
    const model = String(body.model ?? 'gpt-4o-mini');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- messages are free-form
    const prompt = (body.messages ?? []).map((m: any) => contentText(m?.content)).join(' ');
    const usage = {
      prompt_tokens: tokens(prompt),
      completion_tokens: tokens(reply),
      total_tokens: tokens(prompt) + tokens(reply),
    };
    const id = `chatcmpl-${randomBytes(10).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    // The response model names the dated snapshot, as OpenAI's does (request model != response model).
    const responseModel = `${model}-2024-07-18`;
    if (!body.stream) {
      send(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: responseModel,
        system_fingerprint: 'fp_local',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: reply, refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage,
      });
      return 200;
    }
    const includeUsage = body.stream_options?.include_usage === true;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': `req_${randomBytes(8).toString('hex')}`,
    });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): void => {
      const c = {
        id,
        object: 'chat.completion.chunk',
        created,
        model: responseModel,
        system_fingerprint: 'fp_local',
        choices,
        ...(includeUsage ? { usage: null } : {}),
        ...extra,
      };
      res.write(`data: ${JSON.stringify(c)}\n\n`);
    };
    chunk([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
    ]);
    const words = reply.split(/(?<=\s)/);
    for (const w of words) {
      chunk([{ index: 0, delta: { content: w }, logprobs: null, finish_reason: null }]);
    }
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    if (includeUsage) chunk([], { usage });
    res.end('data: [DONE]\n\n');
    return 200;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- request JSON
  function embeddings(res: ServerResponse, body: any): number {
    const inputs: string[] = Array.isArray(body.input)
      ? body.input.map((x: unknown) => String(x))
      : [String(body.input ?? '')];
    const base64 = body.encoding_format === 'base64';
    const n = inputs.reduce((a, t) => a + tokens(t), 0);
    send(res, 200, {
      object: 'list',
      data: inputs.map((t, index) => {
        const v = embed(t, Number(body.dimensions) || dims);
        return {
          object: 'embedding',
          index,
          embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
        };
      }),
      model: String(body.model ?? 'text-embedding-3-small'),
      usage: { prompt_tokens: n, total_tokens: n },
    });
    return 200;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const raw = await readBody(req);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- request JSON
    let body: any = {};
    let status: number;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      body = undefined;
    }
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    const forced = /^error-(\d{3})$/.exec(String(body?.model ?? ''));
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      status = 401;
      sendError(res, status);
    } else if (failures.length > 0) {
      status = failures.shift()!;
      sendError(res, status);
    } else if (forced) {
      status = Number(forced[1]);
      sendError(res, status);
    } else if (body === undefined) {
      status = 400;
      sendError(res, status);
    } else if (req.method === 'POST' && path === '/v1/chat/completions') {
      status = chat(res, body);
    } else if (req.method === 'POST' && path === '/v1/embeddings') {
      status = embeddings(res, body);
    } else if (req.method === 'GET' && path === '/v1/models') {
      status = 200;
      send(res, 200, {
        object: 'list',
        data: ['gpt-4o-mini', 'text-embedding-3-small'].map((id) => ({
          id,
          object: 'model',
          created: 0,
          owned_by: 'local',
        })),
      });
    } else {
      status = 404;
      send(res, 404, {
        error: {
          message: `Unknown request URL: ${req.method} ${path}`,
          type: 'invalid_request_error',
          param: null,
          code: 'unknown_url',
        },
      });
    }
    requests.push({ method: req.method ?? '', path, headers: req.headers, body, status });
    for (const w of [...waiters]) w();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent)
        send(res, 500, {
          error: { message: String(err), type: 'server_error', param: null, code: null },
        });
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    apiKey,
    reply,
    requests,
    failNext(status, times = 1) {
      for (let i = 0; i < times; i++) failures.push(status);
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    waitForRequests(count, path, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = requests.filter((r) => path === undefined || r.path === path);
          if (found.length >= count) {
            cleanup();
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `OpenAI server: timed out after ${timeoutMs} ms waiting for ${count} request(s)${path ? ` to ${path}` : ''} (${requests.length} received)`,
            ),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
