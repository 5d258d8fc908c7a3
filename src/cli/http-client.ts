import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * A tiny HTTP client for the CLI. Unlike `fetch`, it tells apart the failures `doctor` must explain:
 * nothing listening (refused), a host name that does not resolve, a port that accepts the
 * connection but never answers (timeout), and a connection dropped mid-answer.
 */

export type FailureKind = 'refused' | 'timeout' | 'dns' | 'reset' | 'other';

export class RequestFailed extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly url: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface RequestOptions {
  readonly method?: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Bodies are cut here: a wrong server may stream forever. */
  readonly maxBodyBytes?: number;
}

export function classify(err: NodeJS.ErrnoException): FailureKind {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
      return 'dns';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'other';
  }
}

export function httpCall(url: URL | string, options: RequestOptions = {}): Promise<HttpAnswer> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn();
    };
    const req = request(
      u,
      {
        method: options.method ?? 'GET',
        headers: {
          ...(options.body !== undefined && { 'content-length': Buffer.byteLength(options.body) }),
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < maxBody) chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          finish(() =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8').slice(0, maxBody),
            }),
          ),
        );
        res.on('error', (err) =>
          finish(() =>
            reject(
              new RequestFailed(
                classify(err),
                u.href,
                (err as NodeJS.ErrnoException).code,
                err.message,
              ),
            ),
          ),
        );
      },
    );
    const timer = setTimeout(() => {
      finish(() =>
        reject(
          new RequestFailed('timeout', u.href, 'ETIMEDOUT', `no answer within ${timeoutMs} ms`),
        ),
      );
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish(() => reject(new RequestFailed(classify(err), u.href, err.code, err.message)));
    });
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** One line for a failed request, naming the host and what happened. */
export function describeFailure(err: unknown, what: string): string {
  if (err instanceof RequestFailed) {
    const u = new URL(err.url);
    switch (err.kind) {
      case 'refused':
        return `${what}: nothing is listening on ${u.host} (connection refused)`;
      case 'dns':
        return `${what}: the host name ${u.hostname} does not resolve (${err.code})`;
      case 'timeout':
        return `${what}: ${u.host} did not answer in time (${err.message})`;
      case 'reset':
        return `${what}: ${u.host} closed the connection without a valid HTTP answer (${err.code})`;
      default:
        return `${what}: ${u.host}: ${err.code ?? ''} ${err.message}`.trim();
    }
  }
  return `${what}: ${err instanceof Error ? err.message : String(err)}`;
}
