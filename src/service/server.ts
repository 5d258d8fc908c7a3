import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createEmbeddingsCache } from './embeddings.js';
import type { EmbeddingsCache } from './embeddings.js';
import { createModelClient, ModelCallError, startModelServer } from './model.js';
import type { ModelServer } from './model.js';
import { createSessionStore, isValidSessionId } from './sessions.js';
import type { SessionStore, SessionWriteMode } from './sessions.js';
import type { ServiceCache, ServiceTelemetry } from './telemetry.js';

/**
 * The reference "Echoes" API: a simulated assistant in the spirit of the audit's application, with
 * no external calls. Every request touches the signals the audit cares about: HTTP latency, the
 * bounded model-info cache, the on-disk embeddings cache, session writes, and structured logs. The
 * model is simulated behind an OpenAI-compatible server the service starts on a loopback port
 * (model.ts, in a worker thread, as a remote model would be) and called through the real
 * `openai` client, so model latency, tokens and errors are traced as a real service's are.
 */

export const MODELS = {
  'gpt-4o': { contextWindow: 128_000, baseLatencyMs: 120 },
  'gpt-4': { contextWindow: 8_192, baseLatencyMs: 250 },
  'gpt-3.5-turbo': { contextWindow: 16_385, baseLatencyMs: 60 },
} as const;
export type ModelName = keyof typeof MODELS;

export interface ModelInfo {
  readonly name: ModelName;
  readonly contextWindow: number;
  readonly baseLatencyMs: number;
  readonly loadedAt: string;
}

export interface ServiceOptions {
  /** Root for `data/memory` and `.cache/embeddings`. */
  readonly dataDir: string;
  readonly sessionMode?: SessionWriteMode;
  readonly flushEvery?: number;
  readonly flushIntervalMs?: number;
  /** Multiplies each model's base latency (0 = no simulated latency). Default 1. */
  readonly latencyScale?: number;
  /** Fraction of chat requests answered 503 (0..1). Default 0. */
  readonly failureRate?: number;
  readonly embeddingsMaxBytes?: number;
  readonly modelCacheTtlMs?: number;
  /** Source of randomness for failures, replaceable in tests. */
  readonly random?: () => number;
}

export interface EchoesService {
  readonly server: Server;
  readonly sessions: SessionStore;
  readonly embeddings: EmbeddingsCache;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stop accepting requests, then flush session writes. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return; // discard the rest; the 413 closes the connection
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // After a refused upload the rest of the body is still coming: do not reuse the connection.
    ...(status === 413 && { connection: 'close' }),
  });
  res.end(text);
}

function numberParam(
  raw: string | null,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new HttpError(
      400,
      `${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

export function createEchoesService(
  options: ServiceOptions,
  telemetry: ServiceTelemetry,
): EchoesService {
  const { logger } = telemetry;
  const random = options.random ?? Math.random;
  const latencyScale = options.latencyScale ?? 1;
  const failureRate = options.failureRate ?? 0;
  const sessions = createSessionStore({
    dir: join(options.dataDir, 'data', 'memory'),
    mode: options.sessionMode ?? 'batched',
    ...(options.flushEvery !== undefined && { flushEvery: options.flushEvery }),
    ...(options.flushIntervalMs !== undefined && { flushIntervalMs: options.flushIntervalMs }),
    onError: (err) => logger.error('session flush failed', { err: String(err) }),
  });
  const embeddings = createEmbeddingsCache({
    dir: join(options.dataDir, '.cache', 'embeddings'),
    ...(options.embeddingsMaxBytes !== undefined && { maxBytes: options.embeddingsMaxBytes }),
  });
  // The audit's `self.model_info_cache = {}` was unbounded; this one has a capacity and a TTL.
  const modelInfo: ServiceCache<ModelInfo> = telemetry.createCache<ModelInfo>({
    name: 'model-info',
    maxEntries: 8,
    ttlMs: options.modelCacheTtlMs ?? 60_000,
  });

  async function getModelInfo(name: ModelName): Promise<ModelInfo> {
    const cached = modelInfo.get(name);
    if (cached) return cached;
    // Stands in for a slow metadata lookup the real app did per request.
    await delay(Math.round(5 * latencyScale));
    const info: ModelInfo = { name, ...MODELS[name], loadedAt: new Date().toISOString() };
    modelInfo.set(name, info);
    return info;
  }

  // Started with the service (listen), stopped with it (close).
  let modelServer: Promise<ModelServer> | undefined;
  const startModel = (): Promise<ModelServer> =>
    (modelServer ??= startModelServer(Object.keys(MODELS)));
  const modelClient = createModelClient(startModel);

  async function chat(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    telemetry.setHttpRoute('/chat');
    let body: Record<string, unknown> = {};
    const raw = await readBody(req);
    if (raw.trim() !== '') {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw new HttpError(400, 'body is not valid JSON');
      }
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new HttpError(400, 'body must be a JSON object');
    }
    const model = String(url.searchParams.get('model') ?? body.model ?? 'gpt-4o');
    if (!(model in MODELS)) {
      throw new HttpError(
        400,
        `unknown model ${JSON.stringify(model)}; choose one of ${Object.keys(MODELS).join(', ')}`,
      );
    }
    const sessionId = String(body.session_id ?? url.searchParams.get('session_id') ?? 'default');
    if (!isValidSessionId(sessionId))
      throw new HttpError(400, 'session_id must match [A-Za-z0-9_-]{1,64}');
    const message = String(body.message ?? 'hello');
    const latencyMs =
      numberParam(url.searchParams.get('latency_ms'), 'latency_ms', 0, 60_000) ??
      MODELS[model as ModelName].baseLatencyMs * latencyScale;
    const failRate =
      numberParam(url.searchParams.get('failure_rate'), 'failure_rate', 0, 1) ?? failureRate;

    await getModelInfo(model as ModelName);
    const { vector, hit } = await embeddings.embed(message);
    let reply: string;
    try {
      reply = await modelClient.chat(model, message, { latencyMs, fail: random() < failRate });
    } catch (err) {
      logger.error('model call failed', {
        model,
        session_id: sessionId,
        reason: err instanceof ModelCallError ? err.message : String(err),
      });
      if (err instanceof ModelCallError && err.status === 503) {
        throw new HttpError(503, `simulated failure of ${model}`);
      }
      throw new HttpError(502, `model call failed: ${(err as Error).message}`);
    }
    const now = new Date().toISOString();
    await sessions.append(sessionId, { role: 'user', content: message, at: now });
    const session = await sessions.append(sessionId, {
      role: 'assistant',
      content: reply,
      model,
      at: now,
    });
    logger.info('chat answered', {
      model,
      session_id: sessionId,
      embedding_cache: hit ? 'hit' : 'miss',
      latency_ms: latencyMs,
      history: session.messages.length,
    });
    send(res, 200, {
      session_id: sessionId,
      model,
      reply,
      embedding_dims: vector.length,
      history: session.messages.length,
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz') {
      telemetry.setHttpRoute('/healthz');
      send(res, 200, { status: 'ok', sessions: sessions.stats(), telemetry: telemetry.sources });
      return;
    }
    if (path === '/chat') {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST /chat');
      await chat(req, res, url);
      return;
    }
    const m = /^\/sessions\/([^/]+)$/.exec(path);
    if (m) {
      telemetry.setHttpRoute('/sessions/:id');
      if (req.method !== 'GET') throw new HttpError(405, 'use GET /sessions/:id');
      const id = decodeURIComponent(m[1]!);
      if (!isValidSessionId(id)) throw new HttpError(400, 'invalid session id');
      const s = await sessions.get(id);
      if (!s) throw new HttpError(404, `no session ${id}`);
      send(res, 200, s);
      return;
    }
    if (path === '/models') {
      telemetry.setHttpRoute('/models');
      send(res, 200, { models: Object.keys(MODELS) });
      return;
    }
    throw new HttpError(404, `no route ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status >= 500 && !(err instanceof HttpError)) {
        logger.error('request failed', { method: req.method, url: req.url, err: String(err) });
      } else if (status < 500) {
        logger.warn('bad request', {
          method: req.method,
          url: req.url,
          status,
          reason: (err as Error).message,
        });
      }
      if (!res.headersSent) send(res, status, { error: (err as Error).message ?? String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  return {
    server,
    sessions,
    embeddings,
    listen(port, host) {
      return new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }).then(async (address) => {
        await startModel();
        return address;
      });
    },
    async close() {
      const model = modelServer;
      modelServer = undefined;
      await model?.then((m) => m.close()).catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await sessions.close();
    },
  };
}
