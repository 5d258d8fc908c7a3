import { joinUrl } from './args.js';
import { RequestFailed, httpCall } from './http-client.js';
import type { HttpAnswer } from './http-client.js';

/**
 * `echoes-otel doctor`: is each backend up, and is it really that backend? For every endpoint it
 * reads the same health or build-info path the real component serves, and tells apart: nothing
 * listening, a host that does not resolve, a port that never answers, a port where something that
 * is not HTTP answers, something else entirely answering (wrong server), and up-but-not-ready.
 */

export type CheckName =
  'collector' | 'otlp' | 'prometheus' | 'alertmanager' | 'loki' | 'tempo' | 'grafana' | 'metrics';

export interface CheckResult {
  readonly name: CheckName;
  readonly title: string;
  readonly url: string;
  readonly ok: boolean;
  /** up | down | dns | timeout | not-http | wrong | not-ready */
  readonly state: string;
  readonly summary: string;
  readonly fix?: string;
}

export interface Target {
  readonly name: CheckName;
  readonly url: URL;
  /** The flag that sets this URL, named in the fix hints. */
  readonly flag: string;
}

interface Spec {
  readonly title: string;
  readonly compose: string;
  /** What to fetch, and how to recognise the real component. */
  probe(base: URL, timeoutMs: number): Promise<Verdict>;
}

type Verdict =
  | { kind: 'up'; summary: string }
  | { kind: 'not-ready'; summary: string }
  | { kind: 'wrong'; summary: string };

function serverOf(a: HttpAnswer): string {
  const s = a.headers.server;
  return s ? ` (Server: ${Array.isArray(s) ? s[0] : s})` : '';
}

function snippet(body: string): string {
  const t = body.replace(/\s+/g, ' ').trim();
  return t.length > 60 ? `${t.slice(0, 60)}…` : t;
}

function json(body: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function wrong(path: string, a: HttpAnswer, expected: string): Verdict {
  return {
    kind: 'wrong',
    summary: `HTTP ${a.status} on ${path}${serverOf(a)} with ${a.body ? JSON.stringify(snippet(a.body)) : 'an empty body'}; ${expected}`,
  };
}

/** Shared shape of Loki and Tempo: a build-info JSON naming a version, and `/ready` saying "ready". */
/**
 * A backend that names its version at one path and says whether it is ready at another
 * (Prometheus, Alertmanager, Loki, Tempo): wrong without the version, else up or not ready.
 */
function versionThenReady(o: {
  who: string;
  versionPath: string;
  /** The version in the JSON answer, if it is where this backend puts it. */
  version: (body: Record<string, unknown> | undefined) => unknown;
  /** What the real backend answers at `versionPath`, for the `wrong` verdict. */
  answers: string;
  readyPath: string;
  ready: (status: number, body: string) => boolean;
}): Spec['probe'] {
  return async (base, timeoutMs) => {
    const info = await httpCall(joinUrl(base, o.versionPath), { timeoutMs });
    const version = o.version(info.status === 200 ? json(info.body) : undefined);
    if (typeof version !== 'string') return wrong(o.versionPath, info, o.answers);
    const ready = await httpCall(joinUrl(base, o.readyPath), { timeoutMs });
    if (o.ready(ready.status, ready.body))
      return { kind: 'up', summary: `${o.who} ${version}, ready` };
    return {
      kind: 'not-ready',
      summary: `${o.who} ${version} answers but ${o.readyPath} says HTTP ${ready.status} ${JSON.stringify(snippet(ready.body))}`,
    };
  };
}

/** Loki and Tempo: `{"version":...}` at their buildinfo, `ready` at /ready. */
function readyWithBuildinfo(buildinfoPath: string, who: string): Spec['probe'] {
  return versionThenReady({
    who,
    versionPath: buildinfoPath,
    version: (bi) => bi?.version,
    answers: `${who} answers there with JSON naming its version`,
    readyPath: '/ready',
    ready: (status, body) => status === 200 && body.trim() === 'ready',
  });
}

const SPECS: Record<CheckName, Spec> = {
  collector: {
    title: 'collector health_check',
    compose: 'collector',
    async probe(base, timeoutMs) {
      // The health_check extension answers {"status":"Server available",...} (503 while starting).
      const a = await httpCall(base, { timeoutMs });
      const body = json(a.body);
      const status = typeof body?.status === 'string' ? body.status : undefined;
      if (!status)
        return wrong(
          base.pathname || '/',
          a,
          'the collector health_check extension answers JSON with a "status" field',
        );
      if (a.status === 200)
        return {
          kind: 'up',
          summary: `${status}${typeof body?.uptime === 'string' ? `, up ${body.uptime}` : ''}`,
        };
      return { kind: 'not-ready', summary: `health_check says HTTP ${a.status} "${status}"` };
    },
  },
  otlp: {
    title: 'collector OTLP/HTTP receiver',
    compose: 'collector',
    async probe(base, timeoutMs) {
      // An empty OTLP/JSON export request is valid: a collector answers 200 with a JSON body.
      const a = await httpCall(joinUrl(base, '/v1/traces'), {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
        timeoutMs,
      });
      const ct = String(a.headers['content-type'] ?? '');
      if (a.status === 200 && ct.includes('application/json') && json(a.body))
        return { kind: 'up', summary: 'accepts OTLP/HTTP export requests' };
      if (a.status === 503 || a.status === 429)
        return {
          kind: 'not-ready',
          summary: `the receiver refuses data (HTTP ${a.status}): the collector is overloaded or its memory_limiter is refusing`,
        };
      return wrong('POST /v1/traces', a, 'an OTLP receiver answers 200 with JSON');
    },
  },
  prometheus: {
    title: 'Prometheus',
    compose: 'prometheus',
    probe: versionThenReady({
      who: 'Prometheus',
      versionPath: '/api/v1/status/buildinfo',
      version: (bi) =>
        bi?.status === 'success'
          ? (bi.data as Record<string, unknown> | undefined)?.version
          : undefined,
      answers: 'Prometheus answers there with {"status":"success","data":{"version":...}}',
      readyPath: '/-/ready',
      ready: (status) => status === 200,
    }),
  },
  alertmanager: {
    title: 'Alertmanager',
    compose: 'alertmanager',
    // Its API v2 status names the version (versionInfo); /-/ready is 200 "OK" once the config is loaded.
    probe: versionThenReady({
      who: 'Alertmanager',
      versionPath: '/api/v2/status',
      version: (body) => (body?.versionInfo as Record<string, unknown> | undefined)?.version,
      answers: 'Alertmanager answers there with {"versionInfo":{"version":...},...}',
      readyPath: '/-/ready',
      ready: (status) => status === 200,
    }),
  },
  loki: {
    title: 'Loki',
    compose: 'loki',
    probe: readyWithBuildinfo('/loki/api/v1/status/buildinfo', 'Loki'),
  },
  tempo: {
    title: 'Tempo',
    compose: 'tempo',
    probe: readyWithBuildinfo('/api/status/buildinfo', 'Tempo'),
  },
  grafana: {
    title: 'Grafana',
    compose: 'grafana',
    async probe(base, timeoutMs) {
      const a = await httpCall(joinUrl(base, '/api/health'), { timeoutMs });
      const h = json(a.body);
      if (!h || typeof h.database !== 'string')
        return wrong(
          '/api/health',
          a,
          'Grafana answers there with {"database":"ok","version":...}',
        );
      if (a.status === 200 && h.database === 'ok')
        return {
          kind: 'up',
          summary: `Grafana ${String(h.version ?? '')}, database ok`.replace('  ', ' '),
        };
      return {
        kind: 'not-ready',
        summary: `Grafana answers but its database is "${h.database}" (HTTP ${a.status})`,
      };
    },
  },
  metrics: {
    title: 'embedded /metrics (exporter-prometheus)',
    compose: '',
    async probe(base, timeoutMs) {
      const a = await httpCall(base, { timeoutMs });
      const ct = String(a.headers['content-type'] ?? '');
      if (a.status === 200 && (ct.startsWith('text/plain') || /^# (HELP|TYPE) /m.test(a.body))) {
        const series = a.body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
        return { kind: 'up', summary: `serving ${series} samples` };
      }
      return wrong(base.pathname || '/', a, 'the embedded endpoint answers Prometheus text');
    },
  },
};

function fixFor(t: Target, spec: Spec, state: string): string {
  const port = t.url.port || (t.url.protocol === 'https:' ? '443' : '80');
  const start =
    t.name === 'metrics'
      ? 'start the service with `npm start` (or your app with --import echoes-otel/register; OTEL_EXPORTER_PROMETHEUS_HOST and _PORT set its address)'
      : `start it with \`docker compose up -d ${spec.compose}\` in the echoes-otel repo`;
  switch (state) {
    case 'down':
      return `${start}, or pass ${t.flag} with the right address`;
    case 'dns':
      return `check the host name in ${t.flag}`;
    case 'timeout':
      return `port ${port} accepts connections but nothing answers: a hung process, a firewall dropping packets, or a non-HTTP server; see \`ss -ltnp 'sport = :${port}'\``;
    case 'not-http':
      return `port ${port} is held by something that does not speak HTTP; see \`ss -ltnp 'sport = :${port}'\` and free the port or pass ${t.flag}`;
    case 'wrong':
      return `another program answers on port ${port}; stop it (\`ss -ltnp 'sport = :${port}'\` shows which) or pass ${t.flag} with ${spec.title}'s real address`;
    case 'not-ready':
      return t.name === 'otlp'
        ? 'check the collector log and its memory_limiter settings'
        : 'wait for it to finish starting, then check its log if it stays so';
    default:
      return '';
  }
}

export async function runCheck(t: Target, timeoutMs: number): Promise<CheckResult> {
  const spec = SPECS[t.name];
  const base = { name: t.name, title: spec.title, url: t.url.href };
  try {
    const v = await spec.probe(t.url, timeoutMs);
    if (v.kind === 'up') return { ...base, ok: true, state: 'up', summary: v.summary };
    return {
      ...base,
      ok: false,
      state: v.kind,
      summary: v.kind === 'wrong' ? `something else answers: ${v.summary}` : v.summary,
      fix: fixFor(t, spec, v.kind),
    };
  } catch (err) {
    if (!(err instanceof RequestFailed)) {
      return {
        ...base,
        ok: false,
        state: 'error',
        summary: err instanceof Error ? err.message : String(err),
      };
    }
    const state = {
      refused: 'down',
      dns: 'dns',
      timeout: 'timeout',
      reset: 'not-http',
      other: 'error',
    }[err.kind];
    const summary = {
      down: `down: nothing listening on ${t.url.host} (connection refused)`,
      dns: `the host ${t.url.hostname} does not resolve (${err.code})`,
      timeout: `timed out: ${t.url.host} did not answer within ${timeoutMs} ms`,
      'not-http': `something that is not an HTTP server answers on ${t.url.host} (${err.code})`,
      error: `${err.code ?? 'error'}: ${err.message}`,
    }[state]!;
    return {
      ...base,
      ok: false,
      state,
      summary,
      ...(state !== 'error' && { fix: fixFor(t, spec, state) }),
    };
  }
}

export const CHECK_NAMES: readonly CheckName[] = [
  'collector',
  'otlp',
  'prometheus',
  'alertmanager',
  'loki',
  'tempo',
  'grafana',
  'metrics',
];

export function formatChecks(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.title.padEnd(42)} ${r.url}`);
    lines.push(`      ${r.summary}`);
    if (r.fix) lines.push(`      fix: ${r.fix}`);
  }
  const bad = results.filter((r) => !r.ok).length;
  lines.push(
    '',
    bad === 0 ? `all ${results.length} checks passed` : `${bad} of ${results.length} checks failed`,
    '',
  );
  return lines.join('\n');
}
