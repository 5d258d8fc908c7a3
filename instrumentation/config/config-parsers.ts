import { resolve } from 'node:path';
import type { LogLevel } from '../types.js';

/**
 * The value types of the configuration schema (config-schema.ts). One parser reads a value from
 * any source: a string from the environment, a scalar from config.yaml, a typed value passed in
 * code. A bad value is reported through the context and yields undefined, so the value from the
 * layer below (or the default) stays.
 */

export type Layer = 'default' | 'yaml' | 'env' | 'code';

export interface ParseContext {
  /** Relative paths resolve against it, whatever the source. */
  readonly cwd: string;
  readonly layer: Layer;
  /** Rejects the value (an error problem); the value from below stays. Returns undefined. */
  fail(why: string): undefined;
  /** A problem with its own fallback (`...; using <fallback>`); the parser decides what it returns. */
  note(why: string, fallback: string, severity?: 'warning' | 'error'): void;
  /** A bad entry of a list: reported, skipped, the rest of the list kept. */
  skip(entry: string, why: string, outcome?: string): void;
}

export interface ValueType<T> {
  /** The accepted values, as the docs list them (bounds and unit included). */
  readonly accepts: string;
  readonly parse: (raw: unknown, cx: ParseContext) => T | undefined;
}

const MiB = 1024 * 1024;
const TRUE = new Set(['true', '1', 'on', 'yes']);
const FALSE = new Set(['false', '0', 'off', 'no']);

/** A scalar as text (env values arrive trimmed; YAML may give numbers or booleans). */
function text(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return undefined;
}

export const bool: ValueType<boolean> = {
  accepts: '`true`/`false`, `on`/`off`, `1`/`0`',
  parse(raw, cx) {
    if (typeof raw === 'boolean') return raw;
    const s = text(raw)?.toLowerCase();
    if (s !== undefined && TRUE.has(s)) return true;
    if (s !== undefined && FALSE.has(s)) return false;
    return cx.fail('is not a boolean (true/false, on/off, 1/0)');
  },
};

export function int(min: number, max = Number.MAX_SAFE_INTEGER, unit = ''): ValueType<number> {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
  return {
    accepts: `integer ${range}${unit ? ` (${unit})` : ''}`,
    parse(raw, cx) {
      const s = text(raw);
      const n = typeof raw === 'number' ? raw : s !== undefined && /^[+-]?\d+$/.test(s) ? +s : NaN;
      if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
      return cx.fail(`is not an integer ${range}${unit ? ` (${unit})` : ''}`);
    },
  };
}

export function bytes(min: number): ValueType<number> {
  const mult: Record<string, number> = { '': 1, k: 1024, m: MiB, g: 1024 * MiB };
  return {
    accepts: `bytes >= ${min}; \`k\`, \`m\`, \`g\` suffixes`,
    parse(raw, cx) {
      const s = text(raw) ?? '';
      const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?$/i.exec(s);
      const n = m ? Math.floor(Number(m[1]) * (mult[(m[2] ?? '').toLowerCase()] ?? 1)) : NaN;
      if (Number.isSafeInteger(n) && n >= min) return n;
      return cx.fail(`is not a size in bytes >= ${min} (e.g. 10485760 or 10m)`);
    },
  };
}

export const ratio: ValueType<number> = {
  accepts: 'number between 0 and 1',
  parse(raw, cx) {
    const s = text(raw);
    const n = typeof raw === 'number' ? raw : s === undefined || s === '' ? NaN : Number(s);
    if (Number.isFinite(n) && n >= 0 && n <= 1) return n;
    return cx.fail('is not a ratio between 0 and 1');
  },
};

export function oneOf<T extends string>(allowed: readonly T[], why?: string): ValueType<T> {
  return {
    accepts: allowed.map((a) => `\`${a}\``).join(', '),
    parse(raw, cx) {
      const s = text(raw)?.toLowerCase();
      if (s !== undefined && (allowed as readonly string[]).includes(s)) return s as T;
      return cx.fail(why ?? `is not one of ${allowed.join(', ')}`);
    },
  };
}

export const string: ValueType<string> = {
  accepts: 'text',
  parse(raw, cx) {
    const s = text(raw);
    return s !== undefined && s !== '' ? s : cx.fail('is not a non-empty string');
  },
};

/** A base file name: no directory part. */
export const fileName: ValueType<string> = {
  accepts: 'file name without a directory',
  parse(raw, cx) {
    const s = string.parse(raw, cx);
    if (s === undefined) return undefined;
    return /[/\\]/.test(s) ? cx.fail('contains a path separator') : s;
  },
};

/** The one place relative paths become absolute (values from every source, and the defaults). */
export function inCwd(cwd: string, p: string): string {
  return resolve(cwd, p);
}

/** A path; relative to the working directory. */
export const path: ValueType<string> = {
  accepts: 'path (relative: to the working directory)',
  parse(raw, cx) {
    const s = string.parse(raw, cx);
    return s === undefined ? undefined : inCwd(cx.cwd, s);
  },
};

export const httpUrl: ValueType<string> = {
  accepts: 'http(s) URL',
  parse(raw, cx) {
    const s = text(raw);
    try {
      const u = new URL(s ?? '');
      if (u.protocol === 'http:' || u.protocol === 'https:') return s;
    } catch {
      // reported below
    }
    return cx.fail('is not an http(s) URL');
  },
};

/** Winston's levels, most severe first (log-metrics.ts indexes its per-level counts by this order). */
export const LOG_LEVELS: readonly LogLevel[] = [
  'error',
  'warn',
  'info',
  'http',
  'verbose',
  'debug',
  'silly',
];
/** Python `logging` names (the audit's config.yaml uses them) mapped to winston levels. */
const PYTHON_LEVELS: Readonly<Record<string, LogLevel>> = {
  critical: 'error',
  fatal: 'error',
  error: 'error',
  warning: 'warn',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  notset: 'silly',
  trace: 'silly',
};

export const logLevel: ValueType<LogLevel> = {
  accepts: `${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')}; Python names (\`WARNING\`, \`CRITICAL\`)`,
  parse(raw, cx) {
    const s = text(raw)?.toLowerCase() ?? '';
    if ((LOG_LEVELS as readonly string[]).includes(s)) return s as LogLevel;
    return (
      PYTHON_LEVELS[s] ??
      cx.fail(`is not a log level (${LOG_LEVELS.join(', ')}, or CRITICAL/ERROR/WARNING/INFO/DEBUG)`)
    );
  },
};

/** `k=v,k2=v2` (values percent-decoded when `decode`), or an object of strings in code. */
export function pairs(decode: boolean): ValueType<Record<string, string>> {
  return {
    accepts: `\`key=value,...\`${decode ? ' (values percent-decoded)' : ''}`,
    parse(raw, cx) {
      const out: Record<string, string> = {};
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v === 'string') out[k] = v;
          else cx.skip(`${k}=${String(v)}`, 'is not a string value');
        }
        return out;
      }
      const s = text(raw);
      if (s === undefined) return cx.fail('is not a key=value list');
      for (const part of s.split(',')) {
        const item = part.trim();
        if (item === '') continue;
        const eq = item.indexOf('=');
        const key = eq > 0 ? item.slice(0, eq).trim() : '';
        let value = eq > 0 ? item.slice(eq + 1).trim() : '';
        if (key === '') {
          cx.skip(item, 'is not a key=value pair');
          continue;
        }
        if (decode) {
          try {
            value = decodeURIComponent(value);
          } catch {
            cx.note('has an invalid percent-encoding', 'the raw value', 'warning');
          }
        }
        out[key] = value;
      }
      return out;
    },
  };
}

/** A comma list (env, YAML) or an array (code); `entry` normalises one item or rejects it. */
export function list<T>(
  accepts: string,
  entry: (item: string, cx: ParseContext) => T | undefined,
): ValueType<T[]> {
  return {
    accepts,
    parse(raw, cx) {
      let items: string[] | undefined;
      if (Array.isArray(raw)) {
        items = [];
        for (const v of raw as unknown[]) {
          if (typeof v === 'string') items.push(v);
          else cx.skip(JSON.stringify(v) ?? String(v), 'is not a string');
        }
      } else {
        items = text(raw)?.split(',');
      }
      if (items === undefined) return cx.fail('is not a comma-separated list');
      const out: T[] = [];
      for (const item of items.map((s) => s.trim()).filter((s) => s !== '')) {
        const v = entry(item, cx);
        if (v !== undefined && !out.includes(v)) out.push(v);
      }
      return out;
    },
  };
}

/**
 * `name=path,...` (env) or `[{ name, <field> }]` (code), every path resolved against the working
 * directory; `none` (when allowed) is the empty list.
 */
export function namedPaths<F extends 'prefix' | 'path'>(
  field: F,
  allowNone: boolean,
): ValueType<Array<{ name: string } & Record<F, string>>> {
  type Entry = { name: string } & Record<F, string>;
  const named = pairs(false);
  return {
    accepts: `\`name=path,...\`${allowNone ? ' or `none`' : ''}`,
    parse(raw, cx) {
      const s = text(raw)?.toLowerCase();
      if (allowNone && s !== undefined && ['none', 'off', 'false'].includes(s)) return [];
      const out: Entry[] = [];
      const add = (name: string, p: string): void => {
        out.push({ name, [field]: inCwd(cx.cwd, p) } as Entry);
      };
      if (Array.isArray(raw)) {
        for (const e of raw as unknown[]) {
          const o = (e ?? {}) as Record<string, unknown>;
          if (typeof o.name === 'string' && o.name !== '' && typeof o[field] === 'string')
            add(o.name, o[field]);
          else cx.skip(JSON.stringify(e), `is not { name, ${field} }`);
        }
        return out;
      }
      const obj = named.parse(raw, cx);
      if (obj === undefined) return undefined;
      for (const [n, p] of Object.entries(obj)) add(n, p);
      return out;
    },
  };
}
