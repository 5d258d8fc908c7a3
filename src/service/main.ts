/**
 * Entry point of the reference service: `node --import ./dist/bundle/register.js
 * dist/src/service/main.js` (what `npm start` runs). SIGTERM / SIGINT stop accepting requests and
 * flush pending session writes; the preload's own handler flushes telemetry alongside.
 *
 * It imports echoes-otel the way an application does, by package name and with its types (why
 * that resolves to the preload's own module: telemetry.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createCache, logger, setHttpRoute } from 'echoes-otel';
import { readServiceSettings, SERVICE_DIRS } from './options.js';
import { createEchoesService } from './server.js';
import { createServiceTelemetry } from './telemetry.js';

async function main(): Promise<void> {
  const { settings, warnings } = readServiceSettings(process.env, process.cwd());
  for (const w of warnings) process.stderr.write(`echoes-api: ${w}\n`);
  // Create the watched directories up front, so the directory monitor measures them from the start.
  // (Which directories echoes-otel watches is told to the preload by serviceTelemetryEnv.)
  for (const d of [SERVICE_DIRS.sessions, SERVICE_DIRS.embeddings]) {
    await mkdir(join(settings.dataDir, d), { recursive: true }).catch(() => undefined);
  }
  const telemetry = createServiceTelemetry({ logger, createCache, setHttpRoute });
  const service = createEchoesService(settings, telemetry);
  let address;
  try {
    address = await service.listen(settings.port, settings.host);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (set ECHOES_SERVICE_PORT to a free port)' : '';
    process.stderr.write(
      `echoes-api: cannot listen on ${settings.host}:${settings.port}: ${e.code ?? e.message}${hint}\n`,
    );
    process.exitCode = 1;
    return;
  }
  const url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  telemetry.logger.info('echoes-api listening', { url, session_writes: settings.sessionMode });
  // One machine-readable line: the test fixtures and `npm start` wait for it.
  process.stdout.write(
    `echoes-api listening on ${url} (session writes: ${settings.sessionMode})\n`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`echoes-api: ${signal}, flushing sessions\n`);
    // Backstop only: the process normally ends by itself once the server and the SDK are closed.
    setTimeout(() => process.exit(process.exitCode ?? 0), 5_000).unref();
    service
      .close()
      .then(() => {
        const s = service.sessions.stats();
        telemetry.logger.info('echoes-api stopped', {
          signal,
          session_updates: s.updates,
          session_writes: s.writes,
        });
        process.stdout.write(
          `echoes-api: stopped (${s.updates} session updates, ${s.writes} session file writes)\n`,
        );
      })
      .catch((err: unknown) => {
        process.stderr.write(`echoes-api: flush at shutdown failed: ${String(err)}\n`);
        process.exitCode = 1;
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `echoes-api: failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = 1;
});
