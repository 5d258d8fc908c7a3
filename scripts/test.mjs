#!/usr/bin/env node
// `npm test`: build, make sure the real backends exist (built on first use, with progress), then
// run every test tier that can run on this machine, and close with one plain summary line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostNode as findHostNode } from './host-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();

// This script may itself be running on the bundled Node 24 (scripts/host-node.mjs). Run vitest on
// the machine's own Node and tell the tests which one that is; they add Node 24 themselves.
const hostNode = findHostNode();
process.env.ECHOES_HOST_NODE = hostNode;

function step(title, cmd, args, opts = {}) {
  const t0 = Date.now();
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.error) {
    console.error(`!! ${title} could not start: ${r.error.message}`);
    return 1;
  }
  process.stdout.write(`== ${title}: ${r.status === 0 ? 'ok' : `exit ${r.status}`} (${secs}s)\n`);
  return r.status ?? 1;
}

if (
  step('build (tsc)', process.execPath, [
    join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    'tsconfig.build.json',
  ]) !== 0 ||
  step('build (bundle: dist/bundle, what the package exports)', process.execPath, [
    'scripts/bundle.mjs',
  ]) !== 0 ||
  step('build (package: the CLI bundle and the public types)', process.execPath, [
    'scripts/package-extras.mjs',
  ]) !== 0
) {
  process.exit(1);
}
if (
  step(
    'backends: collector (one build for every tier), Prometheus, Alertmanager, Helm, kubeconform and FerretDB (built on first use, then reused)',
    process.execPath,
    ['scripts/backends.mjs', 'ensure'],
  ) !== 0
) {
  console.error(
    '!! the real collector, Prometheus or Alertmanager could not be built; see the output above',
  );
  process.exit(1);
}

// Real servers the tests run (Redis, PostgreSQL, ...: scripts/test-deps.mjs' list), from apt when
// missing. A failure here does not stop the run: the tests that need a missing server fail and
// name it, the rest still run.
if (
  step(
    'test dependencies: real servers from apt when missing (scripts/test-deps.mjs)',
    process.execPath,
    ['scripts/test-deps.mjs'],
  ) !== 0
) {
  console.error(
    '!! some test dependencies are missing (see above): the tests that need them will fail',
  );
}

const outDir = join(root, 'test/.tmp');
mkdirSync(outDir, { recursive: true });
const report = join(outDir, 'vitest-report.json');
const extra = process.argv.slice(2);
const hostVersion = spawnSync(hostNode, ['-p', 'process.version'], {
  encoding: 'utf8',
}).stdout.trim();
const status = step(
  `tests (vitest on ${hostVersion}: unit, preload, integration, e2e; fixtures under Node 20 and 24)`,
  hostNode,
  [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...extra,
  ],
);

// CI reads a plain closing line; vitest's own summary is not one it knows.
let summary = 'no test report was written';
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
}
process.stdout.write(`\nin ${((Date.now() - started) / 60000).toFixed(1)} min\n${summary}\n`);
process.exit(status);
