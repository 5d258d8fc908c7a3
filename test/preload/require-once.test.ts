import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { REGISTER } from '../helpers/paths.js';
import { killAll, quietPreloadEnv, requireBuilt, spawnNode } from '../helpers/spawn.js';

// require-once.ts under the real require hook (require-in-the-middle, installed by the preload's
// instrumentations) and Node's real loader, on each Node: the first load of each module reaches
// Node's resolver once, not twice (the hook's resolution, then Module._load's). Counted by a
// `--require` preload that wraps Module._resolveFilename before ours is installed above it.

const COUNTER = `
const Module = require('node:module');
const resolve = Module._resolveFilename;
const counts = {};
Module._resolveFilename = function (request) {
  counts[request] = (counts[request] || 0) + 1;
  return resolve.apply(this, arguments);
};
process.on('exit', () => process.stdout.write('COUNTS ' + JSON.stringify(counts) + '\\n'));
`;

let tmp: string;

beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'echoes-require-once-'));
  const lib = join(tmp, 'node_modules/once-lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(
    join(lib, 'package.json'),
    '{"name":"once-lib","version":"1.0.0","main":"main.js"}',
  );
  writeFileSync(join(lib, 'main.js'), "module.exports = require('./part') + ' and main';");
  writeFileSync(join(lib, 'part.js'), "module.exports = 'part';");
  writeFileSync(join(tmp, 'counter.cjs'), COUNTER);
  writeFileSync(
    join(tmp, 'app.cjs'),
    "process.stdout.write(require('once-lib') + ' ' + require('once-lib') + '\\n');",
  );
});

afterAll(() => {
  killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.each(NODE_BINARIES)('one resolution per first load ($label)', ({ path: node }) => {
  it('reaches Node’s resolver once per module under the preload’s require hook', async () => {
    const app = spawnNode(node, ['--require', './counter.cjs', '--import', REGISTER, 'app.cjs'], {
      cwd: tmp,
      env: quietPreloadEnv(join(tmp, `logs-${node.length}`)),
    });
    const exit = await app.exited;
    expect(exit.code, app.stderr()).toBe(0);
    expect(app.stderr()).toBe('');
    expect(app.stdout()).toContain('part and main part and main');
    const counts = JSON.parse(/COUNTS (.*)/.exec(app.stdout())![1]!) as Record<string, number>;
    // Each first load: the hook's resolution only (Module._load takes its answer). The second
    // require of once-lib: the hook resolves it again (Module._load then answers from Node's own
    // cache). once-lib is no package an instrumentation registered, so the hook makes no check of
    // its files against the package's main (require-hook.ts). once-lib: 1 + 1; ./part: 1. The
    // build before require-once.ts gave 5 and 2, before require-hook.ts 4 and 1 (Node 20 and 24).
    expect(counts).toMatchObject({ 'once-lib': 2, './part': 1 });
  });
});
