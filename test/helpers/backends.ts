/**
 * The real backends for integration tests: the bundled collector (built from collector/manifest.yaml)
 * and Prometheus 3 (built from its Go module), both from `node scripts/backends.mjs ensure`, run on
 * 127.0.0.1 with free random ports and per-test temp dirs, loading the very config files compose
 * ships (collector/config.yaml, prometheus/prometheus.yml) with the same flags; only
 * prometheus.yml's compose service names are moved to loopback (see loopbackConfig).
 *
 *   const stack = await startStack({ loki: receiver.url + '/otlp', tempo: receiver.url });
 *   await stack.prometheus.waitFor('up', (r) => r.length > 0);
 *   await stack.collector.kill('SIGKILL'); await stack.collector.restart();
 *   await stack.stop();
 *
 * Readiness is polled on the health endpoints (collector health_check, Prometheus /-/ready) with a
 * deadline, never a fixed sleep. No orphans: every child is tracked and killed on stop(), on
 * process exit and on SIGINT/SIGTERM, and a tiny watchdog kills it if the test process itself is
 * SIGKILLed (vitest worker killed on timeout or interrupt).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PATHS } from '../../scripts/backends.mjs';
import { freeLoopbackPort, pollUntil as pollWithDeadline, trackChild } from './real-process.js';
import { REPO_ROOT } from './paths.js';

/** Where `npm run backends` puts the binaries (ECHOES_TOOLS_DIR moves them): its own PATHS. */
export const BINARIES = Object.freeze({
  otelcol: PATHS.otelcol,
  prometheus: PATHS.prometheus,
  promtool: PATHS.promtool,
  alertmanager: PATHS.alertmanager,
});

export const COLLECTOR_CONFIG = join(REPO_ROOT, 'collector/config.yaml');
export const PROMETHEUS_CONFIG = join(REPO_ROOT, 'prometheus/prometheus.yml');
export const ALERTMANAGER_CONFIG = join(REPO_ROOT, 'alertmanager/alertmanager.yml');

/** The flags compose runs Prometheus with, minus the ports and paths (set per test). */
export const PROMETHEUS_FLAGS: readonly string[] = Object.freeze([
  '--web.enable-otlp-receiver',
  '--web.enable-lifecycle',
  // Exemplars (trace ids on histogram buckets) from OTLP, and Tempo's service-graph metrics.
  '--enable-feature=exemplar-storage',
  '--web.enable-remote-write-receiver',
]);

/** Are the backends built? Integration suites skip with this reason when they are not. */
export function backendsMissing(): string | undefined {
  const missing = Object.entries(BINARIES)
    .filter(([, p]) => !existsSync(p))
    .map(([k]) => k);
  return missing.length
    ? `not built: ${missing.join(', ')} (run: node scripts/backends.mjs ensure)`
    : undefined;
}

// Child tracking (nothing we start outlives the test process), free ports and polling are the
// real-server helpers' (real-process.ts): one set of exit hooks for every child the tests start.

export const freePort = freeLoopbackPort;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `echoes-${prefix}-`));
}

/** Poll `check` until it returns a value (not undefined) or the deadline passes (every 200 ms). */
export function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 200 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  return pollWithDeadline(what, check, { timeoutMs, intervalMs });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

export interface ManagedProcess {
  readonly name: string;
  /** The running child's pid (undefined while stopped). */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** stdout + stderr so far (bounded to the last 512 KiB), for assertions and failure messages. */
  logs(): string;
  /** Path of the full log file in the temp dir. */
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after 10 s; waits for exit. Keeps data and ports for restart(). */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL) and wait for the exit; data and ports kept for restart(). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again with the same ports, env and data dir; resolves when ready. */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. */
  dispose(): Promise<void>;
}

interface SpawnSpec {
  name: string;
  bin: string;
  args: string[];
  env: Record<string, string>;
  dir: string;
  readyUrl: string;
  readyTimeoutMs: number;
}

class Managed implements ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private buf = '';
  private file: WriteStream | undefined;
  private disposed = false;

  constructor(private readonly spec: SpawnSpec) {
    this.name = spec.name;
    this.logFile = join(spec.dir, `${spec.name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  logs(): string {
    return this.buf;
  }

  async start(): Promise<void> {
    if (!existsSync(this.spec.bin)) {
      throw new Error(`${this.spec.bin} is missing: run \`node scripts/backends.mjs ensure\``);
    }
    this.file ??= createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(this.spec.bin, this.spec.args, {
      cwd: this.spec.dir,
      env: { ...process.env, ...this.spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    trackChild(child);
    const onData = (d: Buffer): void => {
      const s = d.toString('utf8');
      this.buf = (this.buf + s).slice(-512 * 1024);
      this.file?.write(s);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((res) => {
      child.once('exit', () => res());
      child.once('error', (e) => {
        this.buf += `\n[spawn error] ${e.message}\n`;
        res();
      });
    });
    try {
      await pollUntil(
        `${this.name} ready at ${this.spec.readyUrl}`,
        async () => {
          if (!this.running)
            throw new Error(
              `${this.name} exited (code ${child.exitCode}, signal ${child.signalCode})`,
            );
          return (await httpOk(this.spec.readyUrl)) ? true : undefined;
        },
        { timeoutMs: this.spec.readyTimeoutMs, intervalMs: 100 },
      );
    } catch (e) {
      await this.kill('SIGKILL');
      throw new Error(
        `${(e as Error).message}\n--- ${this.name} log (tail) ---\n${this.buf.slice(-4000)}`,
      );
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (c && this.running) {
      c.kill(signal);
    }
    await this.exited;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    t.unref();
    await this.exited;
    clearTimeout(t);
  }

  async restart(): Promise<void> {
    if (this.disposed) throw new Error(`${this.name} was disposed`);
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.stop();
    await new Promise<void>((r) => (this.file ? this.file.end(r) : r()));
    if (!process.env.ECHOES_KEEP_TMP) rmSync(this.spec.dir, { recursive: true, force: true });
  }
}

/** Start a managed process; one that never became ready leaves no temp dir behind. */
async function startManaged(spec: SpawnSpec): Promise<Managed> {
  const m = new Managed(spec);
  try {
    await m.start();
  } catch (e) {
    await m.dispose();
    throw e;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Collector

export interface CollectorOptions {
  /** Loki's OTLP base (the exporter appends /v1/logs), e.g. `${receiver.url}/otlp`. */
  loki?: string;
  /** Tempo's OTLP/HTTP base (the exporter appends /v1/traces). */
  tempo?: string;
  /** Prometheus' OTLP base, e.g. `${prometheus.url}/api/v1/otlp`. */
  prometheus?: string;
  /** Extra env for the collector (overrides the defaults below). */
  env?: Record<string, string>;
  /** Config files (later ones merge over earlier); default collector/config.yaml. */
  configs?: string[];
  /** The collector binary; default the bundled one (the two-tier build: PATHS.gateway). */
  bin?: string;
  readyTimeoutMs?: number;
}

export interface CollectorHandle extends ManagedProcess {
  /** OTLP/HTTP base URL for SDKs (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly otlpHttpUrl: string;
  /** host:port of the OTLP/gRPC receiver. */
  readonly otlpGrpcEndpoint: string;
  readonly healthUrl: string;
  /** The persistent-queue directory (file_storage). */
  readonly storageDir: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * A free port can be taken by someone else between our probe and the child's bind (other test
 * projects run in parallel): start again on fresh ports when the child says so.
 */
async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 3 || !/address already in use/i.test((e as Error).message)) throw e;
    }
  }
}

export function startCollector(opts: CollectorOptions = {}): Promise<CollectorHandle> {
  return withFreshPorts(() => startCollectorOnce(opts));
}

async function startCollectorOnce(opts: CollectorOptions): Promise<CollectorHandle> {
  const dir = tempDir('otelcol');
  const [health, grpc, http, nowhere] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  // Unset backends point at a port nobody listens on: the exporters retry, nothing fails.
  const unused = `http://127.0.0.1:${nowhere}`;
  const storageDir = join(dir, 'queue');
  const env: Record<string, string> = {
    OTELCOL_HEALTH_ENDPOINT: `127.0.0.1:${health}`,
    OTELCOL_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
    OTELCOL_OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
    OTELCOL_STORAGE_DIR: storageDir,
    OTELCOL_LOKI_ENDPOINT: opts.loki ?? `${unused}/otlp`,
    OTELCOL_TEMPO_ENDPOINT: opts.tempo ?? unused,
    OTELCOL_PROMETHEUS_ENDPOINT: opts.prometheus ?? `${unused}/api/v1/otlp`,
    // Tests want data in seconds, not the production cadence.
    OTELCOL_HOSTMETRICS_INTERVAL: '5s',
    OTELCOL_SPANMETRICS_FLUSH_INTERVAL: '2s',
    OTELCOL_SELF_METRICS_INTERVAL_MS: '2000',
    ...opts.env,
  };
  const configs = opts.configs ?? [COLLECTOR_CONFIG];
  const m = await startManaged({
    name: 'otelcol',
    bin: opts.bin ?? BINARIES.otelcol,
    args: configs.map((c) => `--config=${resolve(c)}`),
    env,
    dir,
    readyUrl: `http://127.0.0.1:${health}/`,
    readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
  });
  return Object.assign(m, {
    otlpHttpUrl: `http://127.0.0.1:${http}`,
    otlpGrpcEndpoint: `127.0.0.1:${grpc}`,
    healthUrl: `http://127.0.0.1:${health}/`,
    storageDir,
    env,
  });
}

// ---------------------------------------------------------------------------------------------
// Prometheus

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusOptions {
  /** Config file; default prometheus/prometheus.yml (with its rules/*.yml). */
  config?: string;
  extraArgs?: string[];
  readyTimeoutMs?: number;
}

export interface PrometheusHandle extends ManagedProcess {
  readonly url: string;
  /** What the collector's otlp_http exporter takes (it appends /v1/metrics). */
  readonly otlpUrl: string;
  /** Instant query; throws with Prometheus' own error message on a bad query. */
  query(promql: string): Promise<PromSample[]>;
  /** Poll an instant query until `accept` holds for its result, with a deadline. */
  waitFor(
    promql: string,
    accept: (r: PromSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PromSample[]>;
  /** Every metric name Prometheus knows. */
  metricNames(): Promise<string[]>;
}

export function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusHandle> {
  return withFreshPorts(() => startPrometheusOnce(opts));
}

/**
 * The given prometheus.yml (default: the shipped one) made safe to run here, and nothing else
 * changed: every target that names a compose service (`alertmanager:9093`, `loki:3100`,
 * `tempo:3200`) goes to a loopback port nobody listens on (resolving those names would send DNS
 * queries off the machine; a test that wants delivery passes a config with its own loopback
 * Alertmanager, which is kept), the `prometheus` job's `localhost:9090` scrapes this Prometheus
 * at its own port (the Backends row's series), and rule_files are made absolute (the copy lives
 * in the temp dir).
 */
async function loopbackConfig(config: string, dir: string, port: number): Promise<string> {
  const doc = parseYaml(readFileSync(config, 'utf8')) as {
    rule_files?: string[];
    alerting?: { alertmanagers?: Array<{ static_configs?: Array<{ targets: string[] }> }> };
    scrape_configs?: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> }>;
  };
  doc.rule_files = (doc.rule_files ?? []).map((f) => resolve(dirname(config), f));
  const nobody = `127.0.0.1:${await freePort()}`;
  const local = (t: string) => /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(t);
  for (const am of doc.alerting?.alertmanagers ?? [])
    for (const sc of am.static_configs ?? [])
      sc.targets = sc.targets.map((t) => (local(t) ? t : nobody));
  for (const job of doc.scrape_configs ?? [])
    for (const sc of job.static_configs ?? [])
      sc.targets = sc.targets.map((t) =>
        job.job_name === 'prometheus' && t === 'localhost:9090'
          ? `127.0.0.1:${port}`
          : local(t)
            ? t
            : nobody,
      );
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, stringifyYaml(doc));
  return file;
}

async function startPrometheusOnce(opts: PrometheusOptions): Promise<PrometheusHandle> {
  const dir = tempDir('prometheus');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = await loopbackConfig(resolve(opts.config ?? PROMETHEUS_CONFIG), dir, port);
  const m = await startManaged({
    name: 'prometheus',
    bin: BINARIES.prometheus,
    args: [
      `--config.file=${config}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      ...PROMETHEUS_FLAGS,
      ...(opts.extraArgs ?? []),
    ],
    env: {},
    dir,
    readyUrl: `${url}/-/ready`,
    readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
  });
  const query = async (promql: string): Promise<PromSample[]> => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error ?? r.status}`);
    const res = body.data?.result;
    if (body.data?.resultType === 'scalar' && Array.isArray(res))
      return [{ metric: {}, value: res as [number, string] }];
    return (res as PromSample[]) ?? [];
  };
  return Object.assign(m, {
    url,
    otlpUrl: `${url}/api/v1/otlp`,
    query,
    waitFor: (promql: string, accept: (r: PromSample[]) => boolean, timeoutMs = 60_000) =>
      pollUntil(
        `Prometheus: ${promql}`,
        async () => {
          const r = await query(promql);
          return accept(r) ? r : undefined;
        },
        { timeoutMs, intervalMs: 500 },
      ),
    metricNames: async () => {
      const r = await fetch(`${url}/api/v1/label/__name__/values`, {
        signal: AbortSignal.timeout(10_000),
      });
      return ((await r.json()) as { data: string[] }).data;
    },
  });
}

// ---------------------------------------------------------------------------------------------

export interface Stack {
  readonly collector: CollectorHandle;
  readonly prometheus: PrometheusHandle;
  /** Dispose both (collector first, so its last export can land). */
  stop(): Promise<void>;
}

/** Prometheus, then a collector exporting to it (and to the given Loki / Tempo stand-ins). */
export async function startStack(
  opts: Omit<CollectorOptions, 'prometheus'> & { prometheus?: PrometheusOptions } = {},
): Promise<Stack> {
  const prometheus = await startPrometheus(opts.prometheus);
  let collector: CollectorHandle;
  try {
    collector = await startCollector({ ...opts, prometheus: prometheus.otlpUrl });
  } catch (e) {
    await prometheus.dispose();
    throw e;
  }
  return {
    collector,
    prometheus,
    stop: async () => {
      await collector.dispose();
      await prometheus.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

export interface AlertmanagerOptions {
  /** Config file (YAML text is written to the temp dir); default alertmanager/alertmanager.yml. */
  configText?: string;
  readyTimeoutMs?: number;
}

export interface AlertmanagerHandle extends ManagedProcess {
  readonly url: string;
  /** host:port, what Prometheus' `alerting.alertmanagers[].static_configs[].targets` takes. */
  readonly target: string;
}

export function startAlertmanager(opts: AlertmanagerOptions = {}): Promise<AlertmanagerHandle> {
  return withFreshPorts(() => startAlertmanagerOnce(opts));
}

async function startAlertmanagerOnce(opts: AlertmanagerOptions): Promise<AlertmanagerHandle> {
  const dir = tempDir('alertmanager');
  const port = await freePort();
  const config = join(dir, 'alertmanager.yml');
  writeFileSync(config, opts.configText ?? readFileSync(ALERTMANAGER_CONFIG, 'utf8'));
  const m = await startManaged({
    name: 'alertmanager',
    bin: BINARIES.alertmanager,
    args: [
      `--config.file=${config}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.path=${join(dir, 'data')}`,
      // No gossip: a single instance, and its default 0.0.0.0:9094 would leave loopback.
      '--cluster.listen-address=',
    ],
    env: {},
    dir,
    readyUrl: `http://127.0.0.1:${port}/-/ready`,
    readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
  });
  return Object.assign(m, { url: `http://127.0.0.1:${port}`, target: `127.0.0.1:${port}` });
}
