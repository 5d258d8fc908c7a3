import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';
import { killAll, quietPreloadEnv, requireBuilt, spawnNode } from '../helpers/spawn.js';

// Pay only for what the app loads (issue 11.6), counted from the inside: V8's coverage of the
// bundle (NODE_V8_COVERAGE) names every bundled module whose code ran, because esbuild wraps each
// one in a function keyed by its path (`node_modules/@opentelemetry/instrumentation-pg/...`). An
// instrumentation constructed at startup, or its package evaluated, shows up here. pg and ioredis
// are instrumented by modules of ours (db-pg.ts, db-ioredis.ts and their db-client.ts), bundled
// the same lazy way: they count as library code too, and so are openai's (genai*.ts).

const LIBRARY_CODE =
  /^(node_modules\/(@opentelemetry\/(instrumentation-(pg|mysql2|ioredis|redis|mongodb|openai)|sql-common|redis-common)|@types\/pg)\/|dist\/instrumentation\/signals\/(db-(pg|ioredis|client)|genai(-openai|-metrics)?)\.js$)/;
/** What shows that a library's instrumentation was built: its package, or our module for it. */
const MARKER: Record<string, string> = {
  pg: '/signals/db-pg.js',
  ioredis: '/signals/db-ioredis.js',
  openai: '/signals/genai-openai.js',
};
const markerOf = (lib: string): string => MARKER[lib] ?? `/instrumentation-${lib}/`;
const req = createRequire(join(REPO_ROOT, 'package.json'));
const PG_MAIN = req.resolve('pg');

let tmp: string;
let seq = 0;

beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-libs-lazy-'));
});

afterAll(() => {
  killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Bundled modules (paths) whose code ran in `node --import register <args>`. */
async function evaluated(
  node: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Set<string>> {
  const dir = join(tmp, `run-${++seq}`);
  const app = spawnNode(node, ['--import', REGISTER, ...args], {
    cwd: tmp,
    // No exporter: nothing to warn about; the instrumentations are the same either way.
    env: quietPreloadEnv(join(dir, 'logs'), { NODE_V8_COVERAGE: join(dir, 'cov'), ...env }),
  });
  const exit = await app.exited;
  expect(exit.code, app.stderr()).toBe(0);
  // No instrumentation failed to start or to patch (nor anything else warned).
  expect(app.stderr()).toBe('');
  const out = new Set<string>();
  for (const f of readdirSync(join(dir, 'cov'))) {
    const report = JSON.parse(readFileSync(join(dir, 'cov', f), 'utf8')) as {
      result: {
        url: string;
        functions: { functionName: string; ranges: { count: number }[] }[];
      }[];
    };
    for (const script of report.result) {
      if (!script.url.endsWith('/dist/bundle/core.cjs')) continue;
      for (const fn of script.functions) {
        if (fn.ranges[0]!.count > 0 && /^(node_modules|dist)\//.test(fn.functionName)) {
          out.add(fn.functionName);
        }
      }
    }
  }
  return out;
}

const library = (mods: Set<string>): string[] => [...mods].filter((m) => LIBRARY_CODE.test(m));

describe.each(NODE_BINARIES)('library instrumentations under $label', ({ path: node }) => {
  it('evaluate none of their code in an app that loads none of the libraries (CommonJS and ESM)', async () => {
    const cjs = await evaluated(node, ['-e', '0']);
    // The core did start (a control: the counting works on this bundle).
    expect([...cjs].some((m) => m.includes('/sdk-trace-base/'))).toBe(true);
    expect(library(cjs)).toEqual([]);
    // ESM: the import hook is registered, with the libraries' names on its list.
    const esm = await evaluated(node, ['--input-type=module', '-e', 'await Promise.resolve(0)']);
    expect(library(esm)).toEqual([]);
    console.log(
      `[${node}] bundled modules evaluated at startup: ${cjs.size} (CommonJS app), ${esm.size} (ESM app)`,
    );
  });

  it('evaluate and construct only the instrumentation of the library the app loads, at its load', async () => {
    const cjs = await evaluated(node, [
      '-e',
      `const { Client } = require(${JSON.stringify(PG_MAIN)}); if (!Client.prototype.query.__wrapped) process.exit(5)`,
    ]);
    const loaded = library(cjs);
    expect(loaded.some((m) => m.includes(markerOf('pg')))).toBe(true);
    expect(loaded.filter((m) => !/signals\/db-(pg|client)\.js$/.test(m))).toEqual([]);

    const esm = await evaluated(node, [
      '--input-type=module',
      '-e',
      `const { default: pg } = await import(${JSON.stringify(pathToFileURL(PG_MAIN).href)}); if (!pg.Client.prototype.query.__wrapped) process.exit(5)`,
    ]);
    expect(library(esm).some((m) => m.includes(markerOf('pg')))).toBe(true);
  });

  it('run our own openai instrumentation when openai loads, and none of upstream instrumentation-openai', async () => {
    const main = req.resolve('openai');
    const mods = await evaluated(node, [
      '-e',
      `const { OpenAI } = require(${JSON.stringify(main)}); if (!OpenAI.Chat.Completions.prototype.create.__wrapped) process.exit(5)`,
    ]);
    const loaded = library(mods);
    expect(loaded.some((m) => m.includes(markerOf('openai')))).toBe(true);
    expect(loaded.filter((m) => m.includes('/instrumentation-openai/'))).toEqual([]);
  });

  it('build each library instrumentation without a warning when its library loads, mongodb included (no server needed)', async () => {
    const libs = ['pg', 'mysql2', 'ioredis', 'redis', 'mongodb', 'openai'];
    const paths = libs.map((l) => req.resolve(l));
    const mods = await evaluated(
      node,
      ['-e', `for (const p of ${JSON.stringify(paths)}) require(p)`],
      { OTEL_LOG_LEVEL: 'warn' },
    );
    const loaded = library(mods);
    for (const l of libs) {
      expect(
        loaded.some((m) => m.includes(markerOf(l))),
        l,
      ).toBe(true);
    }
  });

  it('leave a library switched off by OTEL_NODE_DISABLED_INSTRUMENTATIONS alone, even when loaded', async () => {
    const mods = await evaluated(
      node,
      [
        '-e',
        `const { Client } = require(${JSON.stringify(PG_MAIN)}); if (Client.prototype.query.__wrapped) process.exit(5)`,
      ],
      { OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' },
    );
    expect(library(mods)).toEqual([]);
  });
});
