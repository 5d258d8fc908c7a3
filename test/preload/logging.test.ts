import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, sumSamples, type Sample } from '../../src/cli/prom-text.js';
import { freePort } from '../helpers/backends.js';
import { canMountTmpfs } from '../helpers/mount.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, requireBuilt, spawnNode } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/logging');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
afterAll(killAll);

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'echoes-preload-log-'));
  dirs.push(d);
  return d;
}

/** The fixture `script` with only PATH and `env` in its environment, under the preload unless `preload` is false. */
function run(
  node: string,
  script: string,
  env: Record<string, string>,
  cwd: string,
  preload = true,
) {
  return spawnNode(node, [...(preload ? ['--import', REGISTER] : []), script], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
}

/** Numbered ids found in the log files of `dir` (active, rotated and gzipped), with their counts. */
function idsOnDisk(dir: string): Map<number, number> {
  const seen = new Map<number, number>();
  for (const n of readdirSync(dir).filter((f) => /\.log(\.\d+)?(\.gz)?$/.test(f))) {
    const buf = readFileSync(join(dir, n));
    const text = n.endsWith('.gz') ? gunzipSync(buf).toString('utf8') : buf.toString('utf8');
    for (const l of text.split('\n')) {
      if (!l) continue;
      const rec = JSON.parse(l) as { id?: number };
      if (typeof rec.id === 'number') seen.set(rec.id, (seen.get(rec.id) ?? 0) + 1);
    }
  }
  return seen;
}

const quietEnv = (logDir: string): Record<string, string> => ({
  OTEL_SERVICE_NAME: 'logging-fixture',
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  ECHOES_PROMETHEUS: 'off',
  ECHOES_DIRS: 'none',
  ECHOES_LOG_DIR: logDir,
  ECHOES_LOG_CONSOLE: 'off',
  ECHOES_LOG_MAX_BYTES: '256k',
  ECHOES_LOG_BACKUP_COUNT: '1000',
});

beforeAll(requireBuilt);

describe.each(NODE_BINARIES)('logging through the preload ($label)', ({ path: node }) => {
  it('keeps every line logged before SIGTERM on disk (no app handler: the preload flushes, then re-raises)', async () => {
    const dir = tempDir();
    const r = run(node, join(FIXTURES, 'sigterm-app.mjs'), quietEnv(dir), dir);
    // Let it log (and rotate) for a while, then signal: every id below the last printed count was logged before.
    const m = await r.waitFor(/logged (\d{5,})\n/);
    const before = Number(m[1]);
    r.markTime();
    r.kill('SIGTERM');
    const exit = await r.exited;
    // Killed by the re-raised signal, as without us, and well inside the 2 s deadline although
    // the app keeps logging during the flush.
    expect(exit.signal).toBe('SIGTERM');
    expect(exit.ms).toBeLessThan(2000);
    const seen = idsOnDisk(dir);
    const missing: number[] = [];
    for (let id = 0; id < before; id++) if (seen.get(id) !== 1) missing.push(id);
    expect(missing.slice(0, 10)).toEqual([]);
    // No gaps even past the printed count: the tail before the signal is complete too.
    let max = -1;
    for (const id of seen.keys()) if (id > max) max = id;
    expect(seen.size).toBe(max + 1);
  });

  it('keeps every line logged before SIGTERM on disk when the app has its own SIGTERM handler', async () => {
    const dir = tempDir();
    const countFile = join(dir, 'count.txt');
    const r = run(
      node,
      join(FIXTURES, 'sigterm-app.mjs'),
      { ...quietEnv(dir), APP_HANDLER: '1', COUNT_FILE: countFile },
      dir,
    );
    await r.waitFor(/logged (\d{5,})\n/);
    r.kill('SIGTERM');
    const exit = await r.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    const count = Number(readFileSync(countFile, 'utf8'));
    const seen = idsOnDisk(dir);
    expect(seen.size).toBe(count);
    for (let id = 0; id < count; id++)
      if (seen.get(id) !== 1) throw new Error(`id ${id} seen ${seen.get(id) ?? 0} times`);
  });
});

describe.each(NODE_BINARIES)(
  'log-growth metrics on the embedded Prometheus endpoint ($label)',
  ({ path: node }) => {
    it('counts records by level, truncations, rotations and exactly the bytes on disk', async () => {
      const dir = tempDir();
      const port = await freePort();
      const r = run(
        node,
        join(FIXTURES, 'metrics-app.mjs'),
        {
          ...quietEnv(dir),
          ECHOES_PROMETHEUS: 'on',
          OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
          ECHOES_LOG_MAX_BYTES: '16k',
          ECHOES_LOG_MAX_MESSAGE_BYTES: '1024',
          ECHOES_LOG_GZIP: 'off',
          INFO_LINES: '2000',
          ERROR_LINES: '7',
        },
        dir,
      );
      await r.waitFor(/done\n/);
      const onDisk = (): number =>
        readdirSync(dir)
          .filter((f) => /\.log(\.\d+)?$/.test(f))
          .reduce((n, f) => n + readFileSync(join(dir, f)).length, 0);
      // Poll until the file bytes counted equal the bytes on disk (the last batch lands asynchronously).
      const deadline = Date.now() + 20_000;
      let samples: readonly Sample[] = [];
      for (;;) {
        samples = parseExposition(
          await fetch(`http://127.0.0.1:${port}/metrics`).then(
            (res) => res.text(),
            () => '',
          ),
        );
        const written = sumSamples(samples, 'echoes_log_written_bytes_total', { log_sink: 'file' });
        if (written !== undefined && written === onDisk()) break;
        if (Date.now() > deadline)
          throw new Error(`file bytes never matched: metric ${written}, on disk ${onDisk()}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(sumSamples(samples, 'echoes_log_records_total', { log_level: 'info' })).toBe(2001);
      expect(sumSamples(samples, 'echoes_log_records_total', { log_level: 'error' })).toBe(7);
      expect(sumSamples(samples, 'echoes_log_dropped_total', { reason: 'truncated' })).toBe(1);
      expect(sumSamples(samples, 'echoes_log_rotations_total', {})).toBeGreaterThan(5);
      // The sink's own writes are disk I/O of the `logs` path group (fs learns an fd's group from
      // its open, so fs must be patched before the sink opens its first file), never `other`.
      const fsWritten = (group: string): number =>
        sumSamples(samples, 'echoes_fs_io_bytes_total', {
          fs_direction: 'write',
          fs_path_group: group,
        }) ?? 0;
      expect(fsWritten('logs')).toBeGreaterThanOrEqual(onDisk());
      expect(fsWritten('other')).toBe(0);
      r.kill('SIGTERM');
      await r.exited;
    });
  },
);

describe.each(NODE_BINARIES)('the logger in worker threads ($label)', ({ path: node }) => {
  it('writes files from the main thread only; worker lines go to stderr', async () => {
    const dir = tempDir();
    const r = run(node, join(FIXTURES, 'worker-app.mjs'), quietEnv(dir), dir);
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    const fileText = readdirSync(dir)
      .filter((f) => /\.log(\.\d+)?$/.test(f))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
    expect(fileText.match(/"message":"main line"/g)).toHaveLength(100);
    expect(fileText).toContain('"message":"worker done"');
    expect(fileText).not.toContain('worker line');
    expect(r.stderr().match(/"message":"worker line"/g)).toHaveLength(50);
  });
});

describe.each(NODE_BINARIES)('the logger without the preload ($label)', ({ path: node }) => {
  it('builds itself from the environment and writes every line by the time the app ends on its own', async () => {
    const dir = tempDir();
    const r = run(
      node,
      join(FIXTURES, 'lazy-app.mjs'),
      { ...quietEnv(dir), LINES: '30000' },
      dir,
      false,
    );
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    const seen = idsOnDisk(dir);
    expect(seen.size).toBe(30_001);
    for (const c of seen.values()) expect(c).toBe(1);
    const text = readdirSync(dir)
      .filter((f) => /\.log(\.\d+)?(\.gz)?$/.test(f))
      .map((f) =>
        (f.endsWith('.gz')
          ? gunzipSync(readFileSync(join(dir, f)))
          : readFileSync(join(dir, f))
        ).toString('utf8'),
      )
      .join('');
    expect(text).toContain('"password":"[REDACTED]"');
    expect(text).not.toContain('hunter2');
  });
});

describe.each(NODE_BINARIES)('shutdownEchoes without the preload ($label)', ({ path: node }) => {
  it('flushes and closes the logger, so process.exit() right after it loses no line', async () => {
    const dir = tempDir();
    const r = run(
      node,
      join(FIXTURES, 'exit-app.mjs'),
      { ...quietEnv(dir), LINES: '50000' },
      dir,
      false,
    );
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    const seen = idsOnDisk(dir);
    expect(seen.size).toBe(50_000);
    for (const c of seen.values()) expect(c).toBe(1);
  });
});

const fileWarnings = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => /^echoes-otel: .*log file/.test(l));

describe.each(NODE_BINARIES)('log file faults through the preload ($label)', ({ path: node }) => {
  it('keeps the app logging when the log dir is a regular file: one warning, lines kept on stderr', async () => {
    const dir = tempDir();
    const notADir = join(dir, 'logs');
    writeFileSync(notADir, 'a regular file');
    const r = run(node, join(FIXTURES, 'sigterm-app.mjs'), quietEnv(notADir), dir);
    await r.waitFor(/logged \d{5,}\n/);
    const progressed = Number(/logged (\d+)\n$/.exec(r.stdout())?.[1]);
    await r.waitFor(new RegExp(`logged ${progressed + 2000}\n`));
    r.kill('SIGTERM');
    await r.exited;
    expect(fileWarnings(r.stderr())).toHaveLength(1);
    expect(r.stderr()).toMatch(/"message":"numbered line"/);
    expect(readFileSync(notADir, 'utf8')).toBe('a regular file');
  });

  it.skipIf(!canMountTmpfs)(
    'keeps the app logging on a full disk (256 KiB tmpfs): one ENOSPC warning',
    async () => {
      const dir = tempDir();
      const logDir = join(dir, 'logs');
      execFileSync('mkdir', ['-p', logDir]);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', logDir]);
      try {
        const r = run(
          node,
          join(FIXTURES, 'sigterm-app.mjs'),
          { ...quietEnv(logDir), ECHOES_LOG_MAX_BYTES: '10m' },
          dir,
        );
        // ~100 bytes a line: 20 000 lines are far more than 256 KiB.
        await r.waitFor(/logged [2-9]\d{4}\n/);
        await r.waitFor(/logged \d{6}\n/);
        r.kill('SIGTERM');
        const exit = await r.exited;
        expect(exit.signal).toBe('SIGTERM');
        const warnings = fileWarnings(r.stderr());
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/ENOSPC.*disk_full/);
      } finally {
        execFileSync('umount', ['-l', logDir]);
      }
    },
  );
});

describe.each(NODE_BINARIES)(
  'app-created winston loggers through the preload ($label)',
  ({ path: node }) => {
    let receiver: OtlpReceiver;
    beforeAll(async () => {
      receiver = await startOtlpReceiver();
    });
    afterAll(async () => {
      await receiver.close();
    });

    it.each(['winston-app.cjs', 'winston-app.mjs'])(
      '%s: trace ids in the app output, each record over OTLP exactly once, redacted',
      async (fixture) => {
        receiver.clear();
        const dir = tempDir();
        const winstonFile = join(dir, 'app-winston.log');
        const r = run(
          node,
          join(FIXTURES, fixture),
          {
            OTEL_SERVICE_NAME: 'winston-fixture',
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
            OTEL_METRICS_EXPORTER: 'none',
            ECHOES_PROMETHEUS: 'off',
            ECHOES_DIRS: 'none',
            ECHOES_LOG_DIR: join(dir, 'logs'),
            ECHOES_LOG_CONSOLE: 'off',
            WINSTON_FILE: winstonFile,
            APP_LINES: '25',
            OUR_LINES: '15',
          },
          dir,
        );
        const traceId = (await r.waitFor(/trace ([0-9a-f]{32})\n/))[1]!;
        const exit = await r.exited;
        expect(exit.code).toBe(0);

        // The app's own winston output carries the trace context.
        const appLines = readFileSync(winstonFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(appLines).toHaveLength(25);
        for (const l of appLines) expect(l['trace_id']).toBe(traceId);

        const records = await receiver.waitFor(
          (rcv) => {
            const all = rcv
              .logRecords()
              .filter((x) => x.resource['service.name'] === 'winston-fixture');
            return all.length >= 40 ? all : undefined;
          },
          20_000,
          '40 log records',
        );
        const app = records.filter((x) => String(x.body).startsWith('app line'));
        const ours = records.filter((x) => String(x.body).startsWith('our line'));
        // Exactly once each: no duplicate path for either logger.
        expect(app.map((x) => x.attributes['seq']).sort((a, b) => Number(a) - Number(b))).toEqual(
          Array.from({ length: 25 }, (_, i) => i),
        );
        expect(ours.map((x) => x.attributes['seq']).sort((a, b) => Number(a) - Number(b))).toEqual(
          Array.from({ length: 15 }, (_, i) => i),
        );
        expect(records).toHaveLength(40);
        for (const x of [...app, ...ours]) expect(x.traceId).toBe(traceId);
        // Redacted before OTLP, for both loggers.
        const text = JSON.stringify(records);
        expect(text).not.toMatch(/k-123|hunter2|abc\.def\.ghi/);
        expect(app[0]!.attributes['api_key']).toBe('[REDACTED]');
        expect(ours[0]!.attributes['password']).toBe('[REDACTED]');
      },
    );
  },
);
