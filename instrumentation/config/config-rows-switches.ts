import {
  INSTRUMENTATION_ALIASES,
  INSTRUMENTATION_KEYS,
  INSTRUMENTATION_NAMES,
  SIGNAL_EXPORTERS,
  type InstrumentationName,
} from './config-names.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { bool, int, list, oneOf, pairs, path, string, type ValueType } from './config-parsers.js';
import { row, type Setting, type Signal } from './config-setting.js';
import type { EsmHookMode, SignalExporter } from '../types.js';

/** Schema rows: what runs (exporters, instrumentations, workers, children) and the resource. */

interface Exporters {
  readonly exporter?: SignalExporter;
  readonly prometheus: boolean;
}

/** A directory, or `off` (false). */
const offOrPath: ValueType<string | false> = {
  accepts: 'path (relative: to the working directory) or `off`',
  parse(raw, cx) {
    if (String(raw).trim().toLowerCase() === 'off') return false;
    return path.parse(raw, cx);
  },
};

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
      shownDefault: 'otlp',
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
const instrumentationList = list('comma list of instrumentation names', instrumentation);

export const SWITCH_ROWS: readonly Setting[] = [
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
    from: ['_sdkDisabled'],
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
  row<string | undefined>({
    key: '_xdgCacheHome',
    env: ['XDG_CACHE_HOME'],
    type: path,
    default: undefined,
    shownDefault: '`~/.cache`',
    doc: 'The per-user cache directory (XDG); the code cache goes to its `echoes-otel` folder.',
    group: 'switches',
  }),
  row<string | false>({
    key: 'codeCacheDir',
    env: ['ECHOES_CODE_CACHE_DIR'],
    type: offOrPath,
    default: (r) =>
      join(r.get<string | undefined>('_xdgCacheHome') ?? join(homedir(), '.cache'), 'echoes-otel'),
    shownDefault: '`$XDG_CACHE_HOME/echoes-otel`',
    doc: "Where the preload keeps V8's compiled code of its core, so later starts skip compiling it; `off`: none. A directory only this user can write (created with mode 700); others are not used.",
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
];

// `duplicates` pairs rows here and in the other config-rows-*.ts: data, one declarative row per
// setting (config-setting.ts), each field named.
export const RESOURCE_ROWS: readonly Setting[] = [
  // --- service and resource
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
  row<Record<string, string>>({
    key: 'resourceAttributes',
    env: ['OTEL_RESOURCE_ATTRIBUTES'],
    type: pairs(true),
    default: {},
    // Attributes given in code are added to (and win over) the variable's.
    combine: (below, v) => ({ ...below, ...v }),
    shownDefault: '(none)',
    doc: 'Extra resource attributes, `key=value,key2=value2` (values percent-decoded).',
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
];
