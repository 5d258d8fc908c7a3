import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';
import { killAll, requireBuilt, spawnNode } from '../helpers/spawn.js';

// Issue #11, "Must hold": an app that loads none of the real-service libraries (no framework, no
// database or cache client, no LLM client) evaluates the same modules at startup as before the
// real-services work. Counted from the inside with V8's coverage of the bundle (NODE_V8_COVERAGE):
// esbuild wraps each bundled module in a function named by its path, so every module whose code
// ran has a covered function. The baseline, test/fixtures/real/startup-modules.json, was first
// recorded from main before the #11 branches (2eef70c: 387 modules), then re-recorded after they
// merged (411), accepting only these 24, none of them a library instrumentation's package:
//   - modules split out of ones that already ran (config-*.ts, http-common.ts, sdk-internals.ts;
//     later fs-ops/-originals/-record/-wrap.ts and log-core.ts, five more: 416);
//   - the stand-ins that make "pay only for what the app loads" work: library-table.ts and
//     libraries.ts (register the library names with the shared require hook), http-undici.ts
//     (subscribes to undici's channels), http-frameworks.ts (the express/koa module hooks), and
//     the small modules libraries.ts imports (db-query.ts, db-metrics.ts; genai.ts was one
//     until the openai instrumentation became ours: it now loads with `openai`);
//   - @opentelemetry/api 1.10's logs modules (the bundle registers through 1.10: api-compat.ts).
// When instrumentation/ got its folders, it was recorded from main's bundle just before the move,
// its keys renamed to the new paths, and found equal to the new build's (416 both). When http.ts
// was split into http-server.ts and http-client.ts (code that already ran), those two were added
// (418); then otel-api.ts, the api and core constants the hot modules read instead of the
// bundle's interop getters (419). Then the bundle's @opentelemetry/semantic-conventions became one
// generated module with just the names the bundled code reads (scripts/semconv-subset.mjs):
// dist/semconv-subset/@opentelemetry/semantic-conventions/dist/index.cjs was added (420), and
// the package's seven modules (every table, deprecated ones included) no longer run. Re-recorded
// on 2026-12-03 for require-once.ts (instrumentations.ts imports it: each require of the app
// resolves once); the same run dropped modules that no longer ran (genai.js,
// winston-daily-rotate-file and its moment, file-stream-rotator, object-hash, readable-stream:
// the log writer left them earlier). Re-recorded on 2026-12-04 for require-hook.ts (sdk.ts
// narrows upstream's shared require hook to the registered packages before it is created).
// `ECHOES_RECORD_STARTUP_MODULES=<register.js of another build>` re-records it
// from that build (e.g. main's before a merge), `=1` from this build: only when the set is meant
// to change, saying why in the commit. libraries-lazy.test.ts checks the other half:
// a library's instrumentation code runs only once the app loads that library.

const BASELINE = join(REPO_ROOT, 'test/fixtures/real/startup-modules.json');
const RECORD_FROM = process.env.ECHOES_RECORD_STARTUP_MODULES;
const RECORD = RECORD_FROM !== undefined && RECORD_FROM !== '';
const PRELOAD = RECORD && RECORD_FROM !== '1' ? RECORD_FROM : REGISTER;
const APPS = {
  commonjs: ['-e', '0'],
  esm: ['--input-type=module', '-e', 'await Promise.resolve(0)'],
} as const;

type Baseline = Record<string, Record<keyof typeof APPS, string[]>>;

let tmp: string;
let seq = 0;
const recorded: Baseline = {};

beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-startup-modules-'));
});

afterAll(() => {
  killAll();
  if (RECORD) writeFileSync(BASELINE, `${JSON.stringify(recorded, null, 2)}\n`);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * A module's name, independent of which copy of @opentelemetry/api the bundle carries (the
 * package itself, or an npm alias of a newer 1.x with another file layout): `api:<path>`.
 */
export function moduleKey(path: string): string {
  const api =
    /^node_modules\/(?:@opentelemetry\/api\/build\/(?:src|esm)|[^/]*api[^/]*\/dist)\/(.+)\.c?js$/.exec(
      path,
    );
  return api ? `api:${api[1]}` : path;
}

/** Bundled modules (keys) whose code ran in `node --import register <args>`. */
async function evaluated(node: string, args: readonly string[]): Promise<string[]> {
  const dir = join(tmp, `run-${++seq}`);
  const app = spawnNode(node, ['--import', PRELOAD, ...args], {
    cwd: tmp,
    env: {
      PATH: process.env.PATH,
      NODE_V8_COVERAGE: join(dir, 'cov'),
      ECHOES_LOG_DIR: join(dir, 'logs'),
      ECHOES_LOG_CONSOLE: 'off',
      ECHOES_PROMETHEUS: 'off',
      // Nothing listens here: the exit export fails quietly; what is loaded does not change.
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    },
  });
  const exit = await app.exited;
  expect(exit.code, app.stderr()).toBe(0);
  const out = new Set<string>();
  for (const f of readdirSync(join(dir, 'cov'))) {
    const report = JSON.parse(readFileSync(join(dir, 'cov', f), 'utf8')) as {
      result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
    };
    for (const script of report.result) {
      // core.cjs since the code cache (compile-cache.ts); core.js before, and in older builds.
      if (!/\/dist\/bundle\/core\.c?js$/.test(script.url)) continue;
      for (const fn of script.functions) {
        if (fn.ranges[0]!.count > 0 && /^(node_modules|dist)\//.test(fn.functionName)) {
          out.add(moduleKey(fn.functionName));
        }
      }
    }
  }
  return [...out].sort();
}

describe.each(NODE_BINARIES)(
  'startup modules of an app using no real-service library, $label',
  (node) => {
    const major = node.version.split('.')[0]!;
    it.each(Object.keys(APPS) as (keyof typeof APPS)[])(
      'are the modules evaluated before the real-services work (%s app)',
      async (kind) => {
        const now = await evaluated(node.path, APPS[kind]);
        // A control: the counting works on this bundle (the SDK did start).
        expect(now.some((m) => m.includes('/sdk-trace-base/'))).toBe(true);
        if (RECORD) {
          (recorded[major] ??= {} as Baseline[string])[kind] = now;
          return;
        }
        const baseline = (JSON.parse(readFileSync(BASELINE, 'utf8')) as Baseline)[major]?.[kind];
        expect(baseline, `no baseline for Node ${major} in ${BASELINE}`).toBeDefined();
        const before = new Set(baseline);
        const added = now.filter((m) => !before.has(m));
        console.log(
          `[node ${node.version}, ${kind}] bundled modules evaluated at startup: ${now.length} (before #11: ${baseline!.length})`,
        );
        expect(
          added,
          `evaluated at startup, not before #11 (${now.length} now, ${baseline!.length} before)`,
        ).toEqual([]);
      },
    );
  },
);
