import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES, type NodeBinary } from '../helpers/node-versions.js';
import { startOtlpReceiver, type FlatSpan, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, requireBuilt, spawnNode, type Spawned } from '../helpers/spawn.js';
import { REGISTER, REPO_ROOT } from '../helpers/paths.js';

// The app's own @opentelemetry/api, whatever 1.x it is (docs/api-compat.md). Apps whose
// node_modules/@opentelemetry/api is a real copy of 1.9.1 or 1.10.0 (installed by npm ci under
// the otel-api-1-9 / otel-api-1-10 aliases, copied into each app folder here) make manual spans
// inside a request under the built preload, ESM and CJS, Node 20 and 24: every span records,
// reaches the OTLP receiver, and is a child of the server span. No copy newer than the bundled
// 1.10.0 exists on npm, so the warning for a too-new copy is checked against a bundle built here
// on API 1.9.1 (scripts/bundle.mjs with ECHOES_BUNDLE_API), with the real 1.10.0 as the app's.

const FIXTURES = join(REPO_ROOT, 'test/fixtures/api');
const OLD_BUNDLE = join(REPO_ROOT, 'dist/test-bundles/api-1-9');
const SERVER = 2;
const WARNING = /cannot see the providers echoes-otel registered/;
const COPIES = [
  { alias: 'otel-api-1-9', version: '1.9.1' },
  { alias: 'otel-api-1-10', version: '1.10.0' },
] as const;

let rx: OtlpReceiver;
let tmp: string;
const appDirs = new Map<string, string>();

beforeAll(async () => {
  requireBuilt();
  rx = await startOtlpReceiver();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-api-compat-'));
  for (const { alias, version } of COPIES) {
    const dir = join(tmp, `app-${version}`);
    const api = join(dir, 'node_modules/@opentelemetry/api');
    mkdirSync(api, { recursive: true });
    cpSync(join(REPO_ROOT, 'node_modules', alias), api, { recursive: true, dereference: true });
    const installed = JSON.parse(readFileSync(join(api, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    expect(installed).toMatchObject({ name: '@opentelemetry/api', version });
    for (const f of ['app.mjs', 'app.cjs']) cpSync(join(FIXTURES, f), join(dir, f));
    appDirs.set(version, dir);
  }
  // The same sources, bundled on API 1.9.1: registers a global that 1.10.0 refuses.
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/bundle.mjs')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ECHOES_BUNDLE_OUT: OLD_BUNDLE, ECHOES_BUNDLE_API: 'otel-api-1-9' },
    stdio: 'pipe',
  });
}, 120_000);

afterAll(async () => {
  killAll();
  await rx?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  rmSync(OLD_BUNDLE, { recursive: true, force: true });
});

interface Seen {
  server?: { traceId: string; spanId: string };
  recording: [boolean, boolean];
  parent: { traceId: string; spanId: string };
  child: { traceId: string; spanId: string };
}

function startApp(node: NodeBinary, register: string, version: string, fixture: string) {
  const service = `api-${version}-${fixture.replace('.', '-')}-${randomBytes(3).toString('hex')}`;
  const cwd = appDirs.get(version)!;
  const app = spawnNode(node.path, ['--import', register, join(cwd, fixture)], {
    cwd,
    env: {
      PATH: process.env.PATH,
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      ECHOES_PROMETHEUS: 'off',
      ECHOES_DIRS: 'none',
      ECHOES_LOG_CONSOLE: 'off',
      ECHOES_LOG_DIR: join(tmp, `logs-${service}`),
    },
  });
  return { app, service };
}

async function request(app: Spawned): Promise<Seen> {
  const port = Number((await app.waitFor(/READY (\d+)/))[1]);
  const res = await fetch(`http://127.0.0.1:${port}/work`);
  expect(res.status).toBe(200);
  return (await res.json()) as Seen;
}

async function stop(app: Spawned): Promise<void> {
  app.kill('SIGTERM');
  const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
  if ((await Promise.race([app.exited, deadline])) === 'timeout') {
    app.kill('SIGKILL');
    await app.exited;
  }
}

describe.each(
  NODE_BINARIES.flatMap((node) =>
    COPIES.flatMap(({ version }) =>
      ['app.mjs', 'app.cjs'].map((fixture) => ({ node, version, fixture })),
    ),
  ),
)(
  'an app on @opentelemetry/api $version under $node.label, $fixture',
  ({ node, version, fixture }) => {
    it('records and exports its manual spans as children of the server span, with no warning', async () => {
      const { app, service } = startApp(node, REGISTER, version, fixture);
      try {
        const seen = await request(app);
        expect(seen.recording).toEqual([true, true]);
        expect(seen.server?.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(seen.server!.traceId).not.toBe('0'.repeat(32));
        const traceId = seen.server!.traceId;

        const mine = (s: FlatSpan) =>
          s.resource['service.name'] === service && s.traceId === traceId;
        const spans = await rx.waitForSpans(mine, 3, 20_000);
        const server = spans.find((s) => s.kind === SERVER)!;
        const parent = spans.find((s) => s.name === 'manual.parent')!;
        const child = spans.find((s) => s.name === 'manual.child')!;
        expect(server).toBeDefined();
        expect(server.spanId).toBe(seen.server!.spanId);
        expect(parent.spanId).toBe(seen.parent.spanId);
        expect(parent.parentSpanId).toBe(server.spanId);
        expect(parent.scope).toBe('api-fixture');
        expect(child.spanId).toBe(seen.child.spanId);
        expect(child.parentSpanId).toBe(parent.spanId);
        expect(child.attributes['fixture.format']).toBe(fixture.endsWith('.mjs') ? 'esm' : 'cjs');
      } finally {
        await stop(app);
      }
      expect(app.stderr()).not.toMatch(WARNING);
    });
  },
);

describe.each(
  NODE_BINARIES.flatMap((node) => ['app.mjs', 'app.cjs'].map((fixture) => ({ node, fixture }))),
)('a bundle registering through an older API under $node.label, $fixture', ({ node, fixture }) => {
  it('warns once, naming both versions, when the app copy is newer and cannot see our providers', async () => {
    const { app } = startApp(node, join(OLD_BUNDLE, 'register.js'), '1.10.0', fixture);
    try {
      const seen = await request(app);
      // The failure the warning is about, as it really happens: 1.10.0 refuses a 1.9.1 global.
      expect(seen.recording).toEqual([false, false]);
      expect(seen.parent.traceId).toBe('0'.repeat(32));
      await app.waitFor(WARNING, 10_000, 'stderr');
    } finally {
      await stop(app);
    }
    const lines = app
      .stderr()
      .split('\n')
      .filter((l) => WARNING.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("the app's @opentelemetry/api 1.10.0");
    expect(lines[0]).toContain('registered through @opentelemetry/api 1.9.1');
    expect(lines[0]).toContain('Install @opentelemetry/api@1.9.1');
  });

  it('stays silent for an app copy the older bundle serves (1.9.1)', async () => {
    const { app } = startApp(node, join(OLD_BUNDLE, 'register.js'), '1.9.1', fixture);
    try {
      const seen = await request(app);
      expect(seen.recording).toEqual([true, true]);
    } finally {
      await stop(app);
    }
    expect(app.stderr()).not.toMatch(WARNING);
  });
});
