import {
  DEFAULT_REDACT_KEYS,
  formatProblem,
  loadConfig,
} from '../../instrumentation/config/config.js';
import type { LoadedConfig } from '../../instrumentation/config/config.js';
import { normaliseKey } from '../../instrumentation/redact.js';

/**
 * `echoes-otel check-config`: the effective configuration exactly as the preload would compute it
 * in this directory and environment, secrets masked, and every problem with its fallback. Exits
 * non-zero when a value was rejected, the same problems register warns about at startup.
 */

/**
 * Whether a key names a secret, by the rule redaction applies (redact.ts): its normalised form
 * equals or ends with one of the keys (the one list, DEFAULT_REDACT_KEYS, plus the configured ones).
 */
export function isSecretKey(key: string, keys: readonly string[] = DEFAULT_REDACT_KEYS): boolean {
  const k = normaliseKey(key);
  return k !== '' && keys.some((s) => k.endsWith(normaliseKey(s)));
}

export function maskSecrets(
  value: unknown,
  key = '',
  underHeaders = false,
  keys: readonly string[] = DEFAULT_REDACT_KEYS,
): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, key, false, keys));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      // Header values are credentials more often than not (api keys, bearer tokens): mask them all.
      out[k] = underHeaders ? mask(v) : maskSecrets(v, k, k === 'headers', keys);
    }
    return out;
  }
  if (typeof value === 'string') {
    if (isSecretKey(key, keys)) return mask(value);
    return maskUrl(value);
  }
  return value;
}

function mask(v: unknown): string {
  const s = String(v);
  return s.length === 0 ? '' : '****';
}

/** `https://user:pass@host` → `https://user:****@host`. */
function maskUrl(s: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(s)) return s;
  try {
    const u = new URL(s);
    if (u.password) u.password = '****';
    return u.href;
  } catch {
    return s;
  }
}

type Problem = LoadedConfig['problems'][number];

/** A problem quotes the rejected value; for header or secret variables that value is masked. */
export function maskProblem(p: Problem): Problem {
  // The source's last part: `OTEL_EXPORTER_OTLP_HEADERS`, `options.logs.otlp.headers`, a YAML key.
  const last = p.source.split(/[.: ]/).pop() ?? p.source;
  if (!(isSecretKey(last) || /HEADERS/i.test(p.source)) || p.value === '') return p;
  return { ...p, value: '****', message: p.message.split(p.value).join('****') };
}

export function flatten(
  value: unknown,
  prefix = '',
  out: Array<[string, string]> = [],
): Array<[string, string]> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.push([prefix, '{}']);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value)) {
    out.push([
      prefix,
      value.length === 0
        ? '[]'
        : value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', '),
    ]);
  } else {
    out.push([prefix, value === undefined ? '(unset)' : String(value)]);
  }
  return out;
}

export interface CheckConfigResult {
  readonly output: string;
  readonly exitCode: number;
}

export function checkConfig(
  format: 'text' | 'json',
  env: NodeJS.ProcessEnv,
  cwd: string,
  load: typeof loadConfig = loadConfig,
): CheckConfigResult {
  const loaded: LoadedConfig = load({}, { env, cwd });
  const errors = loaded.problems.filter((p) => p.severity === 'error');
  const masked = maskSecrets(loaded.config, '', false, loaded.config.redaction.keys);
  if (format === 'json') {
    const body = {
      config: masked,
      problems: loaded.problems.map(maskProblem),
      ok: errors.length === 0,
    };
    return { output: `${JSON.stringify(body, null, 2)}\n`, exitCode: errors.length > 0 ? 1 : 0 };
  }
  const rows = flatten(masked);
  const width = Math.min(48, Math.max(...rows.map(([k]) => k.length)));
  const lines = [`effective echoes-otel configuration (working directory ${cwd})`, ''];
  for (const [k, v] of rows) lines.push(`${k.padEnd(width)}  ${v}`);
  lines.push('');
  if (loaded.problems.length === 0) {
    lines.push('no problems found');
  } else {
    for (const p of loaded.problems) lines.push(formatProblem(maskProblem(p)));
    lines.push(
      '',
      `${errors.length} error(s), ${loaded.problems.length - errors.length} warning(s)`,
    );
  }
  lines.push('');
  return { output: lines.join('\n'), exitCode: errors.length > 0 ? 1 : 0 };
}
