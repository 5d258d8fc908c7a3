import { resolve } from 'node:path';
import {
  DEFAULT_REDACT_KEYS,
  DIAG_LEVELS,
  INSTRUMENTATION_ALIASES,
  INSTRUMENTATION_KEYS,
  INSTRUMENTATION_NAMES,
  PROPAGATOR_NAMES,
  SAMPLERS,
  SIGNAL_EXPORTERS,
  type InstrumentationName,
} from './config-names.js';
import {
  bool,
  bytes,
  fileName,
  httpUrl,
  int,
  list,
  logLevel,
  namedPaths,
  oneOf,
  pairs,
  path,
  ratio,
  string,
  type Layer,
  type ValueType,
} from './config-parsers.js';
import type { EsmHookMode, OtlpProtocol, PropagatorName, SignalExporter } from './types.js';

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

const row = <T>(s: Setting<T>): Setting => s as unknown as Setting;

export const OTLP_HTTP_DEFAULT = 'http://localhost:4318';
export const OTLP_GRPC_DEFAULT = 'http://localhost:4317';
const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
export type Signal = 'traces' | 'metrics' | 'logs';

/** The spec's path rules: the base endpoint gets `/v1/<signal>` appended; a per-signal one is used as is. */
export function signalUrl(base: string, signal: Signal): string {
  return `${base.endsWith('/') ? base : `${base}/`}v1/${signal}`;
}

function fileSafe(name: string): string | undefined {
  const s = name
    .replace(/^@/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s === '' || name.startsWith('unknown_service') ? undefined : s;
}

interface Exporters {
  readonly exporter?: SignalExporter;
  readonly prometheus: boolean;
}

/** `otlp`, `console`, `none` (first recognised entry of a comma list); `prometheus` kept apart. */
function exporters(signal: Signal): ValueType<Exporters> {
  const withProm = signal === 'metrics';
  const supported = `otlp, console, none${withProm ? ', prometheus' : ''}`;
  return {
    accepts: supported.replace(/(\w+)/g, '`$1`'),
    parse(raw, cx) {
      const items = String(raw)
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== '');
      const prometheus = withProm && items.includes('prometheus');
      const isExp = (s: string): s is SignalExporter =>
        (SIGNAL_EXPORTERS as readonly string[]).includes(s);
      const known = items.filter(isExp);
      const unknown = items.filter((s) => !isExp(s) && !(prometheus && s === 'prometheus'));
      const first = known[0] ?? (prometheus ? 'none' : undefined);
      if (unknown.length > 0)
        cx.note(
          `names an unsupported exporter (${unknown.join(', ')}); supported: ${supported}`,
          first ?? 'otlp',
        );
      if (known.length > 1)
        cx.note('names several exporters; echoes-otel uses one per signal', known[0]!, 'warning');
      return { ...(first !== undefined ? { exporter: first } : {}), prometheus };
    },
  };
}

function exporterRows(signal: Signal, doc: string): Setting[] {
  const internal = `_exporters.${signal}`;
  return [
    row<Exporters>({
      key: internal,
      env: [`OTEL_${signal.toUpperCase()}_EXPORTER`],
      type: exporters(signal),
      default: { prometheus: false },
      shownDefault: 'otlp',
      doc,
      group: 'switches',
    }),
    row<SignalExporter>({
      key: `${signal}.exporter`,
      type: oneOf(SIGNAL_EXPORTERS),
      default: (r) => r.get<Exporters>(internal).exporter ?? 'otlp',
      doc: `Exporter for ${signal}.`,
      group: 'switches',
      from: [internal],
    }),
  ];
}

const instrumentation = (item: string, cx: Parameters<ValueType<unknown>['parse']>[1]) => {
  let n = item.toLowerCase();
  // Upstream also accepts the package name's tail with its prefix.
  if (n.startsWith('@opentelemetry/instrumentation-')) n = n.slice(31);
  const name = INSTRUMENTATION_ALIASES[n] ?? n;
  if ((INSTRUMENTATION_NAMES as readonly string[]).includes(name))
    return name as InstrumentationName;
  cx.skip(
    n,
    `is not an instrumentation (${INSTRUMENTATION_NAMES.join(', ')})`,
    'the entry is ignored',
  );
  return undefined;
};
const instrumentationList = list(
  `comma list of ${INSTRUMENTATION_NAMES.map((n) => `\`${n}\``).join(', ')}`,
  instrumentation,
);

/** One OTLP signal: each setting defaults to the generic one, read once (no re-reading per signal). */
function otlpRows(signal: Signal): Setting[] {
  const S = signal.toUpperCase();
  const k = `${signal}.otlp`;
  return [
    row<OtlpProtocol>({
      key: `${k}.protocol`,
      env: [`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`],
      type: oneOf(PROTOCOLS, 'is not http/protobuf, http/json or grpc'),
      default: (r) => r.get('_otlp.protocol'),
      shownDefault: 'generic protocol',
      doc: `Protocol for ${signal}.`,
      group: 'otlp',
    }),
    row<string>({
      key: `${k}.url`,
      env: [`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`],
      type: httpUrl,
      default: (r) => {
        // OTLP/gRPC has no per-signal path: the endpoint is used as is, by default port 4317.
        const grpc = r.get(`${k}.protocol`) === 'grpc';
        const base = r.isSet('_otlp.endpoint')
          ? r.get<string>('_otlp.endpoint')
          : grpc
            ? OTLP_GRPC_DEFAULT
            : OTLP_HTTP_DEFAULT;
        return grpc ? base : signalUrl(base, signal);
      },
      shownDefault: `base + \`/v1/${signal}\``,
      doc: `${signal[0]!.toUpperCase()}${signal.slice(1)} endpoint, used as is.`,
      group: 'otlp',
    }),
    row<Record<string, string>>({
      key: `${k}.headers`,
      env: [`OTEL_EXPORTER_OTLP_${S}_HEADERS`],
      type: pairs(true),
      default: (r) => r.get('_otlp.headers'),
      combine: (below, v) => ({ ...below, ...v }),
      shownDefault: '(none)',
      doc: `Extra headers for ${signal} (win over the generic ones).`,
      group: 'otlp',
    }),
    row<number>({
      key: `${k}.timeoutMs`,
      env: [`OTEL_EXPORTER_OTLP_${S}_TIMEOUT`],
      type: int(1, 600_000, 'ms'),
      default: (r) => r.get('_otlp.timeoutMs'),
      shownDefault: 'generic timeout',
      doc: `Timeout for ${signal} (ms).`,
      group: 'otlp',
    }),
    row<'gzip' | 'none'>({
      key: `${k}.compression`,
      env: [`OTEL_EXPORTER_OTLP_${S}_COMPRESSION`],
      type: oneOf(['gzip', 'none'] as const),
      default: (r) => r.get('_otlp.compression'),
      shownDefault: 'generic compression',
      doc: `Compression for ${signal}.`,
      group: 'otlp',
    }),
  ];
}

export const SETTINGS: readonly Setting[] = [
  // --- on and off
  row<boolean>({
    key: '_sdkDisabled',
    env: ['OTEL_SDK_DISABLED'],
    type: bool,
    default: false,
    shownDefault: 'false',
    doc: '`true` turns echoes-otel off entirely: register does nothing.',
    group: 'switches',
  }),
  row<boolean>({
    key: 'enabled',
    env: ['ECHOES_ENABLED'],
    type: bool,
    default: (r) => !r.get<boolean>('_sdkDisabled'),
    // Either variable turns it off; code decides alone.
    combine: (below, v, layer) => (layer === 'env' ? below && v : v),
    shownDefault: 'true',
    doc: '`false` turns echoes-otel off (like `OTEL_SDK_DISABLED=true`).',
    group: 'switches',
  }),
  ...exporterRows('traces', '`otlp`, `console` or `none`.'),
  ...exporterRows(
    'metrics',
    '`otlp`, `console`, `none`, optionally with `prometheus` (`prometheus` alone: no OTLP, Prometheus endpoint on).',
  ),
  ...exporterRows(
    'logs',
    '`otlp`, `console` or `none` (local log files are separate: `ECHOES_LOG_FILE`).',
  ),
  row<boolean>({
    key: 'metrics.prometheus.enabled',
    env: ['ECHOES_PROMETHEUS'],
    type: bool,
    default: (r) => {
      const m = r.get<Exporters>('_exporters.metrics');
      return m.prometheus || m.exporter !== 'none';
    },
    shownDefault: 'on',
    doc: '`off` disables the embedded Prometheus `/metrics` endpoint.',
    group: 'switches',
  }),
  row<boolean>({
    key: 'inWorkers',
    env: ['ECHOES_IN_WORKERS'],
    type: bool,
    default: false,
    doc: 'Also start an SDK inside worker threads.',
    group: 'switches',
  }),
  row<boolean>({
    key: 'inChildren',
    env: ['ECHOES_IN_CHILDREN'],
    type: bool,
    default: false,
    doc: 'Also start an SDK in child processes that inherited `--import echoes-otel/register` through NODE_OPTIONS.',
    group: 'switches',
  }),
  row<EsmHookMode>({
    key: 'esmHook',
    env: ['ECHOES_ESM_HOOK'],
    type: oneOf(['auto', 'on', 'off'] as const),
    default: 'auto',
    doc: 'ESM import hook for winston and lru-cache: `auto` omits it when the entry is CommonJS, `on` always registers it (a CommonJS app that `import()`s them), `off` never.',
    group: 'switches',
  }),
  row<number | undefined>({
    key: '_preloadParent',
    env: ['ECHOES_PRELOAD_PARENT_PID'],
    type: int(1),
    default: undefined,
    shownDefault: '(set by echoes-otel)',
    doc: 'Set by register for child processes: the pid of the instrumented parent. Not meant to be set by hand.',
    group: 'switches',
    readElsewhere: true,
  }),
  row<InstrumentationName[]>({
    key: '_instrumentations.enabled',
    env: [
      'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
      {
        name: 'ECHOES_INSTRUMENTATIONS',
        doc: 'Alias of `OTEL_NODE_ENABLED_INSTRUMENTATIONS` (used when that is unset).',
      },
    ],
    type: instrumentationList,
    default: [...INSTRUMENTATION_NAMES],
    shownDefault: '(all)',
    doc: `The instrumentations to turn on (replaces the default list), with upstream names: ${INSTRUMENTATION_NAMES.map((n) => `\`${n}\``).join(', ')}.`,
    group: 'switches',
  }),
  row<InstrumentationName[]>({
    key: '_instrumentations.disabled',
    env: [
      'OTEL_NODE_DISABLED_INSTRUMENTATIONS',
      {
        name: 'ECHOES_DISABLED_INSTRUMENTATIONS',
        doc: 'Alias of `OTEL_NODE_DISABLED_INSTRUMENTATIONS` (both lists are applied).',
      },
    ],
    type: instrumentationList,
    default: [],
    // Both lists apply.
    combine: (below, v) => [...new Set([...below, ...v])],
    shownDefault: '(none)',
    doc: 'Instrumentations to turn off, e.g. `pg,fs`.',
    group: 'switches',
  }),
  ...INSTRUMENTATION_NAMES.map((name) =>
    row<boolean>({
      key: `instrumentations.${INSTRUMENTATION_KEYS[name]}`,
      type: bool,
      default: (r) =>
        r.get<string[]>('_instrumentations.enabled').includes(name) &&
        !r.get<string[]>('_instrumentations.disabled').includes(name),
      shownDefault: 'true',
      doc: `The \`${name}\` instrumentation.`,
      group: 'switches',
      from: ['_instrumentations.enabled', '_instrumentations.disabled'],
    }),
  ),
  // --- service and resource
  row<Record<string, string>>({
    key: 'resourceAttributes',
    env: ['OTEL_RESOURCE_ATTRIBUTES'],
    type: pairs(true),
    default: {},
    shownDefault: '(none)',
    doc: 'Extra resource attributes, `key=value,key2=value2` (values percent-decoded).',
    group: 'resource',
  }),
  row<string>({
    key: 'serviceName',
    env: ['OTEL_SERVICE_NAME'],
    type: string,
    default: (r) =>
      r.get<Record<string, string>>('resourceAttributes')['service.name'] ??
      r.packageJson().name ??
      'unknown_service:node',
    shownDefault: 'package.json `name` in the working directory, else `unknown_service:node`',
    doc: 'The `service.name` resource attribute.',
    group: 'resource',
  }),
  row<string>({
    key: 'serviceVersion',
    type: {
      accepts: 'text',
      parse: (raw, cx) => (typeof raw === 'string' ? raw : cx.fail('is not a string')),
    },
    default: (r) =>
      r.get<Record<string, string>>('resourceAttributes')['service.version'] ??
      r.packageJson().version ??
      '',
    shownDefault: '`service.version` resource attribute, else package.json `version`',
    doc: 'The `service.version` resource attribute.',
    group: 'resource',
  }),
  row<string | undefined>({
    key: '_nodeEnv',
    env: ['NODE_ENV'],
    type: string,
    default: undefined,
    shownDefault: 'development',
    doc: '`production` logs at `warn` and turns console logging off; also the default `deployment.environment.name`.',
    group: 'resource',
  }),
  row<string>({
    key: 'environment',
    type: string,
    default: (r) => {
      const attrs = r.get<Record<string, string>>('resourceAttributes');
      return (
        attrs['deployment.environment.name'] ??
        attrs['deployment.environment'] ??
        r.get<string | undefined>('_nodeEnv') ??
        'development'
      );
    },
    shownDefault: '`deployment.environment.name` resource attribute, else `NODE_ENV`',
    doc: 'The `deployment.environment.name` resource attribute.',
    group: 'resource',
    from: ['resourceAttributes', '_nodeEnv'],
  }),
  row<boolean>({
    key: 'production',
    type: bool,
    default: (r) => r.get('_nodeEnv') === 'production' || r.get('environment') === 'production',
    shownDefault: 'true when `NODE_ENV` or the environment is `production`',
    doc: 'Production defaults: log at `warn`, no console output.',
    group: 'resource',
    from: ['_nodeEnv', 'resourceAttributes'],
  }),
  // --- OTLP, generic (read once; each signal's row defaults to these)
  row<string>({
    key: '_otlp.endpoint',
    env: ['OTEL_EXPORTER_OTLP_ENDPOINT'],
    type: httpUrl,
    default: (r) => (r.get('_otlp.protocol') === 'grpc' ? OTLP_GRPC_DEFAULT : OTLP_HTTP_DEFAULT),
    shownDefault: OTLP_HTTP_DEFAULT,
    doc: 'Base OTLP/HTTP endpoint; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.',
    group: 'otlp',
  }),
  row<Record<string, string>>({
    key: '_otlp.headers',
    env: ['OTEL_EXPORTER_OTLP_HEADERS'],
    type: pairs(true),
    default: {},
    shownDefault: '(none)',
    doc: 'Headers for every OTLP request, `key=value,...` (percent-decoded).',
    group: 'otlp',
  }),
  row<OtlpProtocol>({
    key: '_otlp.protocol',
    env: ['OTEL_EXPORTER_OTLP_PROTOCOL'],
    type: oneOf(PROTOCOLS, 'is not http/protobuf, http/json or grpc'),
    default: 'http/protobuf',
    doc: `\`http/protobuf\`, \`http/json\` or \`grpc\` (then the endpoint defaults to ${OTLP_GRPC_DEFAULT} and is used without a \`/v1/...\` path).`,
    group: 'otlp',
  }),
  row<number>({
    key: '_otlp.timeoutMs',
    env: ['OTEL_EXPORTER_OTLP_TIMEOUT'],
    type: int(1, 600_000, 'ms'),
    default: 10_000,
    doc: 'OTLP request timeout in milliseconds.',
    group: 'otlp',
  }),
  row<'gzip' | 'none'>({
    key: '_otlp.compression',
    env: ['OTEL_EXPORTER_OTLP_COMPRESSION'],
    type: oneOf(['gzip', 'none'] as const),
    default: 'none',
    doc: '`gzip` or `none`.',
    group: 'otlp',
  }),
  ...otlpRows('traces'),
  ...otlpRows('metrics'),
  ...otlpRows('logs'),
  // --- traces
  row<string>({
    key: 'traces.sampler',
    env: ['OTEL_TRACES_SAMPLER'],
    type: oneOf(SAMPLERS),
    default: 'parentbased_always_on',
    doc: `${SAMPLERS.map((s) => `\`${s}\``).join(', ')}.`,
    group: 'traces',
  }),
  row<number | undefined>({
    key: 'traces.samplerArg',
    env: ['OTEL_TRACES_SAMPLER_ARG'],
    type: ratio,
    default: (r) => (r.get<string>('traces.sampler').endsWith('traceidratio') ? 1 : undefined),
    fallbackText: '1',
    shownDefault: '1 (for the ratio samplers)',
    doc: 'Sampling ratio between 0 and 1.',
    group: 'traces',
  }),
  row<PropagatorName[]>({
    key: 'propagators',
    env: ['OTEL_PROPAGATORS'],
    type: list('comma list of `tracecontext`, `baggage`, `b3`, `b3multi`, or `none`', (n, cx) => {
      const s = n.toLowerCase();
      if ((PROPAGATOR_NAMES as readonly string[]).includes(s)) return s as PropagatorName;
      if (s !== 'none')
        cx.skip(s, `is not a supported propagator (${PROPAGATOR_NAMES.join(', ')}, none)`);
      return undefined;
    }),
    default: ['tracecontext', 'baggage'],
    shownDefault: 'tracecontext,baggage',
    doc: 'Context propagators, in order: `tracecontext`, `baggage`, `b3` (single header), `b3multi`, or `none`.',
    group: 'traces',
  }),
  row<string[]>({
    key: 'http.ignorePaths',
    env: ['ECHOES_HTTP_IGNORE_PATHS'],
    type: list('comma list of paths starting with `/` (`*` at the end: a prefix)', (p, cx) => {
      if (p.startsWith('/')) return p;
      cx.skip(p, 'is not a path (it must start with /)');
      return undefined;
    }),
    default: [],
    shownDefault: '(none)',
    doc: 'Inbound paths that get no span (health checks), comma-separated: exact paths, or prefixes ending in `*` (e.g. `/healthz,/internal/*`). Their duration is still recorded.',
    group: 'traces',
  }),
  row<boolean>({
    key: 'genai.captureContent',
    env: ['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'],
    type: bool,
    default: false,
    shownDefault: 'false',
    doc: '`true` records prompt and completion content on model-call spans (redacted); off by default.',
    group: 'traces',
  }),
  // --- metrics
  row<number>({
    key: 'metrics.exportIntervalMs',
    env: ['OTEL_METRIC_EXPORT_INTERVAL'],
    type: int(1, 86_400_000, 'ms'),
    default: 60_000,
    doc: 'Milliseconds between OTLP metric exports.',
    group: 'metrics',
  }),
  row<number>({
    key: 'metrics.exportTimeoutMs',
    env: ['OTEL_METRIC_EXPORT_TIMEOUT'],
    type: int(1, 86_400_000, 'ms'),
    default: 30_000,
    doc: 'Milliseconds an OTLP metric export may take (capped at the interval).',
    group: 'metrics',
  }),
  row<string>({
    key: 'metrics.prometheus.host',
    env: ['OTEL_EXPORTER_PROMETHEUS_HOST'],
    type: string,
    default: '127.0.0.1',
    doc: 'Address the embedded `/metrics` endpoint binds (set `0.0.0.0` to expose it).',
    group: 'metrics',
  }),
  row<number>({
    key: 'metrics.prometheus.port',
    env: ['OTEL_EXPORTER_PROMETHEUS_PORT'],
    type: int(0, 65_535),
    default: 9464,
    doc: 'Port of the embedded `/metrics` endpoint (`0`: any free port).',
    group: 'metrics',
  }),
  row<number>({
    key: 'metrics.cardinalityLimit',
    env: ['ECHOES_CARDINALITY_LIMIT'],
    type: int(1, 1_000_000),
    default: 2000,
    doc: 'Most attribute sets kept per metric instrument; the rest fold into one overflow series.',
    group: 'metrics',
  }),
  // --- logs
  row({
    key: 'logs.level',
    env: ['ECHOES_LOG_LEVEL'],
    yaml: 'level',
    type: logLevel,
    default: (r) => (r.get<boolean>('production') ? 'warn' : 'info'),
    shownDefault: '`warn` in production, else `info`',
    doc: 'Logger level: `error`, `warn`, `info`, `http`, `verbose`, `debug`, `silly` (Python names such as `WARNING` accepted).',
    group: 'logs',
  }),
  row<string>({
    key: '_yaml.format',
    yaml: 'format',
    type: {
      accepts: '`json`',
      parse(raw, cx) {
        const s = String(raw);
        if (s.toLowerCase() !== 'json')
          cx.note(
            'is a text format; echoes-otel always writes JSON lines (one object per record)',
            'JSON lines',
            'warning',
          );
        return s;
      },
    },
    default: 'json',
    doc: 'Noted with a warning unless `json`: files and OTLP records are always JSON lines.',
    group: 'logs',
  }),
  row<unknown>({
    key: '_yaml.richFormatting',
    yaml: 'rich_formatting',
    type: { accepts: 'anything', parse: (raw) => raw },
    default: undefined,
    shownDefault: '(ignored)',
    doc: "Accepted and ignored (the audit's setting for Python's `rich` console handler).",
    group: 'logs',
  }),
  row<string>({
    key: 'logs.file.dir',
    env: ['ECHOES_LOG_DIR'],
    type: path,
    default: (r) => resolve(r.cwd, 'logs'),
    shownDefault: './logs',
    doc: 'Directory of the rotated JSON log files.',
    group: 'logs',
  }),
  row<string>({
    key: 'logs.file.name',
    env: ['ECHOES_LOG_FILE_NAME'],
    type: fileName,
    default: (r) => fileSafe(r.get('serviceName')) ?? 'app',
    shownDefault: 'service name (file-safe), else `app`',
    doc: 'Base name of the log files (`<name>-YYYY-MM-DD.log`).',
    group: 'logs',
  }),
  row<boolean>({
    key: 'logs.file.enabled',
    env: ['ECHOES_LOG_FILE'],
    type: bool,
    default: true,
    doc: '`off` disables the local log files.',
    group: 'logs',
  }),
  row<number>({
    key: 'logs.file.maxBytes',
    env: ['ECHOES_LOG_MAX_BYTES'],
    yaml: 'file_rotation.max_bytes',
    type: bytes(1024),
    default: 10 * 1024 * 1024,
    doc: 'Rotate the log file at this size (bytes; `k`, `m`, `g` suffixes accepted).',
    group: 'logs',
  }),
  row<number>({
    key: 'logs.file.backupCount',
    env: ['ECHOES_LOG_BACKUP_COUNT'],
    yaml: 'file_rotation.backup_count',
    type: int(0, 1000),
    default: 5,
    doc: 'Rotated files kept besides the active one.',
    group: 'logs',
  }),
  row<boolean>({
    key: 'logs.file.gzip',
    env: ['ECHOES_LOG_GZIP'],
    type: bool,
    default: true,
    doc: 'Gzip rotated log files.',
    group: 'logs',
  }),
  row<boolean>({
    key: 'logs.console',
    env: ['ECHOES_LOG_CONSOLE'],
    yaml: 'console_output',
    type: bool,
    default: (r) => !r.get<boolean>('production'),
    shownDefault: 'on, off in production',
    doc: 'Also write log lines to stdout.',
    group: 'logs',
  }),
  row<number>({
    key: 'logs.maxMessageBytes',
    env: ['ECHOES_LOG_MAX_MESSAGE_BYTES'],
    type: bytes(256),
    default: 65_536,
    doc: 'Longer messages are truncated and counted in `echoes.log.dropped`.',
    group: 'logs',
  }),
  // --- disk I/O and directories
  row({
    key: 'fs.pathGroups',
    env: ['ECHOES_FS_PATH_GROUPS'],
    type: namedPaths('prefix', false),
    default: (r) => [
      { name: 'logs', prefix: r.get<string>('logs.file.dir') },
      { name: 'sessions', prefix: resolve(r.cwd, 'data/memory') },
      { name: 'cache', prefix: resolve(r.cwd, '.cache') },
      { name: 'config', prefix: resolve(r.cwd, 'config') },
    ],
    shownDefault: 'logs=<log dir>,sessions=data/memory,cache=.cache,config=config',
    doc: '`name=prefix,...`: the `fs.path.group` of each path prefix (others are `other`).',
    group: 'fs',
  }),
  row<boolean>({
    key: 'fs.spans',
    env: ['ECHOES_FS_SPANS'],
    type: bool,
    default: false,
    doc: 'Also create spans for fs calls made inside a traced request.',
    group: 'fs',
  }),
  row({
    key: 'dirs.watched',
    env: ['ECHOES_DIRS'],
    type: namedPaths('path', true),
    default: (r) => [
      { name: 'logs', path: r.get<string>('logs.file.dir') },
      { name: 'cache/embeddings', path: resolve(r.cwd, '.cache/embeddings') },
      { name: 'cache/attention', path: resolve(r.cwd, '.cache/attention') },
      { name: 'sessions', path: resolve(r.cwd, 'data/memory') },
    ],
    shownDefault:
      'logs=<log dir>,cache/embeddings=.cache/embeddings,cache/attention=.cache/attention,sessions=data/memory',
    doc: '`name=path,...`: directories whose size and file count are reported; `none` turns this off.',
    group: 'fs',
  }),
  row<boolean>({
    key: 'dirs.enabled',
    type: bool,
    default: (r) => r.get<unknown[]>('dirs.watched').length > 0,
    shownDefault: 'on when a directory is watched',
    doc: 'The directory-size monitor.',
    group: 'fs',
    from: ['dirs.watched'],
  }),
  row<number>({
    key: 'dirs.intervalMs',
    env: ['ECHOES_DIR_INTERVAL_MS'],
    type: int(100, 86_400_000, 'ms'),
    default: 30_000,
    doc: 'Milliseconds between directory scans.',
    group: 'fs',
  }),
  row<number>({
    key: 'dirs.maxEntriesPerTick',
    env: ['ECHOES_DIR_MAX_ENTRIES'],
    type: int(1, 100_000_000),
    default: 10_000,
    doc: 'Most directory entries visited per scan.',
    group: 'fs',
  }),
  // --- shutdown, redaction, diagnostics, config file
  row<string | undefined>({
    key: '_diagLogLevel',
    env: ['OTEL_LOG_LEVEL'],
    type: oneOf(DIAG_LEVELS),
    default: undefined,
    fallbackText: 'warn',
    shownDefault: 'warn',
    doc: "Level of OTel's own diagnostics on stderr: `none`, `error`, `warn`, `info`, `debug`, `verbose`, `all`.",
    group: 'misc',
  }),
  row<string>({
    key: '_configFile',
    env: ['ECHOES_CONFIG_FILE'],
    type: string,
    default: 'config/config.yaml',
    doc: 'YAML file whose `logging:` section is honoured (relative to the working directory).',
    group: 'misc',
  }),
  row<number>({
    key: 'otlpRetryBuffer',
    env: ['ECHOES_OTLP_RETRY_BUFFER'],
    type: int(0, 1_000_000),
    default: 4096,
    doc: 'Log records, and spans, held per signal for a resend when an OTLP export fails after its retries (collector restarting); the oldest past it are dropped and counted. 0 turns this off.',
    group: 'misc',
  }),
  row<number>({
    key: 'shutdownTimeoutMs',
    env: ['ECHOES_SHUTDOWN_TIMEOUT_MS'],
    type: int(0, 600_000, 'ms'),
    default: 2000,
    doc: 'Deadline for flushing traces, metrics, logs and log files at exit.',
    group: 'misc',
  }),
  row<string[]>({
    key: 'redaction.keys',
    env: ['ECHOES_REDACT_KEYS'],
    type: list('comma list of keys (case-insensitive)', (k) => k.toLowerCase()),
    default: [...DEFAULT_REDACT_KEYS],
    // The environment adds to the built-in list; a list in code replaces it.
    combine: (below, v, layer) => (layer === 'code' ? v : [...new Set([...below, ...v])]),
    shownDefault: '(none; added to the built-in list)',
    doc: 'Extra attribute/metadata keys to redact, comma-separated.',
    group: 'misc',
  }),
];

/** Adjustments between settings, made once after every source is merged. */
export interface Merged {
  get<T>(key: string): T;
  set(key: string, value: unknown): void;
  /** Who set the value: a variable name, `options.<key>`, a config.yaml key; undefined: default. */
  sourceOf(key: string): string | undefined;
  warn(source: string, value: string, fallback: string, why: string): void;
}

export const AFTER_MERGE: ReadonlyArray<(m: Merged) => void> = [
  // The periodic reader rejects a timeout longer than its interval: cap it, and say so when the
  // timeout was set (a default timeout under a short interval is simply capped).
  (m) => {
    const interval = m.get<number>('metrics.exportIntervalMs');
    const timeout = m.get<number>('metrics.exportTimeoutMs');
    if (timeout <= interval) return;
    const source = m.sourceOf('metrics.exportTimeoutMs');
    if (source !== undefined)
      m.warn(
        source,
        String(timeout),
        String(interval),
        `is longer than the metric export interval (${interval} ms)`,
      );
    m.set('metrics.exportTimeoutMs', interval);
  },
];
