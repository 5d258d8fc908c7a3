import type { Layer, ValueType } from './config-parsers.js';

/**
 * The configuration schema: one row per setting. A row names its place in `EchoesConfig` (keys
 * starting with `_` are intermediate values other rows derive from), its environment variables
 * (`OTEL_*` first: the first one set wins), its key under config.yaml's `logging:`, its value
 * type (parser, bounds, unit), its default and its doc line. config-sources.ts reads every source
 * through these rows; config-docs.ts renders the README and docs/configuration.md tables from them.
 */

export type DocGroup =
  'switches' | 'resource' | 'otlp' | 'traces' | 'metrics' | 'logs' | 'fs' | 'misc';

/** The docs' sections, in order (docs/configuration.md has one table per section). */
export const DOC_GROUPS: ReadonlyArray<{ readonly id: DocGroup; readonly title: string }> = [
  { id: 'switches', title: 'Turning things on and off' },
  { id: 'resource', title: 'Service and resource' },
  { id: 'otlp', title: 'OTLP export' },
  { id: 'traces', title: 'Traces' },
  { id: 'metrics', title: 'Metrics' },
  { id: 'logs', title: 'Logs' },
  { id: 'fs', title: 'Disk I/O and directories' },
  { id: 'misc', title: 'Shutdown, redaction, diagnostics, config file' },
];

/** What a default may look at: other settings (fully merged, every source), the working directory. */
export interface Resolver {
  readonly cwd: string;
  get<T>(key: string): T;
  /** Whether a source other than the default gave this setting. */
  isSet(key: string): boolean;
  packageJson(): { readonly name?: string; readonly version?: string };
}

/** An environment variable of a row; an alias may carry its own doc line. */
export interface EnvEntry {
  readonly name: string;
  readonly doc?: string;
  readonly shownDefault?: string;
}

export interface Setting<T = unknown> {
  readonly key: string;
  readonly env?: readonly (string | EnvEntry)[];
  /** Dotted key under `logging:` in config.yaml. */
  readonly yaml?: string;
  readonly type: ValueType<T>;
  readonly default: T | ((r: Resolver) => T);
  /** How a value lands on the one below it (default: replaces it). */
  readonly combine?: (below: T, value: T, layer: Layer) => T;
  /** The default as the docs show it (else the literal default). */
  readonly shownDefault?: string;
  /** The fallback a problem names when there is no value below. */
  readonly fallbackText?: string;
  readonly doc: string;
  readonly group: DocGroup;
  /** Documented here, read by another function (not loadConfig). */
  readonly readElsewhere?: true;
  /** For the docs: the rows whose variables set this one. */
  readonly from?: readonly string[];
}

/** Checks a row against its own value type, then erases it so rows of every type share one list. */
export const row = <T>(s: Setting<T>): Setting => s as unknown as Setting;

export const OTLP_HTTP_DEFAULT = 'http://localhost:4318';
export const OTLP_GRPC_DEFAULT = 'http://localhost:4317';
export type Signal = 'traces' | 'metrics' | 'logs';

/** The spec's path rules: the base endpoint gets `/v1/<signal>` appended; a per-signal one is used as is. */
export function signalUrl(base: string, signal: Signal): string {
  return `${base.endsWith('/') ? base : `${base}/`}v1/${signal}`;
}

/** Adjustments between settings, made once after every source is merged. */
export interface Merged {
  get<T>(key: string): T;
  set(key: string, value: unknown): void;
  /** Who set the value: a variable name, `options.<key>`, a config.yaml key; undefined: default. */
  sourceOf(key: string): string | undefined;
  warn(source: string, value: string, fallback: string, why: string): void;
}

/** The default as the docs show it: the row's text, else the literal (booleans as on/off). */
export function shownDefaultOf(s: Setting, entry?: EnvEntry): string {
  const v = s.default;
  return (
    entry?.shownDefault ??
    s.shownDefault ??
    (typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v))
  );
}
