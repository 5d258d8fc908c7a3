#!/usr/bin/env node
// Logger throughput to rotated files: echoes-otel's logger (instrumentation/logging/logger.ts, file sink on
// winston-daily-rotate-file) vs pino with an async destination (`pino.destination({ sync: false })`,
// the baseline the issue names) vs a stock winston logger (json + timestamp formats, DRF transport)
// for reference. 200 000 lines `info('request handled', { id, route, ms, user })`.
//
// Two workloads: `batched` (1 000 lines per event-loop turn, as a busy server logs) and `burst` (all
// 200 000 in one synchronous loop: peak memory). Time runs from the first call until every line is
// on disk (pino: `end()` then the destination's `close`; echoes: `flush()`, which resolves once every
// accepted byte is written; winston: `end()` then the DRF logStream's `finish`). Each measurement is
// a fresh child process; rounds interleave the variants (order rotated), and each ratio is taken
// against pino's figure from the same round, median over rounds. After each child the parent
// counts the ids on disk (gunzipping archives): any missing or duplicated id fails the run.
// Peak memory is the child's maxRSS.
// Needs `npm run build` (reads dist/instrumentation/logging/logger.js).
//
// Env: BENCH_ROUNDS (5), BENCH_LINES (200000).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { median, envInt } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const LINES = envInt('BENCH_LINES', 200_000);
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const VARIANTS = [
  'pino',
  'echoes',
  'echoes+otlp',
  'echoes+otlp-stock',
  'winston',
  'winston-1stringify',
  'sink-per-line',
  'sink-batched',
];
const WORKLOADS = ['batched', 'burst', 'disabled'];
const MAX_BYTES = 10 * 1024 * 1024;

/** Both winston variants write through the same winston-daily-rotate-file transport. */
async function winstonFileTransport(dir) {
  const { default: DailyRotateFile } = await import('winston-daily-rotate-file');
  const transport = new DailyRotateFile({
    dirname: dir,
    filename: 'winston-%DATE%.log',
    maxSize: MAX_BYTES,
    maxFiles: 1000,
    auditFile: join(dir, '.audit.json'),
  });
  transport.logStream.on('error', () => {});
  return transport;
}

async function child(variant, workload, dir) {
  const meta = (i) => ({ id: i, route: '/api/chat', ms: 12.5, user: 'ada' });
  let log;
  let done;
  let debugPino;
  let debugWinston;
  let debugEchoes;
  if (variant === 'pino') {
    const { default: pino } = await import('pino');
    const dest = pino.destination({ dest: join(dir, 'pino.log'), sync: false, mkdir: true });
    const p = pino(
      { base: { 'service.name': 'bench' }, timestamp: pino.stdTimeFunctions.isoTime },
      dest,
    );
    log = (i) => p.info(meta(i), 'request handled');
    debugPino = (i) => p.debug(meta(i), 'request handled');
    done = () =>
      new Promise((resolve) => {
        dest.on('close', resolve);
        dest.end();
      });
  } else if (variant === 'winston-1stringify') {
    // Step 1: winston's Logger + DRF, but one format that builds the line with one JSON.stringify
    // (no logform timestamp/json chain).
    const { default: winston } = await import('winston');
    const { MESSAGE } = await import('triple-beam');
    const transport = await winstonFileTransport(dir);
    const oneStringify = winston.format((info) => {
      info[MESSAGE] = JSON.stringify({
        timestamp: new Date().toISOString(),
        level: info.level,
        message: info.message,
        'service.name': 'bench',
        ...info.meta,
      });
      return info;
    });
    const w = winston.createLogger({
      level: 'info',
      format: oneStringify(),
      transports: [transport],
    });
    log = (i) => w.info('request handled', { meta: meta(i) });
    debugWinston = (i) => w.debug('request handled', { meta: meta(i) });
    done = () =>
      new Promise((resolve) => {
        transport.logStream.on('finish', resolve);
        w.end();
      });
  } else if (variant === 'sink-per-line' || variant === 'sink-batched') {
    // Steps 2 and 3: no winston Logger at all; the line from one JSON.stringify straight into
    // echoes' file sink (DRF underneath), one logStream.write per line vs 64 KiB batches.
    const { createLogFileSink } = await import(
      pathToFileURL(join(root, 'dist/instrumentation/logging/log-file-sink.js')).href
    );
    const sink = createLogFileSink({
      dir,
      name: 'sink',
      maxBytes: MAX_BYTES,
      backupCount: 1000,
      gzip: true,
      ...(variant === 'sink-per-line' ? { chunkBytes: 1 } : {}),
    });
    log = (i) =>
      sink.write(
        JSON.stringify({
          timestamp: new Date().toISOString(),
          level: 'info',
          message: 'request handled',
          'service.name': 'bench',
          ...meta(i),
        }) + '\n',
      );
    debugWinston = () => {};
    done = async () => {
      await sink.flush();
      return () => sink.close();
    };
  } else if (variant === 'winston') {
    const { default: winston } = await import('winston');
    const transport = await winstonFileTransport(dir);
    const w = winston.createLogger({
      level: 'info',
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      defaultMeta: { 'service.name': 'bench' },
      transports: [transport],
    });
    log = (i) => w.info('request handled', meta(i));
    debugWinston = (i) => w.debug('request handled', meta(i));
    done = () =>
      new Promise((resolve) => {
        transport.logStream.on('finish', resolve);
        w.end();
      });
  } else {
    const { setupLogging, logger } = await import(
      pathToFileURL(join(root, 'dist/instrumentation/logging/logger.js')).href
    );
    const { loadConfig } = await import(
      pathToFileURL(join(root, 'dist/instrumentation/config/config.js')).href
    );
    const { metrics } = await import('@opentelemetry/api');
    const otlp = variant.startsWith('echoes+otlp');
    let loggerProvider;
    if (otlp) {
      // echoes' batch processor (the SDK's, plus a queue-full answer to `enabled()`), or the stock
      // one, with an exporter that drops batches: the per-record cost of handing records to the
      // LoggerProvider, without a network.
      const { LoggerProvider, BatchLogRecordProcessor } = await import('@opentelemetry/sdk-logs');
      const { QueueGatedBatchLogRecordProcessor } = await import(
        pathToFileURL(join(root, 'dist/instrumentation/export/log-batch-processor.js')).href
      );
      const Processor =
        variant === 'echoes+otlp-stock'
          ? BatchLogRecordProcessor
          : QueueGatedBatchLogRecordProcessor;
      const exporter = {
        export: (_r, cb) => cb({ code: 0 }),
        shutdown: async () => {},
        forceFlush: async () => {},
      };
      loggerProvider = new LoggerProvider({
        processors: [new Processor({ exporter, maxQueueSize: 2048, scheduledDelayMillis: 200 })],
      });
    } else {
      const { logs } = await import('@opentelemetry/api-logs');
      loggerProvider = logs.getLoggerProvider();
    }
    const { config } = loadConfig(
      {
        serviceName: 'bench',
        logs: {
          exporter: otlp ? 'otlp' : 'none',
          console: false,
          level: 'info',
          file: { dir, name: 'echoes', maxBytes: MAX_BYTES, backupCount: 1000, gzip: true },
        },
        dirs: { enabled: false },
      },
      { env: {}, cwd: dir },
    );
    const feature = setupLogging({ config, meter: metrics.getMeter('bench'), loggerProvider });
    log = (i) => logger.info('request handled', meta(i));
    debugEchoes = (i) => logger.debug('request handled', meta(i));
    done = async () => {
      await feature.flush();
      return async () => {
        await feature.shutdown();
        await loggerProvider.shutdown?.();
      };
    };
  }
  if (workload === 'disabled') {
    // A disabled level: `debug` with the level at info. No line is written.
    const debug =
      variant === 'pino'
        ? debugPino
        : variant.startsWith('winston') || variant.startsWith('sink')
          ? debugWinston
          : debugEchoes;
    const calls = 10_000_000;
    for (let i = 0; i < 100_000; i++) debug(i); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) debug(i);
    const ns = Number(process.hrtime.bigint() - t0) / calls;
    process.stdout.write(
      JSON.stringify({ ms: 0, nsPerCall: ns, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) +
        '\n',
    );
    return;
  }
  const t0 = process.hrtime.bigint();
  if (workload === 'burst') {
    for (let i = 0; i < LINES; i++) log(i);
  } else {
    for (let i = 0; i < LINES;) {
      const end = Math.min(LINES, i + 1000);
      for (; i < end; i++) log(i);
      await new Promise((r) => setImmediate(r));
    }
  }
  const after = await done();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (typeof after === 'function') await after();
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ ms, maxRssMiB }) + '\n');
}

function countIds(dir) {
  const seen = new Uint8Array(LINES);
  let bad = 0;
  for (const n of readdirSync(dir)) {
    if (!/\.log(\.\d+)?(\.gz)?$/.test(n)) continue;
    const buf = readFileSync(join(dir, n));
    const text = n.endsWith('.gz') ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
    for (const l of text.split('\n')) {
      if (!l) continue;
      const m = /"id":(\d+)/.exec(l);
      if (m) seen[Number(m[1])]++;
      else bad++;
    }
  }
  let missing = 0;
  let dup = 0;
  for (const c of seen) {
    if (c === 0) missing++;
    else if (c > 1) dup++;
  }
  return { missing, dup, bad };
}

async function main() {
  const results = {}; // workload -> variant -> [{ms, maxRssMiB, ratio}]
  let lost = 0;
  const loadBefore = os.loadavg()[0];
  for (let round = 0; round < ROUNDS; round++) {
    for (const workload of WORKLOADS) {
      const order = VARIANTS.map((_, k) => VARIANTS[(k + round) % VARIANTS.length]);
      const roundFigures = {};
      for (const variant of order) {
        const dir = mkdtempSync(join(os.tmpdir(), `bench-logger-${variant.replace('+', '-')}-`));
        try {
          const out = execFileSync(
            process.execPath,
            [fileURLToPath(import.meta.url), '--child', variant, workload, dir],
            { cwd: root, encoding: 'utf8', maxBuffer: 1 << 20 },
          );
          const fig = JSON.parse(out.trim().split('\n').at(-1));
          if (workload === 'disabled') {
            roundFigures[variant] = fig;
            console.log(
              `round ${round + 1} disabled ${variant}: ${fig.nsPerCall.toFixed(1)} ns per call`,
            );
            continue;
          }
          const c = countIds(dir);
          if (c.missing || c.dup) {
            lost += c.missing + c.dup;
            console.error(`${variant} ${workload}: ${c.missing} missing, ${c.dup} duplicated ids`);
          }
          roundFigures[variant] = fig;
          console.log(
            `round ${round + 1} ${workload} ${variant}: ${Math.round(LINES / (fig.ms / 1000))} lines/s, ${fig.maxRssMiB.toFixed(0)} MiB peak, ids missing ${c.missing}, dup ${c.dup}`,
          );
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      for (const v of VARIANTS) {
        const ratio =
          workload === 'disabled'
            ? roundFigures[v].nsPerCall / roundFigures.pino.nsPerCall
            : roundFigures.pino.ms / roundFigures[v].ms;
        ((results[workload] ??= {})[v] ??= []).push({ ...roundFigures[v], ratio });
      }
    }
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const lines = [
    '## Logger throughput to rotated files (`bench/logger.mjs`)',
    '',
    `Method: ${LINES.toLocaleString('en')} lines \`info('request handled', { id, route, ms, user })\` per run, each run a fresh`,
    'child process; time from the first call until every line is on disk. Variants interleaved in each',
    `round (order rotated), ${ROUNDS} rounds; throughput ratio = pino time / variant time in the same round,`,
    'median over rounds (higher is better; ≥ 0.8 is the goal). After every run the ids on disk (active',
    'and gunzipped archives) are counted: any missing or duplicated id is reported as lost.',
    '',
    '- pino: pino 9 with `pino.destination({ sync: false })`, ISO timestamps, one plain file (no rotation).',
    '- echoes: `logger.info` of instrumentation/logging/logger.ts, file sink on winston-daily-rotate-file 5.0.0',
    `  (${MAX_BYTES / 1024 / 1024} MiB rotation, gzip), OTLP off (\`OTEL_LOGS_EXPORTER=none\`).`,
    '- echoes+otlp: the same, plus every record emitted to an SDK LoggerProvider with the batch processor',
    "  echoes uses (log-batch-processor.ts: the SDK's BatchLogRecordProcessor, queue 2 048, whose",
    "  `enabled()` is false while its queue is full, so the SDK's Logger builds no record it would drop)",
    '  and an exporter that drops batches: the per-record OTLP hand-off cost, no network.',
    "- echoes+otlp-stock: the same with the SDK's stock BatchLogRecordProcessor, which builds every",
    '  record and drops those arriving while its queue is full (what echoes did before).',
    '- winston: stock `winston.createLogger` (timestamp + json formats) with a DailyRotateFile transport.',
    '- The steps from winston to echoes, each measured: `winston-1stringify` = winston Logger + DRF with one',
    '  format that builds the line by one JSON.stringify (no logform chain); `sink-per-line` = no winston',
    "  Logger, the same line written to echoes' file sink (DRF underneath) one `logStream.write` per line;",
    '  `sink-batched` = the same with 64 KiB batches (what echoes does). The `sink-*` lines come from an',
    '  object spread plus one JSON.stringify of the whole record; echoes instead pre-serialises the',
    '  constant parts and stringifies only the metadata, and adds redaction, trace context, level',
    '  dispatch and counters — which is why it can beat `sink-batched`.',
    '',
    `Machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM; Node ${process.versions.node}; ${new Date().toISOString().slice(0, 10)}; load average (1 min) ${loadBefore.toFixed(2)} at the start, ${os.loadavg()[0].toFixed(2)} at the end (the benchmark itself keeps about one core busy).`,
    '',
    '| workload | variant | lines/s (median) | ratio vs pino (median) | peak RSS MiB (max) |',
    '|---|---|---:|---:|---:|',
  ];
  for (const w of WORKLOADS.filter((x) => x !== 'disabled')) {
    for (const v of VARIANTS) {
      const rs = results[w][v];
      lines.push(
        `| ${w} | ${v} | ${Math.round(median(rs.map((r) => LINES / (r.ms / 1000)))).toLocaleString('en')} | ${median(rs.map((r) => r.ratio)).toFixed(2)}× | ${Math.max(...rs.map((r) => r.maxRssMiB)).toFixed(0)} |`,
      );
    }
  }
  lines.push(
    '',
    'A disabled level (`debug` with the level at `info`, metadata object built by the caller, 10 M calls):',
    '',
    '| variant | ns per call (median) | cost vs pino (median) |',
    '|---|---:|---:|',
    ...['pino', 'echoes', 'winston'].map((v) => {
      const rs = results.disabled[v];
      return `| ${v} | ${median(rs.map((r) => r.nsPerCall)).toFixed(1)} | ${median(rs.map((r) => r.ratio)).toFixed(2)}× |`;
    }),
    '',
    `Lines lost or duplicated across all runs: ${lost}.`,
    '',
    "Notes: pino uses `isoTime` so that both write the same ISO timestamps (pino's default epoch",
    'number is cheaper). Peak RSS is the maximum RSS of the whole child process (Node itself is',
    '~45 MiB) until it exits, so it includes gzipping the rotated files. In the burst workload nothing',
    'can be written before the loop returns: the encoded lines wait in the file stream (~31 MiB for',
    "200 000 lines; pino holds the same in its buffer). Nor can the SDK's batch processor export",
    'within the tick: it keeps one batch (512) and a full queue (2 048 here) and drops the other OTLP',
    "records; the files still hold every line, which is why they are the durable copy. echoes'",
    'processor only spares the SDK building the records it drops. The machine is shared with other',
    'work, so absolute lines/s vary between rounds; the ratios are per round.',
    '',
  );
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'logger.md'), lines.join('\n'));
  console.log(lines.join('\n'));
  if (lost > 0) process.exitCode = 1;
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5]);
} else {
  await main();
}
