#!/usr/bin/env node
// Generates the configuration tables (README's variable table, docs/configuration.md's tables)
// from the schema in instrumentation/config/config-schema.ts (the one source of every setting).
// Reads the built module (dist/instrumentation/config/config-docs.js; `npm run config-docs` builds first).
//   node scripts/gen-config-docs.mjs          rewrite the tables in place
//   node scripts/gen-config-docs.mjs --check  exit 1 when a committed table differs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { renderConfigurationDoc, renderReadme } = await import(
  pathToFileURL(join(root, 'dist/instrumentation/config/config-docs.js')).href
);

const targets = [
  ['README.md', renderReadme],
  ['docs/configuration.md', renderConfigurationDoc],
];
let stale = 0;
for (const [file, render] of targets) {
  const path = join(root, file);
  const before = readFileSync(path, 'utf8');
  const after = render(before);
  if (after === before) continue;
  if (process.argv.includes('--check')) {
    console.error(`${file} differs from the config schema: run npm run config-docs`);
    stale++;
  } else {
    writeFileSync(path, after);
    console.log(`wrote ${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
