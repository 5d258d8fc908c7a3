/**
 * Public configuration types. `config.ts` parses code options > environment > config/config.yaml >
 * defaults into one frozen `EchoesConfig`; no other module reads `process.env`.
 */

export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
export type SignalExporter = 'otlp' | 'console' | 'none';
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export type EsmHookMode = 'auto' | 'on' | 'off';
/** `OTEL_PROPAGATORS` entries we support (`none` is the empty list). */
export type PropagatorName = 'tracecontext' | 'baggage' | 'b3' | 'b3multi';

export interface OtlpSignalConfig {
  /**
   * Full URL of this signal's endpoint, `/v1/<signal>` already appended where the spec says so;
   * for `grpc`, the collector's gRPC endpoint (`http://host:4317`), no path.
   */
  readonly url: string;
  readonly protocol: OtlpProtocol;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly compression: 'gzip' | 'none';
}

export interface PathGroup {
  /** Low-cardinality name that becomes the `fs.path.group` attribute, e.g. `logs`, `sessions`. */
  readonly name: string;
  /** Absolute path prefix (resolved against the working directory at config time). */
  readonly prefix: string;
}

export interface WatchedDir {
  /** The `dir.name` attribute, e.g. `logs`, `cache/embeddings`, `sessions`. */
  readonly name: string;
  readonly path: string;
}

export interface EchoesConfig {
  /** `OTEL_SDK_DISABLED` / `ECHOES_ENABLED=false`: register does nothing at all. */
  readonly enabled: boolean;
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** `deployment.environment.name`; `NODE_ENV` when unset. */
  readonly environment: string;
  /** True when NODE_ENV or the deployment environment is `production`. */
  readonly production: boolean;
  /** Extra resource attributes from `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /**
   * Log records, and spans, held per signal for a resend when an OTLP export fails after its
   * retries (`ECHOES_OTLP_RETRY_BUFFER`, default 4096; 0: none). export-spool.ts.
   */
  readonly otlpRetryBuffer: number;
  /** Deadline for flushing everything at exit (`ECHOES_SHUTDOWN_TIMEOUT_MS`, default 2000). */
  readonly shutdownTimeoutMs: number;
  /** Start the SDK in worker threads too (`ECHOES_IN_WORKERS`, default false). */
  readonly inWorkers: boolean;
  /** Start the SDK in child processes that inherit NODE_OPTIONS (`ECHOES_IN_CHILDREN`, default false). */
  readonly inChildren: boolean;
  /**
   * Directory of the V8 code cache of the preload's core (`ECHOES_CODE_CACHE_DIR`, default
   * `$XDG_CACHE_HOME/echoes-otel`, else `~/.cache/echoes-otel`); false: `off`.
   */
  readonly codeCacheDir: string | false;
  /**
   * The ESM import hook for the winston and lru-cache instrumentations (`ECHOES_ESM_HOOK`):
   * `auto` (default) leaves it out when the app's entry is CommonJS (entry-format.ts), `on`
   * always registers it, `off` never.
   */
  readonly esmHook: EsmHookMode;
  /** `OTEL_PROPAGATORS`, in order (default tracecontext, baggage; `none`: empty). */
  readonly propagators: readonly PropagatorName[];

  readonly traces: {
    readonly exporter: SignalExporter;
    readonly otlp: OtlpSignalConfig;
    /** Sampler name and argument as in OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG. */
    readonly sampler: string;
    readonly samplerArg: number | undefined;
  };

  readonly metrics: {
    readonly exporter: SignalExporter;
    readonly otlp: OtlpSignalConfig;
    readonly exportIntervalMs: number;
    readonly exportTimeoutMs: number;
    /** Max distinct attribute sets per instrument (second fence behind path groups). */
    readonly cardinalityLimit: number;
    readonly prometheus: {
      readonly enabled: boolean;
      readonly host: string;
      readonly port: number;
    };
  };

  readonly logs: {
    readonly exporter: SignalExporter;
    readonly otlp: OtlpSignalConfig;
    /** `warn` in production, `info` otherwise, unless set. */
    readonly level: LogLevel;
    readonly console: boolean;
    readonly file: {
      readonly enabled: boolean;
      readonly dir: string;
      /** Base name; files are `<name>-YYYY-MM-DD.log`, archives `.gz`. */
      readonly name: string;
      /** `logging.file_rotation.max_bytes` (default 10 MiB). */
      readonly maxBytes: number;
      /** `logging.file_rotation.backup_count` (default 5): files kept besides the active one. */
      readonly backupCount: number;
      readonly gzip: boolean;
    };
    /** Messages longer than this are truncated and counted (`echoes.log.dropped` reason=truncated). */
    readonly maxMessageBytes: number;
  };

  /**
   * Which instrumentations run: `OTEL_NODE_ENABLED_INSTRUMENTATIONS` /
   * `OTEL_NODE_DISABLED_INSTRUMENTATIONS` with upstream's names (`ECHOES_INSTRUMENTATIONS` /
   * `ECHOES_DISABLED_INSTRUMENTATIONS` are aliases). All on by default; a library's hooks are
   * installed only when the app loads it.
   */
  readonly instrumentations: {
    readonly http: boolean;
    /** Global `fetch` and undici, through undici's diagnostics channels. */
    readonly undici: boolean;
    readonly express: boolean;
    readonly fastify: boolean;
    readonly koa: boolean;
    readonly pg: boolean;
    readonly mysql2: boolean;
    readonly ioredis: boolean;
    readonly redis: boolean;
    readonly mongodb: boolean;
    readonly openai: boolean;
    readonly fs: boolean;
    readonly lruCache: boolean;
    readonly winston: boolean;
    /** `runtime-node` (upstream's name); `runtime` is accepted too. */
    readonly runtime: boolean;
    /** Our cache metrics (`createCache`, `instrumentCache`). */
    readonly cache: boolean;
    /** The directory-size monitor (also off when no directory is watched). */
    readonly dirs: boolean;
  };

  readonly http: {
    /**
     * Inbound request paths that get no span (health checks), `ECHOES_HTTP_IGNORE_PATHS`: exact
     * paths, or prefixes ending in `*`. Their duration is still recorded. Default none.
     */
    readonly ignorePaths: readonly string[];
  };

  readonly genai: {
    /**
     * Capture prompt and completion content on GenAI spans/events
     * (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, default false); redacted when on.
     */
    readonly captureContent: boolean;
  };

  readonly fs: {
    readonly pathGroups: readonly PathGroup[];
    /** Also emit spans for fs calls inside an active span (off by default: metrics only). */
    readonly spans: boolean;
  };

  readonly dirs: {
    readonly enabled: boolean;
    readonly intervalMs: number;
    readonly watched: readonly WatchedDir[];
    /** Bound on directory entries visited per tick, so a huge cache dir never stalls the app. */
    readonly maxEntriesPerTick: number;
  };

  readonly redaction: {
    /** Attribute / metadata keys whose values are replaced by `[REDACTED]` (case-insensitive). */
    readonly keys: readonly string[];
  };
}

/** What callers may pass in code; deep-partial, wins over everything else. */
export type EchoesOptions = DeepPartial<EchoesConfig>;

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends readonly (infer U)[]
    ? readonly U[]
    : T[K] extends object
      ? DeepPartial<T[K]>
      : T[K];
};
