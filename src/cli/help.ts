/**
 * The command's help texts: one per command (`echoes-otel <command> --help`) and the overview.
 * Text only, so the command's code in main.ts reads without them.
 */

export const COMMAND_HELP = {
  load: `usage: echoes-otel load [options]

drive the reference service at a fixed rate (open loop) for a duration

  --url URL             the service (http://127.0.0.1:8080)
  --rate N              requests per second (20)
  --duration D          how long, e.g. 30s, 2m (30s)
  --sessions N          distinct chat sessions (20)
  --concurrency N       most requests in flight; what the cap skips is counted (256)
  --latency-ms N        ask the service to add this model latency
  --failure-rate F      ask the service to fail this share of model calls (0..1)
  --format text|json
  -h, --help            this text`,
  report: `usage: echoes-otel report [options]

the audit's before/after table (section 8), measured

  --prometheus URL      query Prometheus (windowed PromQL)
  --metrics-url URL     else sample the embedded endpoint (http://127.0.0.1:9464/metrics)
  --window D            sampling window (Prometheus: range of the queries, default 5m; else 30s)
  --job NAME            Prometheus only: restrict to one service (its job label)
  --timeout D           most one read may take (default 5s; 10s with --prometheus)
  --strict              exit 3 when a target is missed (a gate for CI)
  --format text|markdown|json
  -h, --help            this text`,
  doctor: `usage: echoes-otel doctor [options]

check the collector, Prometheus, Alertmanager, Loki, Tempo, Grafana and the embedded endpoint

  --collector URL       (http://127.0.0.1:13133)
  --otlp URL            (OTEL_EXPORTER_OTLP_ENDPOINT, else http://127.0.0.1:4318)
  --prometheus URL      (http://127.0.0.1:9090)
  --alertmanager URL    (http://127.0.0.1:9093)
  --loki URL            (http://127.0.0.1:3100)
  --tempo URL           (http://127.0.0.1:3200)
  --grafana URL         (http://127.0.0.1:3000)
  --metrics-url URL     (http://127.0.0.1:9464/metrics)
  --only a,b            only these checks
  --timeout D           per check (3s)
  --format text|json
  -h, --help            this text`,
  'check-config': `usage: echoes-otel check-config [options]

print the effective configuration (secrets masked); exit 1 on errors

  --format text|json
  -h, --help            this text`,
} as const;
export type CommandName = keyof typeof COMMAND_HELP;

export const USAGE = `usage: echoes-otel <command> [options]

commands:
  load          drive the reference service at a rate for a duration
  report        the audit's before/after table (section 8), measured
  doctor        check the collector, Prometheus, Alertmanager, Loki, Tempo, Grafana, /metrics
  check-config  print the effective configuration (secrets masked); non-zero exit on errors

  echoes-otel <command> -h|--help    that command's options
  echoes-otel -V|--version           the version`;
