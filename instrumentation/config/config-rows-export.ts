import { PROPAGATOR_NAMES, SAMPLERS } from './config-names.js';
import { bool, httpUrl, int, list, oneOf, pairs, ratio, string } from './config-parsers.js';
import {
  OTLP_GRPC_DEFAULT,
  OTLP_HTTP_DEFAULT,
  row,
  signalUrl,
  type Setting,
  type Signal,
} from './config-setting.js';
import type { OtlpProtocol, PropagatorName } from '../types.js';

/** Schema rows: OTLP export (generic, then per signal), traces and metrics. */

const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];

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
      from: ['_otlp.protocol'],
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
      from: ['_otlp.endpoint', '_otlp.protocol'],
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
      from: ['_otlp.headers'],
    }),
    row<number>({
      key: `${k}.timeoutMs`,
      env: [`OTEL_EXPORTER_OTLP_${S}_TIMEOUT`],
      type: int(1, 600_000, 'ms'),
      default: (r) => r.get('_otlp.timeoutMs'),
      shownDefault: 'generic timeout',
      doc: `Timeout for ${signal} (ms).`,
      group: 'otlp',
      from: ['_otlp.timeoutMs'],
    }),
    row<'gzip' | 'none'>({
      key: `${k}.compression`,
      env: [`OTEL_EXPORTER_OTLP_${S}_COMPRESSION`],
      type: oneOf(['gzip', 'none'] as const),
      default: (r) => r.get('_otlp.compression'),
      shownDefault: 'generic compression',
      doc: `Compression for ${signal}.`,
      group: 'otlp',
      from: ['_otlp.compression'],
    }),
  ];
}

// `duplicates` pairs rows here: data, one declarative row per setting (config-setting.ts).
export const EXPORT_ROWS: readonly Setting[] = [
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
];
