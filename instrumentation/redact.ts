import type { Attributes, AttributeValue } from '@opentelemetry/api';

/**
 * Redaction applied before any sink (log files, console, OTLP log records, span attributes).
 *
 * Two rules:
 * - Keys: a key whose normalised form (lower case, `_ - . space` removed) equals or ends with a
 *   configured key has its value replaced by `[REDACTED]`. So `api_key`, `apiKey`, `API-KEY` and
 *   `x-api-key` all match `api_key`; `accessToken` matches `token`; `maxTokens` does not (it ends
 *   with `tokens`), which keeps LLM token counts visible.
 * - Values: strings that contain something shaped like a credential are masked wherever they are:
 *   `sk-...` API keys, `Bearer <token>`, `Basic <base64>`, JWTs.
 *
 * Copy-on-write: the caller's object is never mutated, and when nothing matches the very same
 * reference comes back (no allocation). `redactValue` also makes the value safe to serialise:
 * cycles become `[Circular]`, BigInt a decimal string, Errors `{ name, message, stack, ...own }`,
 * and nesting deeper than `MAX_DEPTH` `[Object]`, so `JSON.stringify` of its result cannot throw
 * on those.
 */
export interface Redactor {
  redactAttributes(attrs: Attributes): Attributes;
  redactString(s: string): string;
  redactValue(v: unknown): unknown;
}

export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 10;
/** Error stacks are bounded: a deep recursion stack must not turn one log line into megabytes. */
const MAX_STACK_CHARS = 8192;
/** Bound on the key-decision cache; beyond it keys are decided without caching. */
const MAX_CACHED_KEYS = 4096;

// Schemes are matched case-sensitively as HTTP clients write them, so prose ("a basic question")
// is left alone. One cheap scan decides whether the (more expensive) replacements run at all.
const HINT = /sk-|Bearer|Basic|eyJ/;
// A secret may sit inside a percent-encoded URL or form body (`?q=key%20sk-...`,
// `Bearer%20...`), where no word boundary precedes it: `(?<=%XX)` counts as a start too.
const START = String.raw`(?:\b|(?<=%[0-9A-Fa-f]{2}))`;
const SPACE = String.raw`(?:\s+|%20|\+)`;
const SECRET_PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [
    new RegExp(String.raw`${START}Bearer${SPACE}(?:[A-Za-z0-9\-._~+/]|%[0-9A-Fa-f]{2})+=*`, 'g'),
    `Bearer ${REDACTED}`,
  ],
  // Basic credentials are base64: demand a digit or + / = so that prose ("Basic setup") survives.
  [
    new RegExp(
      String.raw`${START}Basic${SPACE}(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}`,
      'g',
    ),
    `Basic ${REDACTED}`,
  ],
  [new RegExp(String.raw`${START}sk-[A-Za-z0-9_-]{16,}`, 'g'), REDACTED],
  [
    new RegExp(String.raw`${START}eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`, 'g'),
    REDACTED,
  ],
];

export function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[_\-.\s]/g, '');
}

export interface RedactorOptions {
  /** Told each time a value had to be replaced to stay serialisable (the logger counts these). */
  readonly onUnserializable?: (
    kind: 'circular' | 'bigint' | 'max_depth' | 'throwing_getter',
  ) => void;
  /** `redactValue` cuts strings longer than this (UTF-16 units) and marks them `…[truncated]`. */
  readonly maxStringChars?: number;
  /** Told each time `maxStringChars` cut a string. */
  readonly onTruncated?: () => void;
}

export function createRedactor(keys: readonly string[], options: RedactorOptions = {}): Redactor {
  const told = options.onUnserializable;
  const tell = (kind: 'circular' | 'bigint' | 'max_depth' | 'throwing_getter'): void => {
    try {
      told?.(kind);
    } catch {
      // a throwing hook must not break redaction
    }
  };
  const maxChars = options.maxStringChars ?? Infinity;
  const onTruncated = options.onTruncated;
  const bound = (str: string): string => {
    if (str.length <= maxChars) return str;
    try {
      onTruncated?.();
    } catch {
      // a throwing hook must not break redaction
    }
    return `${str.slice(0, maxChars)}…[truncated]`;
  };
  const wanted = [...new Set(keys.map(normaliseKey).filter((k) => k.length > 0))];
  const decided = new Map<string, boolean>();

  function isSecretKey(key: string): boolean {
    const hit = decided.get(key);
    if (hit !== undefined) return hit;
    const n = normaliseKey(key);
    let secret = false;
    for (const w of wanted) {
      if (n === w || n.endsWith(w)) {
        secret = true;
        break;
      }
    }
    if (decided.size < MAX_CACHED_KEYS) decided.set(key, secret);
    return secret;
  }

  function redactString(s: string): string {
    if (!HINT.test(s)) return s;
    let out = s;
    for (const [re, replacement] of SECRET_PATTERNS) {
      re.lastIndex = 0;
      out = out.replace(re, replacement);
    }
    return out;
  }

  function walk(v: unknown, depth: number, ancestors: object[]): unknown {
    switch (typeof v) {
      case 'string':
        return redactString(v.length > maxChars ? bound(v) : v);
      case 'bigint':
        tell('bigint');
        return v.toString();
      case 'object':
        break;
      default:
        return v;
    }
    if (v === null) return v;
    const obj = v as object;
    if (ancestors.includes(obj)) {
      tell('circular');
      return '[Circular]';
    }
    if (depth >= MAX_DEPTH) {
      tell('max_depth');
      return '[Object]';
    }
    if (obj instanceof Error) return walkError(obj, depth, ancestors);
    if (ArrayBuffer.isView(obj) || obj instanceof Date || obj instanceof RegExp) return v;
    if (obj instanceof Map || obj instanceof Set) return v;
    ancestors.push(obj);
    try {
      if (Array.isArray(obj)) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < obj.length; i++) {
          const item: unknown = obj[i];
          const r = walk(item, depth + 1, ancestors);
          if (r !== item) {
            copy ??= obj.slice();
            copy[i] = r;
          }
        }
        return copy ?? obj;
      }
      let copy: Record<string, unknown> | undefined;
      const src = obj as Record<string, unknown>;
      for (const key in src) {
        if (!Object.prototype.hasOwnProperty.call(src, key)) continue;
        const item = src[key];
        const r = isSecretKey(key)
          ? item === undefined || item === null
            ? item
            : REDACTED
          : walk(item, depth + 1, ancestors);
        if (r !== item) {
          copy ??= { ...src };
          copy[key] = r;
        }
      }
      return copy ?? obj;
    } catch {
      // A throwing getter or proxy: say so rather than let it reach the app.
      tell('throwing_getter');
      return '[Unserializable]';
    } finally {
      ancestors.pop();
    }
  }

  function walkError(err: Error, depth: number, ancestors: object[]): Record<string, unknown> {
    ancestors.push(err);
    try {
      const out: Record<string, unknown> = {
        name: String(err.name),
        message: redactString(bound(String(err.message))),
      };
      if (typeof err.stack === 'string') {
        const stack =
          err.stack.length > MAX_STACK_CHARS
            ? `${err.stack.slice(0, MAX_STACK_CHARS)}…`
            : err.stack;
        out['stack'] = redactString(stack);
      }
      for (const key of Object.keys(err)) {
        const item = (err as unknown as Record<string, unknown>)[key];
        out[key] = isSecretKey(key) ? REDACTED : walk(item, depth + 1, ancestors);
      }
      const cause = (err as { cause?: unknown }).cause;
      if (cause !== undefined && !('cause' in out))
        out['cause'] = walk(cause, depth + 1, ancestors);
      return out;
    } catch {
      return { name: 'Error', message: '[Unserializable]' };
    } finally {
      ancestors.pop();
    }
  }

  function redactValue(v: unknown): unknown {
    try {
      return walk(v, 0, []);
    } catch {
      return '[Unserializable]';
    }
  }

  function redactAttributes(attrs: Attributes): Attributes {
    let copy: Attributes | undefined;
    try {
      for (const key in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
        const item = attrs[key];
        let r: AttributeValue | undefined = item;
        if (isSecretKey(key)) {
          r = item === undefined ? item : REDACTED;
        } else if (typeof item === 'string') {
          r = redactString(item);
        } else if (Array.isArray(item)) {
          let arr: unknown[] | undefined;
          for (let i = 0; i < item.length; i++) {
            const el: unknown = item[i];
            if (typeof el === 'string') {
              const red = redactString(el);
              if (red !== el) {
                arr ??= item.slice();
                arr[i] = red;
              }
            }
          }
          if (arr !== undefined) r = arr as AttributeValue;
        }
        if (r !== item) {
          copy ??= { ...attrs };
          copy[key] = r;
        }
      }
    } catch {
      return attrs;
    }
    return copy ?? attrs;
  }

  return { redactAttributes, redactString, redactValue };
}
