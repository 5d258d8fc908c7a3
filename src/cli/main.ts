#!/usr/bin/env node
/**
 * The `echoes-otel` command: load, report, doctor, check-config. Every failure ends as one clear
 * message and a non-zero exit (2 for bad input, 1 for things that did not work), never a stack.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CliError,
  UsageError,
  parseCommand,
  parseDuration,
  parseFromZero,
  parseHttpUrl,
  parsePositive,
} from './args.js';
import { checkConfig } from './check-config.js';
import { CHECK_NAMES, formatChecks, runCheck } from './doctor.js';
import type { CheckName, Target } from './doctor.js';
import { COMMAND_HELP, USAGE, type CommandName } from './help.js';
import { formatSummary, progressBar, runLoad } from './load.js';
import { collectEmbedded, collectPrometheus, evaluate, formatReport } from './report.js';
import type { AuditInputs, Report, ReportFormat } from './report.js';

type Out = (s: string) => void;

export interface CliIo {
  readonly stdout: Out;
  readonly stderr: Out;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly isTTY: boolean;
}

function formatFlag(raw: string | boolean | undefined, allowed: readonly string[]): string {
  const v = typeof raw === 'string' ? raw : allowed[0]!;
  if (!allowed.includes(v))
    throw new UsageError(`--format must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

async function cmdLoad(argv: string[], io: CliIo): Promise<number> {
  const v = parseCommand(argv, {
    url: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    sessions: { type: 'string' },
    concurrency: { type: 'string' },
    'latency-ms': { type: 'string' },
    'failure-rate': { type: 'string' },
    format: { type: 'string' },
  });
  if (v.help) return usage(io, 'load');
  const format = formatFlag(v.format, ['text', 'json']);
  const url = parseHttpUrl(str(v.url) ?? 'http://127.0.0.1:8080', '--url');
  const rate = parsePositive(str(v.rate) ?? '20', '--rate', 10_000);
  const durationMs = parseDuration(str(v.duration) ?? '30s', '--duration', {
    minMs: 100,
    maxMs: 86_400_000,
  });
  const sessions = parsePositive(str(v.sessions) ?? '20', '--sessions', 100_000, true);
  const concurrency = parsePositive(str(v.concurrency) ?? '256', '--concurrency', 10_000, true);
  const failureRate = parseFromZero(str(v['failure-rate']), '--failure-rate', 1);
  const latencyMs = parseFromZero(str(v['latency-ms']), '--latency-ms', 60_000);
  let lastLine = -1;
  const summary = await runLoad({
    url,
    rate,
    durationMs,
    sessions,
    concurrency,
    ...(latencyMs !== undefined && { latencyMs }),
    ...(failureRate !== undefined && { failureRate }),
    onProgress: (p) => {
      if (io.isTTY) {
        io.stderr(`\r${progressBar(p)}\x1b[K`);
        if (p.elapsedMs >= p.durationMs) io.stderr('\n');
        return;
      }
      // Not a terminal (CI, a pipe): a plain line every 5 s instead of a redrawn bar.
      const slot = Math.floor(p.elapsedMs / 5000);
      if (slot > lastLine && p.elapsedMs < p.durationMs) {
        lastLine = slot;
        io.stderr(
          `load: ${(p.elapsedMs / 1000).toFixed(0)}s sent ${p.sent} ok ${p.ok} errors ${p.errors}\n`,
        );
      }
    },
  });
  io.stdout(format === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  if (summary.ok === 0) {
    throw new CliError('no request succeeded');
  }
  return 0;
}

async function cmdReport(argv: string[], io: CliIo): Promise<number> {
  const v = parseCommand(argv, {
    prometheus: { type: 'string' },
    'metrics-url': { type: 'string' },
    window: { type: 'string' },
    job: { type: 'string' },
    timeout: { type: 'string' },
    strict: { type: 'boolean' },
    format: { type: 'string' },
  });
  if (v.help) return usage(io, 'report');
  const format = formatFlag(v.format, ['text', 'markdown', 'json']) as ReportFormat;
  if (v.prometheus !== undefined && v['metrics-url'] !== undefined) {
    throw new UsageError('give either --prometheus or --metrics-url, not both');
  }
  if (v.job !== undefined && v.prometheus === undefined)
    throw new UsageError('--job only applies with --prometheus');
  const source: Report['source'] = v.prometheus !== undefined ? 'prometheus' : 'embedded';
  const timeoutMs = parseDuration(
    str(v.timeout) ?? (source === 'prometheus' ? '10s' : '5s'),
    '--timeout',
    { minMs: 50, maxMs: 300_000 },
  );
  let url: URL;
  let windowMs: number;
  let inputs: AuditInputs;
  let sinceStart: Report['sinceStart'];
  if (source === 'prometheus') {
    url = parseHttpUrl(str(v.prometheus), '--prometheus');
    windowMs = parseDuration(str(v.window) ?? '5m', '--window', {
      minMs: 1000,
      maxMs: 30 * 86_400_000,
    });
    inputs = await collectPrometheus({
      url,
      windowMs,
      timeoutMs,
      ...(typeof v.job === 'string' && { job: v.job }),
    });
  } else {
    url = parseHttpUrl(str(v['metrics-url']) ?? 'http://127.0.0.1:9464/metrics', '--metrics-url');
    windowMs = parseDuration(str(v.window) ?? '30s', '--window', {
      minMs: 1000,
      maxMs: 86_400_000,
    });
    // Say that it samples (and for how long) once the endpoint answered; redraw a progress bar on
    // a terminal. An endpoint that does not answer gets its one error line and nothing else.
    const secs = (windowMs / 1000).toFixed(0);
    const got = await collectEmbedded({
      url,
      windowMs,
      timeoutMs,
      onStart: () =>
        io.stderr(
          `report: sampling ${url.href} for ${secs}s (counters over the window; --window to change)…\n`,
        ),
      onTick: (elapsedMs) => {
        if (!io.isTTY) return;
        const done = Math.min(1, elapsedMs / windowMs);
        const width = 30;
        const bar = '#'.repeat(Math.round(done * width)).padEnd(width, '.');
        io.stderr(`\rreport: [${bar}] ${(elapsedMs / 1000).toFixed(0)}/${secs}s\x1b[K`);
        if (done >= 1) io.stderr('\n');
      },
    });
    inputs = got.inputs;
    sinceStart = got.sinceStart;
    if (sinceStart)
      io.stderr(
        'report: no requests or cache lookups in the window: reporting what the process counted since it started\n',
      );
  }
  const report: Report = {
    source,
    url: url.href,
    windowMs,
    generatedAt: new Date().toISOString(),
    ...(sinceStart && { sinceStart }),
    rows: evaluate(inputs),
    ...(inputs.modelCalls !== undefined && { modelCalls: inputs.modelCalls }),
  };
  io.stdout(formatReport(report, format));
  // --strict turns the table into a gate (CI): exit 3 when a target is missed.
  return v.strict && report.rows.some((r) => r.pass === false) ? 3 : 0;
}

// `duplicates` pairs these option tables with cmdLoad's: each command declares its own flags.
async function cmdDoctor(argv: string[], io: CliIo): Promise<number> {
  const v = parseCommand(argv, {
    collector: { type: 'string' },
    otlp: { type: 'string' },
    prometheus: { type: 'string' },
    alertmanager: { type: 'string' },
    loki: { type: 'string' },
    tempo: { type: 'string' },
    grafana: { type: 'string' },
    'metrics-url': { type: 'string' },
    only: { type: 'string' },
    timeout: { type: 'string' },
    format: { type: 'string' },
  });
  if (v.help) return usage(io, 'doctor');
  const format = formatFlag(v.format, ['text', 'json']);
  const timeoutMs = parseDuration(str(v.timeout) ?? '3s', '--timeout', {
    minMs: 50,
    maxMs: 60_000,
  });
  const otlpDefault = io.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || 'http://127.0.0.1:4318';
  const defaults: Record<CheckName, [string, string]> = {
    collector: ['--collector', 'http://127.0.0.1:13133'],
    otlp: ['--otlp', otlpDefault],
    prometheus: ['--prometheus', 'http://127.0.0.1:9090'],
    alertmanager: ['--alertmanager', 'http://127.0.0.1:9093'],
    loki: ['--loki', 'http://127.0.0.1:3100'],
    tempo: ['--tempo', 'http://127.0.0.1:3200'],
    grafana: ['--grafana', 'http://127.0.0.1:3000'],
    metrics: ['--metrics-url', 'http://127.0.0.1:9464/metrics'],
  };
  let names: CheckName[] = [...CHECK_NAMES];
  if (typeof v.only === 'string') {
    names = v.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean) as CheckName[];
    const bad = names.filter((n) => !CHECK_NAMES.includes(n));
    if (bad.length > 0 || names.length === 0) {
      throw new UsageError(
        `--only takes a comma-separated list of ${CHECK_NAMES.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`,
      );
    }
  }
  const targets: Target[] = names.map((name) => {
    const [flag, fallback] = defaults[name];
    const given = str(v[flag.slice(2)]);
    // Without --otlp the URL is the environment's, and a bad one is named after it.
    const from = given === undefined && name === 'otlp' ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : flag;
    return { name, flag, url: parseHttpUrl(given ?? fallback, from) };
  });
  const results = await Promise.all(targets.map((t) => runCheck(t, timeoutMs)));
  io.stdout(
    format === 'json'
      ? `${JSON.stringify({ ok: results.every((r) => r.ok), checks: results }, null, 2)}\n`
      : formatChecks(results),
  );
  return results.every((r) => r.ok) ? 0 : 1;
}

function cmdCheckConfig(argv: string[], io: CliIo): number {
  const v = parseCommand(argv, {
    format: { type: 'string' },
  });
  if (v.help) return usage(io, 'check-config');
  const format = formatFlag(v.format, ['text', 'json']) as 'text' | 'json';
  const r = checkConfig(format, io.env, io.cwd);
  io.stdout(r.output);
  return r.exitCode;
}

function usage(io: CliIo, command?: CommandName): number {
  io.stdout(`${command === undefined ? USAGE : COMMAND_HELP[command]}\n`);
  return 0;
}

/** This package's version: the nearest package.json above this module (src/ or dist/src/). */
function version(): string {
  for (let up = '../'; up.length <= 12; up += '../') {
    try {
      const pkg = JSON.parse(
        readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8'),
      ) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'echoes-otel') return pkg.version ?? 'unknown';
    } catch {
      // not here: one folder up
    }
  }
  return 'unknown';
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const known = command !== undefined && Object.hasOwn(COMMAND_HELP, command);
  // One format for every failure: `echoes-otel <command>: <message>`.
  const prefix = known ? `echoes-otel ${command}` : 'echoes-otel';
  try {
    switch (command) {
      case 'load':
        return await cmdLoad(rest, io);
      case 'report':
        return await cmdReport(rest, io);
      case 'doctor':
        return await cmdDoctor(rest, io);
      case 'check-config':
        return cmdCheckConfig(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return usage(
          io,
          rest[0] !== undefined && Object.hasOwn(COMMAND_HELP, rest[0])
            ? (rest[0] as CommandName)
            : undefined,
        );
      case '--version':
      case '-V':
      case '-v':
        io.stdout(`${version()}\n`);
        return 0;
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)}; commands: ${Object.keys(COMMAND_HELP).join(', ')}`,
        );
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(
        `${prefix}: ${err.message}\nrun \`${known ? `echoes-otel ${command} --help` : 'echoes-otel --help'}\` for usage\n`,
      );
      return 2;
    }
    if (err instanceof CliError) {
      io.stderr(`${prefix}: ${err.message}\n`);
      return 1;
    }
    // Anything else is our bug; still one line, with a hint for reporting it.
    io.stderr(
      `${prefix}: unexpected error: ${err instanceof Error ? err.message : String(err)} (set ECHOES_CLI_DEBUG=1 for the stack)\n`,
    );
    if (io.env.ECHOES_CLI_DEBUG === '1' && err instanceof Error) io.stderr(`${err.stack}\n`);
    return 1;
  }
}

// Run only as the entry point (the unit tests import runCli).
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    // npm links the bin through a symlink; compare real paths.
    return realpathSync(fileURLToPath(import.meta.url)) === realpathSync(entry);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  runCli(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stderr.isTTY === true,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = 1;
    },
  );
}
