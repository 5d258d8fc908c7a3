import { spawn } from 'node:child_process';
import { CLI_MAIN } from '../fixtures/service/harness.js';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run the built `echoes-otel` CLI as it ships (dist/bundle/cli.js) under `node`, with nothing from this
 * environment but PATH (plus `env`), and collect its output. `killAfterMs`: SIGKILL a run that
 * has not ended by then (it resolves with code null), so a hung CLI fails its test, not the tier.
 */
export function runCli(
  node: string,
  args: readonly string[],
  env: Record<string, string> = {},
  killAfterMs?: number,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(node, [CLI_MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t =
      killAfterMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
