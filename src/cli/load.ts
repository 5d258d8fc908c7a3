import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { build as buildHistogram } from 'hdr-histogram-js';
import { CliError, formatMs, joinUrl } from './args.js';
import { describeFailure, httpCall } from './http-client.js';

/**
 * `echoes-otel load`: an open-loop load generator for the reference service. Requests are sent on
 * schedule whatever the latency (so slow answers show up as latency, not as a lower rate), up to a
 * cap on requests in flight; what the cap skips is reported, never hidden.
 *
 * Coordinated omission: each latency is measured from the moment the request was DUE, not from
 * when it went out, so a stall that delays the sends (the event loop blocked, a slow tick) counts
 * against the stalled requests instead of vanishing. Requests sent more than `LATE_MS` after they
 * were due are counted as `late`. Latencies go into an HDR histogram (hdr-histogram-js, 3
 * significant digits, microseconds up to one hour): constant memory whatever the rate.
 */

export interface LoadOptions {
  readonly url: URL;
  readonly rate: number;
  readonly durationMs: number;
  readonly sessions: number;
  readonly concurrency: number;
  /** Forwarded to the service as query parameters when set. */
  readonly latencyMs?: number;
  readonly failureRate?: number;
  readonly timeoutMs?: number;
  readonly onProgress?: (p: LoadProgress) => void;
}

export interface LoadProgress {
  readonly elapsedMs: number;
  readonly durationMs: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly inFlight: number;
}

export interface LoadSummary {
  readonly url: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly sent: number;
  readonly completed: number;
  readonly ok: number;
  readonly errors: number;
  readonly errorsByKind: Readonly<Record<string, number>>;
  /** Scheduled requests not sent because `concurrency` requests were already in flight. */
  readonly skipped: number;
  /** Requests sent more than `LATE_MS` after they were due (their latency counts from then). */
  readonly late: number;
  readonly achievedRate: number;
  /** From each request's due time (coordinated omission corrected); null when none completed. */
  readonly latencyMs: LatencySummary | null;
}

const MODELS = ['gpt-4o', 'gpt-4o', 'gpt-4', 'gpt-3.5-turbo', 'gpt-3.5-turbo'];
// A small phrase pool, so the embeddings cache sees repeats the way real traffic does.
const PHRASES = Array.from(
  { length: 40 },
  (_, i) =>
    `question ${i}: what does the audit say about ${['logs', 'caches', 'disk', 'memory'][i % 4]}?`,
);

/** A request going out later than this after it was due is counted as late. */
export const LATE_MS = 100;

export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Latencies in an HDR histogram (ms in, µs inside, 3 significant digits). */
export function createLatencyRecorder(): {
  record(ms: number): void;
  readonly count: number;
  summary(): LatencySummary | null;
} {
  const h = buildHistogram({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  const round = (us: number): number => Math.round(us / 10) / 100;
  return {
    record(ms: number): void {
      h.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(ms * 1000))));
    },
    get count(): number {
      return h.totalCount;
    },
    summary(): LatencySummary | null {
      if (h.totalCount === 0) return null;
      return {
        p50: round(h.getValueAtPercentile(50)),
        p95: round(h.getValueAtPercentile(95)),
        p99: round(h.getValueAtPercentile(99)),
        max: round(h.maxValue),
        mean: round(h.mean),
      };
    },
  };
}

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)]!;
}

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  // Fail fast with a clear message when the service is not there, before the clock starts.
  try {
    const a = await httpCall(joinUrl(opts.url, '/healthz'), { timeoutMs: 3000 });
    if (a.status !== 200)
      throw new CliError(
        `${opts.url.href} answered HTTP ${a.status} on /healthz: is it the Echoes service?`,
      );
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `${describeFailure(err, `cannot reach the service at ${opts.url.href}`)}. Start it with \`npm start\` or pass --url.`,
    );
  }

  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const latencies = createLatencyRecorder();
  const errorsByKind: Record<string, number> = {};
  const chatted: string[] = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let skipped = 0;
  let late = 0;
  let inFlight = 0;
  const timeoutMs = opts.timeoutMs ?? 30_000;

  const query = new URLSearchParams();
  if (opts.latencyMs !== undefined) query.set('latency_ms', String(opts.latencyMs));
  if (opts.failureRate !== undefined) query.set('failure_rate', String(opts.failureRate));
  const chatSearch = query.toString();

  /** Sends one request that was due at `dueAt` (performance.now() time). */
  function fire(dueAt: number): Promise<void> {
    const read = chatted.length > 0 && Math.random() < 0.1;
    let chatSession: string | undefined;
    let body: string | undefined;
    if (!read) {
      chatSession = `load-${Math.floor(Math.random() * opts.sessions)}`;
      body = JSON.stringify({
        session_id: chatSession,
        model: pick(MODELS),
        message: pick(PHRASES),
      });
    }
    const u = joinUrl(opts.url, read ? `/sessions/${pick(chatted)}` : '/chat');
    u.search = read ? '' : chatSearch;
    if (performance.now() - dueAt > LATE_MS) late++;
    inFlight++;
    sent++;
    return new Promise<void>((resolve) => {
      const done = (kind: string | undefined) => {
        inFlight--;
        latencies.record(performance.now() - dueAt);
        if (kind === undefined) {
          ok++;
          // Reads only target sessions the service has acknowledged, so they never 404 by design.
          if (
            chatSession !== undefined &&
            chatted.length < opts.sessions &&
            !chatted.includes(chatSession)
          )
            chatted.push(chatSession);
        } else {
          errors++;
          errorsByKind[kind] = (errorsByKind[kind] ?? 0) + 1;
        }
        resolve();
      };
      const req = request(
        u,
        {
          method: body === undefined ? 'GET' : 'POST',
          agent,
          timeout: timeoutMs,
          headers:
            body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            done(res.statusCode && res.statusCode < 400 ? undefined : `HTTP ${res.statusCode}`),
          );
          res.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'response error'));
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      );
      req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  const progress = (elapsedMs: number): LoadProgress => ({
    elapsedMs,
    durationMs: opts.durationMs,
    sent,
    ok,
    errors,
    inFlight,
  });

  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const intervalMs = 1000 / opts.rate;
  let scheduled = 0;
  let lastProgress = 0;
  await new Promise<void>((resolve) => {
    // A coarse tick that sends every request that has come due: timers cannot fire at 10 kHz.
    const tick = () => {
      const elapsed = performance.now() - start;
      const due = Math.min(
        Math.floor(elapsed / intervalMs) + 1,
        Math.floor(opts.durationMs / intervalMs),
      );
      while (scheduled < due) {
        scheduled++;
        if (inFlight >= opts.concurrency) {
          skipped++;
          continue;
        }
        const p = fire(start + (scheduled - 1) * intervalMs);
        pending.add(p);
        void p.then(() => pending.delete(p));
      }
      if (opts.onProgress && elapsed - lastProgress >= 200) {
        lastProgress = elapsed;
        opts.onProgress(progress(Math.min(elapsed, opts.durationMs)));
      }
      if (elapsed >= opts.durationMs) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, Math.max(1, Math.min(10, intervalMs)));
    tick();
  });
  await Promise.all(pending);
  agent.destroy();
  const wall = performance.now() - start;
  opts.onProgress?.(progress(opts.durationMs));

  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    url: opts.url.href,
    rate: opts.rate,
    durationMs: opts.durationMs,
    sent,
    completed: ok + errors,
    ok,
    errors,
    errorsByKind,
    skipped,
    late,
    achievedRate: round(sent / (wall / 1000)),
    latencyMs: latencies.summary(),
  };
}

export function progressBar(p: LoadProgress, width = 30): string {
  const frac = Math.min(1, p.elapsedMs / p.durationMs);
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}% ${(p.elapsedMs / 1000).toFixed(1)}s/${formatMs(p.durationMs)} sent ${p.sent} ok ${p.ok} errors ${p.errors} in flight ${p.inFlight}`;
}

export function formatSummary(s: LoadSummary): string {
  const lines = [
    `load: ${s.sent} requests to ${s.url} in ${formatMs(s.durationMs)} (asked ${s.rate}/s, achieved ${s.achievedRate}/s)`,
    `  ok ${s.ok}, errors ${s.errors}${
      s.errors > 0
        ? ` (${Object.entries(s.errorsByKind)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')})`
        : ''
    }${s.skipped > 0 ? `, skipped ${s.skipped} (more than the --concurrency limit in flight)` : ''}${
      s.late > 0 ? `, ${s.late} sent over ${LATE_MS} ms late (latency counts from when due)` : ''
    }`,
  ];
  if (s.latencyMs) {
    const l = s.latencyMs;
    lines.push(
      `  latency ms (from when due): p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max}  mean ${l.mean}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
