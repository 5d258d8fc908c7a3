import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** Every `.log` file of a log directory, concatenated. */
function logText(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

/**
 * The package as a user gets it: `npm pack`, then `npm install <tarball>` into a fresh app, which
 * runs the preload, the public API (JavaScript and TypeScript) and the CLI from node_modules.
 */

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};
const work = mkdtempSync(join(tmpdir(), 'echoes-package-'));
const app = join(work, 'app');
let install: { stdout: string; stderr: string; ms: number };

function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

beforeAll(() => {
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1)!;
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true, type: 'module' }),
  );
  const t0 = Date.now();
  const r = spawnSync(
    'npm',
    ['install', join(work, tgz), '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'],
    { cwd: app, encoding: 'utf8' },
  );
  install = { stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
  if (r.status !== 0) throw new Error(`npm install of the tarball failed:\n${r.stderr}`);
}, 180_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  it('depends only on what the bundle loads at run time', () => {
    // yaml is bundled into dist/bundle/yaml.cjs (scripts/bundle.mjs).
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['import-in-the-middle']);
  });

  it('installs small, with no warning (no install script)', () => {
    const modules = join(app, 'node_modules');
    const bytes = duBytes(modules);
    const packages = Object.keys(
      (
        JSON.parse(readFileSync(join(modules, '.package-lock.json'), 'utf8')) as {
          packages: Record<string, unknown>;
        }
      ).packages,
    ).length;
    console.log(
      `npm install echoes-otel: ${(bytes / 1024 / 1024).toFixed(1)} MiB of node_modules, ${packages} packages, ${install.ms} ms`,
    );
    expect(bytes).toBeLessThan(10 * 1024 * 1024);
    expect(install.stderr).not.toMatch(/warn/i);
    expect(readdirSync(join(modules, 'echoes-otel')).sort()).toEqual([
      'LICENSE',
      'README.md',
      'dist',
      'package.json',
    ]);
  });

  it('type-checks an app against its public types without the SDK packages installed', () => {
    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { createCache, logger, shutdownEchoes, type EchoesLogger } from 'echoes-otel';",
        "const log: EchoesLogger = logger.child({ part: 'main' });",
        "const c = createCache<string, number>({ name: 'c', maxEntries: 10 });",
        "c.set('a', 1);",
        "log.info('x', { n: c.get('a') });",
        'await shutdownEchoes();',
        '',
      ].join('\n'),
    );
    const r = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--target',
        'es2022',
        '--skipLibCheck',
        'false',
        '--types',
        'node',
        '--typeRoots',
        join(REPO_ROOT, 'node_modules/@types'),
        'main.ts',
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  describe.each(NODE_BINARIES)('under $label', ({ path: node }) => {
    it('runs the preload and the public API from node_modules', () => {
      const logs = join(work, `logs-${node.length}-${Date.now()}`);
      writeFileSync(
        join(app, 'app.mjs'),
        [
          "import { createCache, logger, shutdownEchoes } from 'echoes-otel';",
          "const c = createCache({ name: 'models', maxEntries: 4 });",
          "c.set('a', 1); c.get('a'); c.get('b');",
          "logger.info('hello from a fresh app', { hits: 1 });",
          'await shutdownEchoes();',
          '',
        ].join('\n'),
      );
      const r = spawnSync(node, ['--import', 'echoes-otel/register', 'app.mjs'], {
        cwd: app,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          ECHOES_PROMETHEUS: 'off',
          ECHOES_LOG_CONSOLE: 'off',
          ECHOES_LOG_DIR: logs,
        },
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const text = logText(logs);
      expect(text).toContain('"message":"hello from a fresh app"');
      expect(text).toContain('"service.name":"fresh-app"');
    });

    it('honours a config/config.yaml through its own yaml.cjs, with no yaml package installed', () => {
      expect(existsSync(join(app, 'node_modules/yaml'))).toBe(false);
      // A directory of the app's own (it resolves echoes-otel from the app's node_modules).
      const cwd = join(app, `cfg-${node.length}-${Date.now()}`);
      const logs = join(cwd, 'logs');
      mkdirSync(join(cwd, 'config'), { recursive: true });
      writeFileSync(
        join(cwd, 'config/config.yaml'),
        "logging:\n  level: 'WARNING'\n  console_output: false\n",
      );
      writeFileSync(
        join(cwd, 'app.mjs'),
        [
          "import { logger, shutdownEchoes } from 'echoes-otel';",
          "logger.info('below the configured level');",
          "logger.warn('at the configured level');",
          'await shutdownEchoes();',
          '',
        ].join('\n'),
      );
      const env = {
        PATH: process.env.PATH ?? '',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        ECHOES_PROMETHEUS: 'off',
        ECHOES_LOG_DIR: logs,
      };
      const r = spawnSync(node, ['--import', 'echoes-otel/register', 'app.mjs'], {
        cwd,
        encoding: 'utf8',
        env,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const text = logText(logs);
      expect(text).toContain('"message":"at the configured level"');
      expect(text).not.toContain('below the configured level');
      const bin = join(app, 'node_modules/.bin/echoes-otel');
      const c = spawnSync(node, [bin, 'check-config', '--format', 'json'], {
        cwd,
        encoding: 'utf8',
        env,
      });
      expect(c.status).toBe(0);
      expect(JSON.parse(c.stdout)).toHaveProperty('config.logs.level', 'warn');
    });

    it('runs the CLI from node_modules/.bin', () => {
      const bin = join(app, 'node_modules/.bin/echoes-otel');
      const v = spawnSync(node, [bin, '-V'], { cwd: app, encoding: 'utf8' });
      expect(v.stdout.trim()).toBe(pkg.version);
      const c = spawnSync(node, [bin, 'check-config', '--format', 'json'], {
        cwd: app,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(c.status).toBe(0);
      expect(JSON.parse(c.stdout)).toHaveProperty('config.serviceName', 'fresh-app');
    });
  });
});
