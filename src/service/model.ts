import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import OpenAI from 'openai';

/**
 * The service's simulated model, behind an OpenAI-compatible endpoint the service serves itself
 * (`POST /v1/chat/completions`), and the real `openai` client that calls it. So a chat request is
 * traced the way a real assistant's is: the `chat {model}` client span (gen_ai.* attributes,
 * token usage, errors) and the model's latency and tokens in gen_ai.client.* metrics, in the same
 * trace as the request, through the same client library a real service uses.
 *
 * The key is random per process and only ever sent to this loopback endpoint; the endpoint
 * checks it as OpenAI does (401 otherwise).
 */

/** What the endpoint is told per call (headers the client sends; query overrides of /chat). */
export interface ModelCallTuning {
  readonly latencyMs: number;
  readonly failureRate: number;
}

export const TUNING_HEADERS = {
  latencyMs: 'x-echoes-latency-ms',
  failureRate: 'x-echoes-failure-rate',
} as const;

/** Whitespace-separated words: the simulated tokenizer (stable, so usage is predictable). */
export function countTokens(text: string): number {
  const t = text.trim();
  return t === '' ? 0 : t.split(/\s+/).length;
}

interface ChatMessage {
  role?: unknown;
  content?: unknown;
}

function openAiError(res: ServerResponse, status: number, message: string, type: string): void {
  const text = JSON.stringify({ error: { message, type, param: null, code: null } });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export interface ModelEndpoint {
  readonly apiKey: string;
  /**
   * Answers one `POST /v1/chat/completions` (body already read). `fail` is rolled here, after the
   * latency, as a real upstream fails: 503 `{ error }` as OpenAI sends it.
   */
  handle(
    res: ServerResponse,
    headers: Record<string, string | string[] | undefined>,
    body: unknown,
    roll: () => number,
  ): Promise<void>;
}

export function createModelEndpoint(known: readonly string[]): ModelEndpoint {
  const apiKey = `echoes-local-${randomUUID()}`;
  return {
    apiKey,
    async handle(res, headers, body, roll) {
      if (headers.authorization !== `Bearer ${apiKey}`) {
        openAiError(res, 401, 'Incorrect API key provided', 'invalid_request_error');
        return;
      }
      const b = (body ?? {}) as { model?: unknown; messages?: unknown };
      const model = String(b.model ?? '');
      if (!known.includes(model)) {
        openAiError(res, 404, `The model \`${model}\` does not exist`, 'invalid_request_error');
        return;
      }
      const messages = Array.isArray(b.messages) ? (b.messages as ChatMessage[]) : [];
      const last = messages.filter((m) => m.role === 'user').at(-1);
      const prompt = typeof last?.content === 'string' ? last.content : '';
      const latencyMs = Number(headers[TUNING_HEADERS.latencyMs] ?? 0);
      const failureRate = Number(headers[TUNING_HEADERS.failureRate] ?? 0);
      await delay(Number.isFinite(latencyMs) ? Math.max(0, Math.round(latencyMs)) : 0);
      if (roll() < failureRate) {
        openAiError(res, 503, `simulated failure of ${model}`, 'server_error');
        return;
      }
      const reply = `echo from ${model}: ${prompt.slice(0, 200)}`;
      const inputTokens = messages.reduce(
        (n, m) => n + (typeof m.content === 'string' ? countTokens(m.content) : 0),
        0,
      );
      const outputTokens = countTokens(reply);
      const text = JSON.stringify({
        id: `chatcmpl-${randomUUID()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: reply, refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: inputTokens,
          completion_tokens: outputTokens,
          total_tokens: inputTokens + outputTokens,
        },
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
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

/** The `openai` client against the endpoint at `baseURL` (built on first use: the port is known then). */
export function createModelClient(baseURL: () => string, apiKey: string): ModelClient {
  let client: OpenAI | undefined;
  return {
    async chat(model, message, tuning) {
      client ??= new OpenAI({ baseURL: baseURL(), apiKey, maxRetries: 0, timeout: 65_000 });
      try {
        const r = await client.chat.completions.create(
          { model, messages: [{ role: 'user', content: message }] },
          {
            headers: {
              [TUNING_HEADERS.latencyMs]: String(tuning.latencyMs),
              [TUNING_HEADERS.failureRate]: String(tuning.failureRate),
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
