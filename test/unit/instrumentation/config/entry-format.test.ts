import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_PARSED_ENTRY_BYTES,
  entryFormat,
  type EntryProbe,
} from '../../../../instrumentation/config/entry-format.js';

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'echoes-entry-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A project under the temp root: files by relative path (package.json given as an object). */
function project(name: string, files: Record<string, string | object>): string {
  const dir = join(root, name);
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

const run = (entry: string | undefined, execArgv: string[] = [], nodeOptions?: string) =>
  entryFormat({
    argv: entry === undefined ? ['/usr/bin/node'] : ['/usr/bin/node', entry, 'arg'],
    execArgv: ['--import', 'echoes-otel/register', ...execArgv],
    nodeOptions,
  } satisfies EntryProbe);

const CJS = "const http = require('node:http');\nmodule.exports = { http };\n";
const ESM = "import http from 'node:http';\nexport const h = http;\n";

describe('entryFormat: a file entry, as Node decides its format', () => {
  it('goes by .mjs/.mts and .cjs/.cts whatever package.json says', () => {
    const d = project('ext', {
      'package.json': { type: 'commonjs' },
      'a.mjs': CJS,
      'b.mts': CJS,
      'c.cjs': ESM,
      'd.cts': ESM,
    });
    expect(run(join(d, 'a.mjs')).format).toBe('module');
    expect(run(join(d, 'b.mts')).format).toBe('module');
    expect(run(join(d, 'c.cjs')).format).toBe('commonjs');
    expect(run(join(d, 'd.cts')).format).toBe('commonjs');
  });

  it('goes by the nearest package.json "type" for .js, .ts and no extension', () => {
    const d = project('typed', {
      'package.json': { type: 'module' },
      'src/main.js': CJS,
      'cjs/package.json': { type: 'commonjs' },
      'cjs/main.js': ESM,
      'cjs/main.ts': ESM,
      'cjs/bin/serve': ESM,
    });
    expect(run(join(d, 'src/main.js'))).toEqual({
      format: 'module',
      why: `${join(d, 'package.json')}: "type": "module"`,
    });
    expect(run(join(d, 'cjs/main.js')).format).toBe('commonjs');
    expect(run(join(d, 'cjs/main.ts')).format).toBe('commonjs');
    expect(run(join(d, 'cjs/bin/serve')).format).toBe('commonjs');
  });

  it('without a "type", parses the entry: CommonJS only if it is a valid CommonJS body', () => {
    const d = project('untyped', {
      'package.json': { name: 'untyped' },
      'cjs.js': CJS,
      'return.js': "if (process.env.X) return;\nrequire('node:fs');\n",
      'shebang.js': `#!/usr/bin/env node\n${CJS}`,
      'esm.js': ESM,
      'meta.js': 'console.log(import.meta.url);\n',
      'tla.js': 'await Promise.resolve(1);\n',
      'typed.ts': 'const n: number = 1;\nmodule.exports = n;\n',
      'broken.js': 'function (\n',
    });
    expect(run(join(d, 'cjs.js'))).toEqual({
      format: 'commonjs',
      why: `${join(d, 'cjs.js')}: no "type", parses as CommonJS`,
    });
    expect(run(join(d, 'return.js')).format).toBe('commonjs');
    expect(run(join(d, 'shebang.js')).format).toBe('commonjs');
    for (const f of ['esm.js', 'meta.js', 'tla.js', 'typed.ts', 'broken.js']) {
      expect(run(join(d, f)).format, f).toBe('unknown');
    }
  });

  it('resolves the entry as Node does for a main module (extension, directory index)', () => {
    const d = project('resolve', {
      'package.json': { type: 'commonjs' },
      'server.js': CJS,
      'app/index.js': CJS,
    });
    expect(run(join(d, 'server')).why).toBe(`${join(d, 'package.json')}: "type": "commonjs"`);
    expect(run(join(d, 'app')).format).toBe('commonjs');
    expect(run(join(d, 'missing')).format).toBe('unknown');
  });

  it('keeps the hook when unsure: unreadable package.json, odd extension, too large to parse', () => {
    const d = project('unsure', {
      'bad/package.json': '{ not json',
      'bad/main.js': CJS,
      'ok/package.json': {},
      'ok/main.coffee': CJS,
      'ok/huge.js': `${CJS}//${'x'.repeat(MAX_PARSED_ENTRY_BYTES)}\n`,
    });
    expect(run(join(d, 'bad/main.js'))).toEqual({
      format: 'unknown',
      why: `${join(d, 'bad/main.js')}: unreadable package.json`,
    });
    expect(run(join(d, 'ok/main.coffee')).format).toBe('unknown');
    expect(run(join(d, 'ok/huge.js')).why).toContain(`larger than ${MAX_PARSED_ENTRY_BYTES}`);
  });

  it('has no answer for the REPL or stdin', () => {
    expect(run(undefined).format).toBe('unknown');
  });
});

describe('entryFormat: code given with -e / -p', () => {
  it('is CommonJS unless --input-type or its syntax says otherwise', () => {
    expect(run(undefined, ['-e', 'require("node:fs")']).format).toBe('commonjs');
    expect(run(undefined, ['-p', '1 + 1']).format).toBe('commonjs');
    expect(run(undefined, ['--eval=0']).format).toBe('commonjs');
    // An argument after the code is argv[1]: it is not the entry.
    expect(run('x.mjs', ['-e', '0']).format).toBe('commonjs');
    expect(run(undefined, ['-e', "import 'node:fs'"]).format).toBe('unknown');
    expect(run(undefined, ['--input-type=module', '-e', '0'])).toEqual({
      format: 'module',
      why: '--eval with --input-type=module',
    });
    expect(run(undefined, ['--input-type', 'commonjs', '-e', '0']).format).toBe('commonjs');
  });

  it('reads --input-type and --experimental-default-type from NODE_OPTIONS too', () => {
    expect(run(undefined, ['-e', '0'], '--input-type=module --max-old-space-size=100').format).toBe(
      'module',
    );
    const d = project('default-type', { 'package.json': {}, 'main.js': CJS });
    expect(run(join(d, 'main.js'), [], ' --experimental-default-type=module ').format).toBe(
      'module',
    );
  });
});
