#!/usr/bin/env node
// `npm run dashboards`: compile the TypeScript generator (grafana/src) and write every dashboard to
// grafana/dashboards/<name>.json. `--check` writes nothing and exits 1 when a committed file differs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'grafana/tsconfig.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) {
  console.error('gen-dashboards: the generator does not compile (see above)');
  process.exit(1);
}

const { buildDashboards, serializeDashboard } = await import(
  pathToFileURL(join(root, 'dist/grafana-gen/grafana/src/dashboards.js')).href
);
const outDir = join(root, 'grafana/dashboards');
mkdirSync(outDir, { recursive: true });
let stale = 0;
for (const { file, json } of buildDashboards()) {
  const path = join(outDir, file);
  const text = serializeDashboard(json);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (current === text) continue;
  if (check) {
    console.error(`gen-dashboards: grafana/dashboards/${file} differs from the generator's output`);
    stale++;
  } else {
    writeFileSync(path, text);
    console.log(`wrote grafana/dashboards/${file}`);
  }
}
if (stale > 0) process.exit(1);
