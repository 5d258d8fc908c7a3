import { readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { EntryProbe } from './entry-format.js';
import type {
  DeepPartial,
  EchoesConfig,
  EchoesOptions,
  EsmHookMode,
  LogLevel,
  PropagatorName,
  OtlpProtocol,
  OtlpSignalConfig,
  PathGroup,
  SignalExporter,
  WatchedDir,
} from './types.js';

/**
 * The only module that reads the environment. `loadConfig` parses code options > environment
 * (standard `OTEL_*` first, then `ECHOES_*`) > `config/config.yaml` > defaults into one frozen
 * `EchoesConfig`, once. A bad value never throws: it becomes a `ConfigProblem` naming the source,
 * the value and the fallback, and the fallback is used (register warns about each problem once,
 * `echoes-otel check-config` exits non-zero on errors).
 */

export interface ConfigProblem {
  /** Variable name, or `config/config.yaml: logging.level` for the file. */
  readonly source: string;
  readonly value: string;
  readonly fallback: string;
  readonly message: string;
  /** `error`: a value was rejected and a fallback used; `warning`: accepted with an adjustment. */
  readonly severity: 'warning' | 'error';
}

export interface LoadedConfig {
  readonly config: EchoesConfig;
  readonly problems: ConfigProblem[];
  /** `OTEL_LOG_LEVEL` for OTel's own diagnostics (`none`…`all`); undefined when unset. */
  readonly diagLogLevel: DiagLevelName | undefined;
}

export type DiagLevelName = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';

export interface ConfigSource {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Every variable this module reads, with its default and meaning: the README table is checked against it. */
export const ENV_VARIABLES = [
  {
    name: 'OTEL_SDK_DISABLED',
    default: 'false',
    description: '`true` turns echoes-otel off entirely: register does nothing.',
  },
  {
    name: 'OTEL_SERVICE_NAME',
    default: 'package.json `name` in the working directory, else `unknown_service:node`',
    description: 'The `service.name` resource attribute.',
  },
  {
    name: 'OTEL_RESOURCE_ATTRIBUTES',
    default: '(none)',
    description: 'Extra resource attributes, `key=value,key2=value2` (values percent-decoded).',
  },
  { name: 'OTEL_TRACES_EXPORTER', default: 'otlp', description: '`otlp`, `console` or `none`.' },
  {
    name: 'OTEL_METRICS_EXPORTER',
    default: 'otlp',
    description:
      '`otlp`, `console`, `none`, optionally with `prometheus` (`prometheus` alone: no OTLP, Prometheus endpoint on).',
  },
  {
    name: 'OTEL_LOGS_EXPORTER',
    default: 'otlp',
    description: '`otlp`, `console` or `none` (local log files are separate: `ECHOES_LOG_FILE`).',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    default: 'http://localhost:4318',
    description: 'Base OTLP/HTTP endpoint; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    default: 'base + `/v1/traces`',
    description: 'Traces endpoint, used as is.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    default: 'base + `/v1/metrics`',
    description: 'Metrics endpoint, used as is.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
    default: 'base + `/v1/logs`',
    description: 'Logs endpoint, used as is.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_HEADERS',
    default: '(none)',
    description: 'Headers for every OTLP request, `key=value,...` (percent-decoded).',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
    default: '(none)',
    description: 'Extra headers for traces (win over the generic ones).',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
    default: '(none)',
    description: 'Extra headers for metrics.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_LOGS_HEADERS',
    default: '(none)',
    description: 'Extra headers for logs.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    default: 'http/protobuf',
    description:
      '`http/protobuf`, `http/json` or `grpc` (then the endpoint defaults to http://localhost:4317 and is used without a `/v1/...` path).',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    default: 'generic protocol',
    description: 'Protocol for traces.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
    default: 'generic protocol',
    description: 'Protocol for metrics.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL',
    default: 'generic protocol',
    description: 'Protocol for logs.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_TIMEOUT',
    default: '10000',
    description: 'OTLP request timeout in milliseconds.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT',
    default: 'generic timeout',
    description: 'Timeout for traces (ms).',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT',
    default: 'generic timeout',
    description: 'Timeout for metrics (ms).',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT',
    default: 'generic timeout',
    description: 'Timeout for logs (ms).',
  },
  { name: 'OTEL_EXPORTER_OTLP_COMPRESSION', default: 'none', description: '`gzip` or `none`.' },
  {
    name: 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION',
    default: 'generic compression',
    description: 'Compression for traces.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_METRICS_COMPRESSION',
    default: 'generic compression',
    description: 'Compression for metrics.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION',
    default: 'generic compression',
    description: 'Compression for logs.',
  },
  {
    name: 'OTEL_TRACES_SAMPLER',
    default: 'parentbased_always_on',
    description:
      '`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`.',
  },
  {
    name: 'OTEL_TRACES_SAMPLER_ARG',
    default: '1 (for the ratio samplers)',
    description: 'Sampling ratio between 0 and 1.',
  },
  {
    name: 'OTEL_METRIC_EXPORT_INTERVAL',
    default: '60000',
    description: 'Milliseconds between OTLP metric exports.',
  },
  {
    name: 'OTEL_METRIC_EXPORT_TIMEOUT',
    default: '30000',
    description: 'Milliseconds an OTLP metric export may take (capped at the interval).',
  },
  {
    name: 'OTEL_EXPORTER_PROMETHEUS_HOST',
    default: '127.0.0.1',
    description: 'Address the embedded `/metrics` endpoint binds (set `0.0.0.0` to expose it).',
  },
  {
    name: 'OTEL_EXPORTER_PROMETHEUS_PORT',
    default: '9464',
    description: 'Port of the embedded `/metrics` endpoint (`0`: any free port).',
  },
  {
    name: 'OTEL_LOG_LEVEL',
    default: 'warn',
    description:
      "Level of OTel's own diagnostics on stderr: `none`, `error`, `warn`, `info`, `debug`, `verbose`, `all`.",
  },
  {
    name: 'NODE_ENV',
    default: 'development',
    description:
      '`production` logs at `warn` and turns console logging off; also the default `deployment.environment.name`.',
  },
  {
    name: 'ECHOES_ENABLED',
    default: 'true',
    description: '`false` turns echoes-otel off (like `OTEL_SDK_DISABLED=true`).',
  },
  {
    name: 'ECHOES_CONFIG_FILE',
    default: 'config/config.yaml',
    description:
      'YAML file whose `logging:` section is honoured (relative to the working directory).',
  },
  {
    name: 'ECHOES_LOG_LEVEL',
    default: '`warn` in production, else `info`',
    description:
      'Logger level: `error`, `warn`, `info`, `http`, `verbose`, `debug`, `silly` (Python names such as `WARNING` accepted).',
  },
  {
    name: 'ECHOES_LOG_DIR',
    default: './logs',
    description: 'Directory of the rotated JSON log files.',
  },
  {
    name: 'ECHOES_LOG_FILE_NAME',
    default: 'service name (file-safe), else `app`',
    description: 'Base name of the log files (`<name>-YYYY-MM-DD.log`).',
  },
  { name: 'ECHOES_LOG_FILE', default: 'on', description: '`off` disables the local log files.' },
  {
    name: 'ECHOES_LOG_MAX_BYTES',
    default: '10485760',
    description: 'Rotate the log file at this size (bytes; `k`, `m`, `g` suffixes accepted).',
  },
  {
    name: 'ECHOES_LOG_BACKUP_COUNT',
    default: '5',
    description: 'Rotated files kept besides the active one.',
  },
  { name: 'ECHOES_LOG_GZIP', default: 'on', description: 'Gzip rotated log files.' },
  {
    name: 'ECHOES_LOG_CONSOLE',
    default: 'on, off in production',
    description: 'Also write log lines to stdout.',
  },
  {
    name: 'ECHOES_LOG_MAX_MESSAGE_BYTES',
    default: '65536',
    description: 'Longer messages are truncated and counted in `echoes.log.dropped`.',
  },
  {
    name: 'ECHOES_PROMETHEUS',
    default: 'on',
    description: '`off` disables the embedded Prometheus `/metrics` endpoint.',
  },
  {
    name: 'ECHOES_CARDINALITY_LIMIT',
    default: '2000',
    description:
      'Most attribute sets kept per metric instrument; the rest fold into one overflow series.',
  },
  {
    name: 'ECHOES_OTLP_RETRY_BUFFER',
    default: '4096',
    description:
      'Log records, and spans, held per signal for a resend when an OTLP export fails after its retries (collector restarting); the oldest past it are dropped and counted. 0 turns this off.',
  },
  {
    name: 'ECHOES_SHUTDOWN_TIMEOUT_MS',
    default: '2000',
    description: 'Deadline for flushing traces, metrics, logs and log files at exit.',
  },
  {
    name: 'ECHOES_IN_WORKERS',
    default: 'off',
    description: 'Also start an SDK inside worker threads.',
  },
  {
    name: 'ECHOES_IN_CHILDREN',
    default: 'off',
    description:
      'Also start an SDK in child processes that inherited `--import echoes-otel/register` through NODE_OPTIONS.',
  },
  {
    name: 'ECHOES_ESM_HOOK',
    default: 'auto',
    description:
      'ESM import hook for winston and lru-cache: `auto` omits it when the entry is CommonJS, `on` always registers it (a CommonJS app that `import()`s them), `off` never.',
  },
  {
    name: 'ECHOES_PRELOAD_PARENT_PID',
    default: '(set by echoes-otel)',
    description:
      'Set by register for child processes: the pid of the instrumented parent. Not meant to be set by hand.',
  },
  {
    name: 'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
    default: '(all)',
    description:
      'The instrumentations to turn on (replaces the default list), with upstream names: `http`, `undici`, `express`, `fastify`, `koa`, `pg`, `mysql2`, `ioredis`, `redis`, `mongodb`, `openai`, `winston`, `fs`, `runtime-node`, `lru-cache`, `cache`, `dirs`.',
  },
  {
    name: 'OTEL_NODE_DISABLED_INSTRUMENTATIONS',
    default: '(none)',
    description: 'Instrumentations to turn off, e.g. `pg,fs`.',
  },
  {
    name: 'ECHOES_INSTRUMENTATIONS',
    default: '(all)',
    description: 'Alias of `OTEL_NODE_ENABLED_INSTRUMENTATIONS` (used when that is unset).',
  },
  {
    name: 'ECHOES_DISABLED_INSTRUMENTATIONS',
    default: '(none)',
    description: 'Alias of `OTEL_NODE_DISABLED_INSTRUMENTATIONS` (both lists are applied).',
  },
  {
    name: 'OTEL_PROPAGATORS',
    default: 'tracecontext,baggage',
    description:
      'Context propagators, in order: `tracecontext`, `baggage`, `b3` (single header), `b3multi`, or `none`.',
  },
  {
    name: 'ECHOES_HTTP_IGNORE_PATHS',
    default: '(none)',
    description:
      'Inbound paths that get no span (health checks), comma-separated: exact paths, or prefixes ending in `*` (e.g. `/healthz,/internal/*`). Their duration is still recorded.',
  },
  {
    name: 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT',
    default: 'false',
    description:
      '`true` records prompt and completion content on model-call spans (redacted); off by default.',
  },
  {
    name: 'ECHOES_FS_PATH_GROUPS',
    default: 'logs=<log dir>,sessions=data/memory,cache=.cache,config=config',
    description: '`name=prefix,...`: the `fs.path.group` of each path prefix (others are `other`).',
  },
  {
    name: 'ECHOES_FS_SPANS',
    default: 'off',
    description: 'Also create spans for fs calls made inside a traced request.',
  },
  {
    name: 'ECHOES_DIRS',
    default:
      'logs=<log dir>,cache/embeddings=.cache/embeddings,cache/attention=.cache/attention,sessions=data/memory',
    description:
      '`name=path,...`: directories whose size and file count are reported; `none` turns this off.',
  },
  {
    name: 'ECHOES_DIR_INTERVAL_MS',
    default: '30000',
    description: 'Milliseconds between directory scans.',
  },
  {
    name: 'ECHOES_DIR_MAX_ENTRIES',
    default: '10000',
    description: 'Most directory entries visited per scan.',
  },
  {
    name: 'ECHOES_REDACT_KEYS',
    default: '(none; added to the built-in list)',
    description: 'Extra attribute/metadata keys to redact, comma-separated.',
  },
] as const;

export type EnvName = (typeof ENV_VARIABLES)[number]['name'];

/** Upstream's names (`OTEL_NODE_ENABLED_INSTRUMENTATIONS`), then ours. */
export const INSTRUMENTATION_NAMES = [
  'http',
  'undici',
  'express',
  'fastify',
  'koa',
  'pg',
  'mysql2',
  'ioredis',
  'redis',
  'mongodb',
  'openai',
  'winston',
  'fs',
  'runtime-node',
  'lru-cache',
  'cache',
  'dirs',
] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];
/** Other spellings accepted in the lists. */
const INSTRUMENTATION_ALIASES: Readonly<Record<string, InstrumentationName>> = {
  runtime: 'runtime-node',
  fetch: 'undici',
};
const PROPAGATOR_NAMES: readonly PropagatorName[] = ['tracecontext', 'baggage', 'b3', 'b3multi'];

export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'authorization',
  'api_key',
  'apikey',
  'api-key',
  'token',
  'access_token',
  'refresh_token',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'cookie',
  'set-cookie',
  'x-api-key',
];

const MiB = 1024 * 1024;
type Signal = 'traces' | 'metrics' | 'logs';
const ESM_HOOK_MODES: readonly EsmHookMode[] = ['auto', 'on', 'off'];
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
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
const DIAG_LEVELS: readonly DiagLevelName[] = [
  'none',
  'error',
  'warn',
  'info',
  'debug',
  'verbose',
  'all',
];

/** Env var that register sets for child processes so an inherited `--import` stays quiet there. */
export const PRELOAD_PARENT_VAR: EnvName = 'ECHOES_PRELOAD_PARENT_PID';

/** The pid of an instrumented parent process, if this process inherited our preload from one. */
export function inheritedPreloadParent(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[PRELOAD_PARENT_VAR];
  if (raw === undefined || raw.trim() === '') return undefined;
  const pid = Number(raw);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid ? pid : undefined;
}

/**
 * What entry-format.ts needs to tell a CommonJS entry from an ESM one: the entry, and the flags
 * (`--eval`, `--input-type`) from the command line and from `NODE_OPTIONS`.
 */
export function entryProbe(env: NodeJS.ProcessEnv = process.env): EntryProbe {
  return { argv: process.argv, execArgv: process.execArgv, nodeOptions: env.NODE_OPTIONS };
}

/** Marks the environment children inherit, so a child started with our NODE_OPTIONS knows it is one. */
export function markPreloadParent(env: NodeJS.ProcessEnv = process.env): void {
  env[PRELOAD_PARENT_VAR] = String(process.pid);
}

// ---------------------------------------------------------------------------------------------
// Value parsers: each returns undefined (and records a problem) for a bad value.

class Reader {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly _env: NodeJS.ProcessEnv) {}

  /** Blank means unset, as in the OTel spec. */
  raw(name: EnvName): string | undefined {
    const v = this._env[name];
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  problem(
    source: string,
    value: string,
    fallback: unknown,
    why: string,
    severity: 'warning' | 'error' = 'error',
  ): void {
    const fb = typeof fallback === 'string' ? fallback : JSON.stringify(fallback);
    this.record(source, value, fb, why, `using ${fb}`, severity);
  }

  /** A bad entry of a list: it has no fallback value, only an outcome ("...; the entry is skipped"). */
  entryProblem(source: string, value: string, outcome: string, why: string): void {
    this.record(source, value, outcome, why, outcome, 'error');
  }

  private record(
    source: string,
    value: string,
    fallback: string,
    why: string,
    tail: string,
    severity: 'warning' | 'error',
  ): void {
    this.problems.push({
      source,
      value,
      fallback,
      severity,
      message: `${source}=${JSON.stringify(value)} ${why}; ${tail}`,
    });
  }

  bool(source: string, raw: unknown, fallbackForMessage: boolean): boolean | undefined {
    if (raw === undefined || raw === null) return undefined;
    if (typeof raw === 'boolean') return raw;
    const s = String(raw).trim().toLowerCase();
    if (['true', '1', 'on', 'yes'].includes(s)) return true;
    if (['false', '0', 'off', 'no'].includes(s)) return false;
    this.problem(
      source,
      String(raw),
      fallbackForMessage ? 'on' : 'off',
      'is not a boolean (true/false, on/off, 1/0)',
    );
    return undefined;
  }

  int(
    source: string,
    raw: unknown,
    fallback: number,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
    unit = '',
  ): number | undefined {
    if (raw === undefined || raw === null) return undefined;
    const s = String(raw).trim();
    const n = typeof raw === 'number' ? raw : /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
      this.problem(source, s, fallback, `is not an integer ${range}${unit ? ` (${unit})` : ''}`);
      return undefined;
    }
    return n;
  }

  bytes(source: string, raw: unknown, fallback: number, min: number): number | undefined {
    if (raw === undefined || raw === null) return undefined;
    const s = String(raw).trim();
    const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?$/i.exec(s);
    const mult: Record<string, number> = { '': 1, k: 1024, m: MiB, g: 1024 * MiB };
    const n = m ? Math.floor(Number(m[1]) * (mult[(m[2] ?? '').toLowerCase()] ?? 1)) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      this.problem(source, s, fallback, `is not a size in bytes >= ${min} (e.g. 10485760 or 10m)`);
      return undefined;
    }
    return n;
  }

  oneOf<T extends string>(
    source: string,
    raw: unknown,
    allowed: readonly T[],
    fallback: T,
  ): T | undefined {
    if (raw === undefined || raw === null) return undefined;
    const s = String(raw).trim().toLowerCase();
    if ((allowed as readonly string[]).includes(s)) return s as T;
    this.problem(source, String(raw), fallback, `is not one of ${allowed.join(', ')}`);
    return undefined;
  }

  /** `k=v,k2=v2` with percent-decoded values; bad entries are skipped with a problem. */
  pairs(
    source: string,
    raw: string | undefined,
    decode: boolean,
  ): Record<string, string> | undefined {
    if (raw === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const part of raw.split(',')) {
      const item = part.trim();
      if (item === '') continue;
      const eq = item.indexOf('=');
      const key = eq > 0 ? item.slice(0, eq).trim() : '';
      let value = eq > 0 ? item.slice(eq + 1).trim() : '';
      if (key === '') {
        this.entryProblem(source, item, 'the entry is skipped', 'is not a key=value pair');
        continue;
      }
      if (decode) {
        try {
          value = decodeURIComponent(value);
        } catch {
          this.problem(source, item, 'the raw value', 'has an invalid percent-encoding', 'warning');
        }
      }
      out[key] = value;
    }
    return out;
  }
}

function readPackageJson(cwd: string): { name?: string; version?: string } {
  try {
    const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    return {
      ...(typeof pkg.name === 'string' && pkg.name !== '' ? { name: pkg.name } : {}),
      ...(typeof pkg.version === 'string' ? { version: pkg.version } : {}),
    };
  } catch {
    return {};
  }
}

interface YamlLogging {
  level?: unknown;
  format?: unknown;
  maxBytes?: unknown;
  backupCount?: unknown;
  consoleOutput?: unknown;
}

function readYaml(r: Reader, file: string, explicit: boolean, cwd: string): YamlLogging {
  const shown = isAbsolute(file) && file.startsWith(cwd) ? relative(cwd, file) || file : file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (explicit)
      r.problem(
        'ECHOES_CONFIG_FILE',
        file,
        'no config file',
        `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    return {};
  }
  let doc: unknown;
  try {
    // Loaded only when there is a file to parse: the yaml package alone measured +8 MiB RSS at
    // startup (Node 20; +12 MiB on Node 24), paid by every app without a config.yaml otherwise.
    const { parse: parseYaml } = createRequire(import.meta.url)('yaml') as typeof Yaml;
    doc = parseYaml(text);
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0] ?? 'parse error';
    r.problem(shown, first, 'defaults for every logging setting', 'is not valid YAML');
    return {};
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    r.problem(shown, typeof doc, 'defaults for every logging setting', 'is not a YAML mapping');
    return {};
  }
  const logging = (doc as Record<string, unknown>).logging;
  if (logging === undefined || logging === null) return {};
  if (typeof logging !== 'object' || Array.isArray(logging)) {
    r.problem(
      `${shown}: logging`,
      String(logging),
      'defaults for every logging setting',
      'is not a mapping',
    );
    return {};
  }
  const l = logging as Record<string, unknown>;
  const rot = l.file_rotation;
  const rotation =
    rot !== null && typeof rot === 'object' && !Array.isArray(rot)
      ? (rot as Record<string, unknown>)
      : {};
  if (rot !== undefined && rot !== null && rotation !== rot) {
    r.problem(
      `${shown}: logging.file_rotation`,
      String(rot),
      'default rotation',
      'is not a mapping',
    );
  }
  return {
    level: l.level,
    format: l.format,
    maxBytes: rotation.max_bytes,
    backupCount: rotation.backup_count,
    consoleOutput: l.console_output,
  };
}

function parseLevel(
  r: Reader,
  source: string,
  raw: unknown,
  fallback: LogLevel,
): LogLevel | undefined {
  if (raw === undefined || raw === null) return undefined;
  const s = String(raw).trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(s)) return s as LogLevel;
  const mapped = PYTHON_LEVELS[s];
  if (mapped !== undefined) return mapped;
  r.problem(
    source,
    String(raw),
    fallback,
    `is not a log level (${LOG_LEVELS.join(', ')}, or CRITICAL/ERROR/WARNING/INFO/DEBUG)`,
  );
  return undefined;
}

function fileSafe(name: string): string | undefined {
  const s = name
    .replace(/^@/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s === '' || name.startsWith('unknown_service') ? undefined : s;
}

function validUrl(
  r: Reader,
  source: string,
  raw: string | undefined,
  fallback: string,
): string | undefined {
  if (raw === undefined) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    return raw;
  } catch {
    r.problem(source, raw, fallback, 'is not an http(s) URL');
    return undefined;
  }
}

/** The spec's path rules: the base endpoint gets `/v1/<signal>` appended; a per-signal one is used as is. */
export function signalUrl(base: string, signal: Signal): string {
  return `${base.endsWith('/') ? base : `${base}/`}v1/${signal}`;
}

function otlpFor(r: Reader, signal: Signal): OtlpSignalConfig {
  const S = signal.toUpperCase() as 'TRACES' | 'METRICS' | 'LOGS';
  const protoOf = (name: EnvName, fallback: OtlpProtocol): OtlpProtocol | undefined => {
    const raw = r.raw(name);
    if (raw === undefined) return undefined;
    const s = raw.toLowerCase();
    if (s === 'http/protobuf' || s === 'http/json' || s === 'grpc') return s;
    r.problem(name, raw, fallback, 'is not http/protobuf, http/json or grpc');
    return undefined;
  };
  const genericProto = protoOf('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf') ?? 'http/protobuf';
  const protocol = protoOf(`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`, genericProto) ?? genericProto;

  // OTLP/gRPC has no per-signal path: the endpoint is used as is, by default port 4317.
  const grpc = protocol === 'grpc';
  const defaultBase = grpc ? 'http://localhost:4317' : 'http://localhost:4318';
  const base =
    validUrl(r, 'OTEL_EXPORTER_OTLP_ENDPOINT', r.raw('OTEL_EXPORTER_OTLP_ENDPOINT'), defaultBase) ??
    defaultBase;
  const derived = grpc ? base : signalUrl(base, signal);
  const url =
    validUrl(
      r,
      `OTEL_EXPORTER_OTLP_${S}_ENDPOINT`,
      r.raw(`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`),
      derived,
    ) ?? derived;

  const headers = {
    ...(r.pairs('OTEL_EXPORTER_OTLP_HEADERS', r.raw('OTEL_EXPORTER_OTLP_HEADERS'), true) ?? {}),
    ...(r.pairs(
      `OTEL_EXPORTER_OTLP_${S}_HEADERS`,
      r.raw(`OTEL_EXPORTER_OTLP_${S}_HEADERS`),
      true,
    ) ?? {}),
  };

  const genericTimeout =
    r.int(
      'OTEL_EXPORTER_OTLP_TIMEOUT',
      r.raw('OTEL_EXPORTER_OTLP_TIMEOUT'),
      10_000,
      1,
      600_000,
      'ms',
    ) ?? 10_000;
  const timeoutMs =
    r.int(
      `OTEL_EXPORTER_OTLP_${S}_TIMEOUT`,
      r.raw(`OTEL_EXPORTER_OTLP_${S}_TIMEOUT`),
      genericTimeout,
      1,
      600_000,
      'ms',
    ) ?? genericTimeout;

  const genericCompression =
    r.oneOf(
      'OTEL_EXPORTER_OTLP_COMPRESSION',
      r.raw('OTEL_EXPORTER_OTLP_COMPRESSION'),
      ['gzip', 'none'] as const,
      'none',
    ) ?? 'none';
  const compression =
    r.oneOf(
      `OTEL_EXPORTER_OTLP_${S}_COMPRESSION`,
      r.raw(`OTEL_EXPORTER_OTLP_${S}_COMPRESSION`),
      ['gzip', 'none'] as const,
      genericCompression,
    ) ?? genericCompression;

  return { url, protocol, headers, timeoutMs, compression };
}

/** `otlp`, `console`, `none` (first recognised entry of a comma list); `prometheus` reported apart. */
function exporterFor(
  r: Reader,
  name: 'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER' | 'OTEL_LOGS_EXPORTER',
): { exporter?: SignalExporter; prometheus: boolean } {
  const raw = r.raw(name);
  if (raw === undefined) return { prometheus: false };
  const items = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const prometheus = name === 'OTEL_METRICS_EXPORTER' && items.includes('prometheus');
  const known = items.filter(
    (s): s is SignalExporter => s === 'otlp' || s === 'console' || s === 'none',
  );
  const unknown = items.filter(
    (s) => !(s === 'otlp' || s === 'console' || s === 'none' || (prometheus && s === 'prometheus')),
  );
  if (unknown.length > 0) {
    r.problem(
      name,
      raw,
      known[0] ?? (prometheus ? 'none' : 'otlp'),
      `names an unsupported exporter (${unknown.join(', ')}); supported: otlp, console, none${name === 'OTEL_METRICS_EXPORTER' ? ', prometheus' : ''}`,
    );
  }
  if (known.length > 1) {
    r.problem(
      name,
      raw,
      known[0],
      'names several exporters; echoes-otel uses one per signal',
      'warning',
    );
  }
  if (known[0] !== undefined) return { exporter: known[0], prometheus };
  if (prometheus) return { exporter: 'none', prometheus };
  return { prometheus };
}

function namedPaths(
  r: Reader,
  name: EnvName,
  cwd: string,
): { name: string; path: string }[] | undefined {
  const pairs = r.pairs(name, r.raw(name), false);
  if (pairs === undefined) return undefined;
  return Object.entries(pairs).map(([n, p]) => ({ name: n, path: resolve(cwd, p) }));
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Code options win: objects merge key by key, arrays and scalars replace, `undefined` is ignored. */
function merge<T>(base: T, over: DeepPartial<T> | undefined): T {
  if (over === undefined) return base;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] =
      isPlainObject(v) && isPlainObject(cur)
        ? merge(cur, v as DeepPartial<typeof cur>)
        : Array.isArray(v)
          ? [...v]
          : v;
  }
  return out as T;
}

export function loadConfig(options: EchoesOptions = {}, src: ConfigSource = {}): LoadedConfig {
  const env = src.env ?? process.env;
  const cwd = src.cwd ?? process.cwd();
  const r = new Reader(env);

  // --- config/config.yaml (lowest layer above defaults)
  const cfgRaw = r.raw('ECHOES_CONFIG_FILE');
  const yamlFile = resolve(cwd, cfgRaw ?? join('config', 'config.yaml'));
  const y = readYaml(r, yamlFile, cfgRaw !== undefined, cwd);
  const ySrc = (key: string): string => `${cfgRaw ?? 'config/config.yaml'}: logging.${key}`;

  // --- enabled
  const sdkDisabled = r.bool('OTEL_SDK_DISABLED', r.raw('OTEL_SDK_DISABLED'), false);
  const echoesEnabled = r.bool('ECHOES_ENABLED', r.raw('ECHOES_ENABLED'), true);
  const enabled = options.enabled ?? (sdkDisabled === true ? false : (echoesEnabled ?? true));

  // --- resource
  const resourceAttributes =
    r.pairs('OTEL_RESOURCE_ATTRIBUTES', r.raw('OTEL_RESOURCE_ATTRIBUTES'), true) ?? {};
  const pkg = readPackageJson(cwd);
  const serviceName =
    options.serviceName ??
    r.raw('OTEL_SERVICE_NAME') ??
    resourceAttributes['service.name'] ??
    pkg.name ??
    'unknown_service:node';
  const serviceVersion =
    options.serviceVersion ?? resourceAttributes['service.version'] ?? pkg.version ?? '';
  const nodeEnv = r.raw('NODE_ENV');
  const environment =
    options.environment ??
    resourceAttributes['deployment.environment.name'] ??
    resourceAttributes['deployment.environment'] ??
    nodeEnv ??
    'development';
  const production =
    options.production ?? (nodeEnv === 'production' || environment === 'production');

  // --- traces
  const samplerRaw = r.raw('OTEL_TRACES_SAMPLER');
  const sampler =
    r.oneOf('OTEL_TRACES_SAMPLER', samplerRaw, SAMPLERS, 'parentbased_always_on') ??
    'parentbased_always_on';
  const argRaw = r.raw('OTEL_TRACES_SAMPLER_ARG');
  let samplerArg: number | undefined;
  if (argRaw !== undefined) {
    const n = Number(argRaw);
    if (!Number.isFinite(n) || n < 0 || n > 1)
      r.problem('OTEL_TRACES_SAMPLER_ARG', argRaw, 1, 'is not a ratio between 0 and 1');
    else samplerArg = n;
  }
  if (samplerArg === undefined && sampler.endsWith('traceidratio')) samplerArg = 1;

  // --- metrics
  const metricsExp = exporterFor(r, 'OTEL_METRICS_EXPORTER');
  const exportIntervalMs =
    r.int(
      'OTEL_METRIC_EXPORT_INTERVAL',
      r.raw('OTEL_METRIC_EXPORT_INTERVAL'),
      60_000,
      1,
      86_400_000,
      'ms',
    ) ?? 60_000;
  let exportTimeoutMs =
    r.int(
      'OTEL_METRIC_EXPORT_TIMEOUT',
      r.raw('OTEL_METRIC_EXPORT_TIMEOUT'),
      30_000,
      1,
      86_400_000,
      'ms',
    ) ?? 30_000;
  if (exportTimeoutMs > exportIntervalMs) {
    // The periodic reader rejects a timeout longer than its interval.
    if (r.raw('OTEL_METRIC_EXPORT_TIMEOUT') !== undefined) {
      r.problem(
        'OTEL_METRIC_EXPORT_TIMEOUT',
        String(exportTimeoutMs),
        exportIntervalMs,
        'is longer than OTEL_METRIC_EXPORT_INTERVAL',
        'warning',
      );
    }
    exportTimeoutMs = exportIntervalMs;
  }
  const promSwitch = r.bool('ECHOES_PROMETHEUS', r.raw('ECHOES_PROMETHEUS'), true);
  const promEnabled =
    promSwitch ??
    (metricsExp.prometheus
      ? true
      : metricsExp.exporter === 'none' && r.raw('OTEL_METRICS_EXPORTER') !== undefined
        ? false
        : true);
  const promHost = r.raw('OTEL_EXPORTER_PROMETHEUS_HOST') ?? '127.0.0.1';
  const promPort =
    r.int(
      'OTEL_EXPORTER_PROMETHEUS_PORT',
      r.raw('OTEL_EXPORTER_PROMETHEUS_PORT'),
      9464,
      0,
      65_535,
    ) ?? 9464;
  const cardinalityLimit =
    r.int('ECHOES_CARDINALITY_LIMIT', r.raw('ECHOES_CARDINALITY_LIMIT'), 2000, 1, 1_000_000) ??
    2000;

  // --- logs
  const defaultLevel: LogLevel = production ? 'warn' : 'info';
  // The file is parsed first so a bad env value names the fallback really used (the file's value).
  const yLevel = parseLevel(r, ySrc('level'), y.level, defaultLevel) ?? defaultLevel;
  const level = parseLevel(r, 'ECHOES_LOG_LEVEL', r.raw('ECHOES_LOG_LEVEL'), yLevel) ?? yLevel;
  if (y.format !== undefined && y.format !== null && String(y.format).toLowerCase() !== 'json') {
    r.problem(
      ySrc('format'),
      String(y.format),
      'JSON lines',
      'is a text format; echoes-otel always writes JSON lines (one object per record)',
      'warning',
    );
  }
  const logDir = resolve(cwd, options.logs?.file?.dir ?? r.raw('ECHOES_LOG_DIR') ?? 'logs');
  const fileName = r.raw('ECHOES_LOG_FILE_NAME') ?? fileSafe(serviceName) ?? 'app';
  if (/[/\\]/.test(fileName))
    r.problem('ECHOES_LOG_FILE_NAME', fileName, 'app', 'contains a path separator');
  const yMaxBytes =
    r.bytes(ySrc('file_rotation.max_bytes'), y.maxBytes, 10 * MiB, 1024) ?? 10 * MiB;
  const maxBytes =
    r.bytes('ECHOES_LOG_MAX_BYTES', r.raw('ECHOES_LOG_MAX_BYTES'), yMaxBytes, 1024) ?? yMaxBytes;
  const yBackups = r.int(ySrc('file_rotation.backup_count'), y.backupCount, 5, 0, 1000) ?? 5;
  const backupCount =
    r.int('ECHOES_LOG_BACKUP_COUNT', r.raw('ECHOES_LOG_BACKUP_COUNT'), yBackups, 0, 1000) ??
    yBackups;
  const yConsole = r.bool(ySrc('console_output'), y.consoleOutput, !production) ?? !production;
  const logConsole =
    r.bool('ECHOES_LOG_CONSOLE', r.raw('ECHOES_LOG_CONSOLE'), yConsole) ?? yConsole;
  const fileEnabled = r.bool('ECHOES_LOG_FILE', r.raw('ECHOES_LOG_FILE'), true) ?? true;
  const gzip = r.bool('ECHOES_LOG_GZIP', r.raw('ECHOES_LOG_GZIP'), true) ?? true;
  const maxMessageBytes =
    r.bytes('ECHOES_LOG_MAX_MESSAGE_BYTES', r.raw('ECHOES_LOG_MAX_MESSAGE_BYTES'), 65_536, 256) ??
    65_536;

  // --- instrumentations
  const known = (
    source: EnvName,
    names: string[] | undefined,
  ): InstrumentationName[] | undefined => {
    if (names === undefined) return undefined;
    const ok: InstrumentationName[] = [];
    for (let n of names.map((s) => s.toLowerCase())) {
      // Upstream also accepts the package name's tail with its prefix.
      if (n.startsWith('@opentelemetry/instrumentation-')) n = n.slice(31);
      const name = INSTRUMENTATION_ALIASES[n] ?? n;
      if ((INSTRUMENTATION_NAMES as readonly string[]).includes(name))
        ok.push(name as InstrumentationName);
      else
        r.entryProblem(
          source,
          n,
          'the entry is ignored',
          `is not an instrumentation (${INSTRUMENTATION_NAMES.join(', ')})`,
        );
    }
    return ok;
  };
  const on = new Set<InstrumentationName>(
    known(
      'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
      list(r.raw('OTEL_NODE_ENABLED_INSTRUMENTATIONS')),
    ) ??
      known('ECHOES_INSTRUMENTATIONS', list(r.raw('ECHOES_INSTRUMENTATIONS'))) ??
      INSTRUMENTATION_NAMES,
  );
  for (const source of [
    'OTEL_NODE_DISABLED_INSTRUMENTATIONS',
    'ECHOES_DISABLED_INSTRUMENTATIONS',
  ] as const) {
    for (const n of known(source, list(r.raw(source))) ?? []) on.delete(n);
  }

  // --- propagators
  const propagators = ((): PropagatorName[] => {
    const names = list(r.raw('OTEL_PROPAGATORS'));
    if (names === undefined) return ['tracecontext', 'baggage'];
    const out: PropagatorName[] = [];
    for (const n of names.map((s) => s.toLowerCase())) {
      if (n === 'none') continue;
      if ((PROPAGATOR_NAMES as readonly string[]).includes(n)) {
        if (!out.includes(n as PropagatorName)) out.push(n as PropagatorName);
      } else {
        r.entryProblem(
          'OTEL_PROPAGATORS',
          n,
          'the entry is skipped',
          `is not a supported propagator (${PROPAGATOR_NAMES.join(', ')}, none)`,
        );
      }
    }
    return names.some((n) => n.toLowerCase() === 'none') && out.length === 0 ? [] : out;
  })();

  // --- inbound paths without spans
  const ignorePaths: string[] = [];
  for (const p of list(r.raw('ECHOES_HTTP_IGNORE_PATHS')) ?? []) {
    if (p.startsWith('/')) ignorePaths.push(p);
    else
      r.entryProblem(
        'ECHOES_HTTP_IGNORE_PATHS',
        p,
        'the entry is skipped',
        'is not a path (it must start with /)',
      );
  }

  // --- fs path groups and watched dirs
  const pathGroups: PathGroup[] = namedPaths(r, 'ECHOES_FS_PATH_GROUPS', cwd)?.map((g) => ({
    name: g.name,
    prefix: g.path,
  })) ?? [
    { name: 'logs', prefix: logDir },
    { name: 'sessions', prefix: resolve(cwd, 'data/memory') },
    { name: 'cache', prefix: resolve(cwd, '.cache') },
    { name: 'config', prefix: resolve(cwd, 'config') },
  ];
  const dirsRaw = r.raw('ECHOES_DIRS');
  const dirsOff = dirsRaw !== undefined && ['none', 'off', 'false'].includes(dirsRaw.toLowerCase());
  const watched: WatchedDir[] = dirsOff
    ? []
    : (namedPaths(r, 'ECHOES_DIRS', cwd) ?? [
        { name: 'logs', path: logDir },
        { name: 'cache/embeddings', path: resolve(cwd, '.cache/embeddings') },
        { name: 'cache/attention', path: resolve(cwd, '.cache/attention') },
        { name: 'sessions', path: resolve(cwd, 'data/memory') },
      ]);

  const redactExtra = list(r.raw('ECHOES_REDACT_KEYS'))?.map((k) => k.toLowerCase()) ?? [];

  // --- OTEL_LOG_LEVEL
  const diagLogLevel = r.oneOf('OTEL_LOG_LEVEL', r.raw('OTEL_LOG_LEVEL'), DIAG_LEVELS, 'warn');

  const tracesExp = exporterFor(r, 'OTEL_TRACES_EXPORTER');
  const logsExp = exporterFor(r, 'OTEL_LOGS_EXPORTER');

  const computed: EchoesConfig = {
    enabled,
    serviceName,
    serviceVersion,
    environment,
    production,
    resourceAttributes,
    otlpRetryBuffer:
      r.int('ECHOES_OTLP_RETRY_BUFFER', r.raw('ECHOES_OTLP_RETRY_BUFFER'), 4096, 0, 1_000_000) ??
      4096,
    shutdownTimeoutMs:
      r.int(
        'ECHOES_SHUTDOWN_TIMEOUT_MS',
        r.raw('ECHOES_SHUTDOWN_TIMEOUT_MS'),
        2000,
        0,
        600_000,
        'ms',
      ) ?? 2000,
    inWorkers: r.bool('ECHOES_IN_WORKERS', r.raw('ECHOES_IN_WORKERS'), false) ?? false,
    inChildren: r.bool('ECHOES_IN_CHILDREN', r.raw('ECHOES_IN_CHILDREN'), false) ?? false,
    esmHook: r.oneOf('ECHOES_ESM_HOOK', r.raw('ECHOES_ESM_HOOK'), ESM_HOOK_MODES, 'auto') ?? 'auto',
    propagators,
    traces: {
      exporter: tracesExp.exporter ?? 'otlp',
      otlp: otlpFor(r, 'traces'),
      sampler,
      samplerArg,
    },
    metrics: {
      exporter: metricsExp.exporter ?? 'otlp',
      otlp: otlpFor(r, 'metrics'),
      exportIntervalMs,
      exportTimeoutMs,
      cardinalityLimit,
      prometheus: { enabled: promEnabled, host: promHost, port: promPort },
    },
    logs: {
      exporter: logsExp.exporter ?? 'otlp',
      otlp: otlpFor(r, 'logs'),
      level,
      console: logConsole,
      file: {
        enabled: fileEnabled,
        dir: logDir,
        name: /[/\\]/.test(fileName) ? 'app' : fileName,
        maxBytes,
        backupCount,
        gzip,
      },
      maxMessageBytes,
    },
    instrumentations: {
      http: on.has('http'),
      undici: on.has('undici'),
      express: on.has('express'),
      fastify: on.has('fastify'),
      koa: on.has('koa'),
      pg: on.has('pg'),
      mysql2: on.has('mysql2'),
      ioredis: on.has('ioredis'),
      redis: on.has('redis'),
      mongodb: on.has('mongodb'),
      openai: on.has('openai'),
      fs: on.has('fs'),
      lruCache: on.has('lru-cache'),
      winston: on.has('winston'),
      runtime: on.has('runtime-node'),
      cache: on.has('cache'),
      dirs: on.has('dirs'),
    },
    http: { ignorePaths },
    genai: {
      captureContent:
        r.bool(
          'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT',
          r.raw('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'),
          false,
        ) ?? false,
    },
    fs: {
      pathGroups,
      spans: r.bool('ECHOES_FS_SPANS', r.raw('ECHOES_FS_SPANS'), false) ?? false,
    },
    dirs: {
      enabled: watched.length > 0,
      intervalMs:
        r.int(
          'ECHOES_DIR_INTERVAL_MS',
          r.raw('ECHOES_DIR_INTERVAL_MS'),
          30_000,
          100,
          86_400_000,
          'ms',
        ) ?? 30_000,
      watched,
      maxEntriesPerTick:
        r.int('ECHOES_DIR_MAX_ENTRIES', r.raw('ECHOES_DIR_MAX_ENTRIES'), 10_000, 1, 100_000_000) ??
        10_000,
    },
    redaction: { keys: [...new Set([...DEFAULT_REDACT_KEYS, ...redactExtra])] },
  };

  // Several signals read the same generic variable: report each problem once.
  const seen = new Set<string>();
  const problems = r.problems.filter((p) => {
    const k = `${p.source}\u0000${p.value}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });

  return {
    config: deepFreeze(merge(computed, options)),
    problems,
    diagLogLevel,
  };
}

/** One line per problem, as register prints them and `check-config` lists them. */
export function formatProblem(p: ConfigProblem): string {
  return `echoes-otel: config ${p.severity}: ${p.message}`;
}
