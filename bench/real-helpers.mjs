// The tests' real-server helpers (test/helpers/{postgres,redis,openai-server,downstream,mariadb}.ts),
// for the benchmarks: bundled once with esbuild into a temp .mjs (they use Node built-ins only),
// so the benchmark runs the very servers the tests run, on plain Node 20, outside vitest.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** { startPostgres, startRedis, startOpenAIServer, startDownstream, startMariaDb, ... } */
export async function loadRealHelpers() {
  const dir = mkdtempSync(join(tmpdir(), 'echoes-bench-helpers-'));
  const outfile = join(dir, 'helpers.mjs');
  try {
    await build({
      stdin: {
        contents: ['postgres', 'redis', 'openai-server', 'downstream', 'mariadb']
          .map((h) => `export * from './test/helpers/${h}.ts';`)
          .join('\n'),
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      logLevel: 'warning',
    });
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
