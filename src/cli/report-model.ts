import { formatMs } from './args.js';
import type { Sample } from './prom-text.js';
// A cycle with report.ts (which calls in here), for a function only used at run time.
import { bucketQuantile } from './prom-text.js';

/**
 * The report's "model calls" line (issue 11.5): per model, the calls made through the `openai`
 * client in the window, their p95 latency, the tokens in and out, and the errors, from the GenAI
 * semantic-convention histograms (gen_ai.client.operation.duration, gen_ai.client.token.usage:
 * recorded by echoes-otel's own openai instrumentation (genai-openai.ts), or by any
 * GenAI-instrumented client, under the same names and labels). Kept apart from report.ts, which
 * only calls in here: read from either source (embedded /metrics snapshots, or Prometheus).
 */

/** Series names after OTLP translation (the embedded endpoint serves the same names). */
export const MODEL_SERIES = {
  duration: 'gen_ai_client_operation_duration_seconds',
  tokens: 'gen_ai_client_token_usage',
} as const;

const MODEL = 'gen_ai_request_model';

export interface ModelCallStats {
  readonly model: string;
  readonly calls: number;
  readonly errors: number;
  /** Seconds; NaN when no call finished in the window. */
  readonly p95S: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

type Snap = { readonly samples: readonly Sample[] };

function grouped(
  samples: readonly Sample[],
  name: string,
  key: (s: Sample) => string | undefined,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = key(s);
    if (k === undefined) continue;
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}

function grew(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    // A reset mid-window (restart): count what the new process saw.
    out.set(k, d < 0 ? v : d);
  }
  return out;
}

/** Per-model statistics from the first and last of the embedded endpoint's snapshots. */
export function modelCallsFromSnapshots(snapshots: readonly Snap[]): ModelCallStats[] {
  const first = snapshots[0];
  const last = snapshots.at(-1);
  if (first === undefined || last === undefined) return [];
  const diff = (name: string, key: (s: Sample) => string | undefined) =>
    grew(grouped(first.samples, name, key), grouped(last.samples, name, key));
  const model = (s: Sample) => s.labels[MODEL];
  const calls = diff(`${MODEL_SERIES.duration}_count`, model);
  const errors = diff(`${MODEL_SERIES.duration}_count`, (s) =>
    s.labels.error_type ? s.labels[MODEL] : undefined,
  );
  const buckets = diff(`${MODEL_SERIES.duration}_bucket`, (s) =>
    s.labels[MODEL] !== undefined ? `${s.labels[MODEL]}\u0000${s.labels.le}` : undefined,
  );
  const tokens = diff(`${MODEL_SERIES.tokens}_sum`, (s) =>
    s.labels[MODEL] !== undefined
      ? `${s.labels[MODEL]}\u0000${s.labels.gen_ai_token_type}`
      : undefined,
  );
  return [...calls.keys()].sort().map((m) => {
    const own: Array<[number, number]> = [];
    for (const [k, v] of buckets) {
      const [bm, le] = k.split('\u0000');
      if (bm === m) own.push([le === '+Inf' ? Infinity : Number(le), v]);
    }
    return {
      model: m,
      calls: calls.get(m) ?? 0,
      errors: errors.get(m) ?? 0,
      p95S: bucketQuantile(0.95, own),
      inputTokens: tokens.get(`${m}\u0000input`) ?? 0,
      outputTokens: tokens.get(`${m}\u0000output`) ?? 0,
    };
  });
}

/** PromQL for the same statistics over the window, restricted to `job` when given. */
export function modelCallQueries(windowMs: number, job?: string): Record<string, string> {
  const w = formatMs(Math.max(1000, Math.round(windowMs / 1000) * 1000));
  const sel = (extra = '') => {
    const parts = [...(job ? [`job=${JSON.stringify(job)}`] : []), ...(extra ? [extra] : [])];
    return parts.length ? `{${parts.join(',')}}` : '';
  };
  const d = MODEL_SERIES.duration;
  return {
    modelCalls: `sum by (${MODEL}) (increase(${d}_count${sel()}[${w}]))`,
    modelErrors: `sum by (${MODEL}) (increase(${d}_count${sel('error_type!=""')}[${w}]))`,
    modelP95: `histogram_quantile(0.95, sum by (${MODEL}, le) (rate(${d}_bucket${sel()}[${w}])))`,
    modelTokens: `sum by (${MODEL}, gen_ai_token_type) (increase(${MODEL_SERIES.tokens}_sum${sel()}[${w}]))`,
  };
}

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

/** Per-model statistics from the answers to `modelCallQueries` (by key). */
export function modelCallsFromVectors(
  r: Readonly<Record<string, readonly Vector[]>>,
): ModelCallStats[] {
  const by = (k: string) => {
    const m = new Map<string, number>();
    for (const x of r[k] ?? []) {
      const model = x.metric[MODEL];
      if (model === undefined) continue;
      const key = k === 'modelTokens' ? `${model}\u0000${x.metric.gen_ai_token_type}` : model;
      m.set(key, (m.get(key) ?? 0) + Number(x.value[1]));
    }
    return m;
  };
  const calls = by('modelCalls');
  const errors = by('modelErrors');
  const p95 = by('modelP95');
  const tokens = by('modelTokens');
  return [...calls.keys()].sort().map((m) => ({
    model: m,
    calls: calls.get(m) ?? 0,
    errors: errors.get(m) ?? 0,
    p95S: p95.get(m) ?? NaN,
    inputTokens: tokens.get(`${m}\u0000input`) ?? 0,
    outputTokens: tokens.get(`${m}\u0000output`) ?? 0,
  }));
}

/** Runs `modelCallQueries` through `query` (report.ts' Prometheus client). */
export async function queryModelCalls(
  query: (promql: string) => Promise<Vector[]>,
  windowMs: number,
  job?: string,
): Promise<ModelCallStats[]> {
  const q = modelCallQueries(windowMs, job);
  const keys = Object.keys(q);
  const answers = await Promise.all(keys.map((k) => query(q[k]!)));
  return modelCallsFromVectors(Object.fromEntries(keys.map((k, i) => [k, answers[i]!])));
}

const int = (n: number) => String(Math.round(n));

/** `Model calls: gpt-4o 12 calls, p95 0.131 s, 24 in / 48 out tokens, 1 error; ...`. */
export function formatModelCalls(stats: readonly ModelCallStats[]): string {
  const active = stats.filter((s) => s.calls > 0);
  if (active.length === 0) return 'Model calls: none in the window';
  return `Model calls: ${active
    .map(
      (s) =>
        `${s.model} ${int(s.calls)} call${Math.round(s.calls) === 1 ? '' : 's'}, p95 ${Number.isFinite(s.p95S) ? `${s.p95S.toFixed(3)} s` : 'n/a'}, ${int(s.inputTokens)} in / ${int(s.outputTokens)} out tokens, ${int(s.errors)} error${Math.round(s.errors) === 1 ? '' : 's'}`,
    )
    .join('; ')}`;
}
