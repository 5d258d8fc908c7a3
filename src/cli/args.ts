import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

/** A mistake in what the user typed: printed as one line plus the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Something the CLI could not do (unreachable host, no data): printed as is, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `parseArgs` with its errors turned into one readable line, never a stack trace. Every command
 * takes `-h`/`--help`. A string option's value may start with `-` when it looks like a number
 * (`--rate -1`), so the range check below it answers instead of parseArgs' "ambiguous" error.
 * Messages do not name the command: `runCli` prefixes `echoes-otel <command>: `.
 */
export function parseCommand(
  argv: string[],
  options: Options,
): Record<string, string | boolean | undefined> {
  const all: Options = { help: { type: 'boolean', short: 'h' }, ...options };
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (
      name !== undefined &&
      all[name]?.type === 'string' &&
      next !== undefined &&
      /^-\.?\d/.test(next)
    ) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      options: all,
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    }
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const e = err as Error & { code?: string };
    // Node's messages are clear but long ("Unknown option '--x'. To specify a positional ...").
    const first = e.message.split('. ')[0] ?? e.message;
    throw new UsageError(first);
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `2m`, `1h`, or a plain number of seconds. */
export function parseDuration(
  raw: string | undefined,
  flag: string,
  opts: { minMs?: number; maxMs?: number } = {},
): number {
  if (raw === undefined) throw new UsageError(`${flag} needs a value such as 30s, 2m or 500ms`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw);
  if (!m)
    throw new UsageError(
      `${flag} ${JSON.stringify(raw)} is not a duration; use a number with ms, s, m, h or d (e.g. 30s)`,
    );
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  const min = opts.minMs ?? 1;
  const max = opts.maxMs ?? 7 * 86_400_000;
  if (!(ms >= min) || ms > max) {
    throw new UsageError(
      `${flag} ${JSON.stringify(raw)} is out of range (${formatMs(min)} to ${formatMs(max)})`,
    );
  }
  return ms;
}

export function formatMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A positive number within bounds (rates, counts). */
export function parsePositive(
  raw: string | undefined,
  flag: string,
  max: number,
  integer = false,
): number {
  if (raw === undefined) throw new UsageError(`${flag} needs a value`);
  const n = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isFinite(n) ||
    n <= 0 ||
    n > max ||
    (integer && !Number.isInteger(n))
  ) {
    throw new UsageError(
      `${flag} ${JSON.stringify(raw)} must be a ${integer ? 'whole ' : ''}number above 0 and at most ${max}`,
    );
  }
  return n;
}

/** An optional number from 0 to `max` (undefined when the flag was not given). */
export function parseFromZero(
  raw: string | undefined,
  flag: string,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !(n >= 0 && n <= max)) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} must be a number from 0 to ${max}`);
  }
  return n;
}

/** An http(s) URL; a trailing slash is removed so paths can be appended. */
export function parseHttpUrl(raw: string | undefined, flag: string): URL {
  if (raw === undefined || raw.trim() === '')
    throw new UsageError(`${flag} needs a URL such as http://127.0.0.1:9090`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `${flag} ${JSON.stringify(raw)} is not a URL; expected something like http://127.0.0.1:9090`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} must start with http:// or https://`);
  }
  if (url.hostname === '') throw new UsageError(`${flag} ${JSON.stringify(raw)} has no host`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

/** Join a base URL (that may carry a path prefix) and an absolute path. */
export function joinUrl(base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
  return u;
}
