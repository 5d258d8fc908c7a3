/**
 * scripts/semconv-subset.mjs: the bundle's @opentelemetry/semantic-conventions is a generated
 * module with the names the bundled code reads. A name it missed would be an `undefined` attribute
 * key at run time, so the scan must refuse every use it cannot read completely.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { createSemconvSubset, namesRead } from '../../../scripts/semconv-subset.mjs';
import { REPO_ROOT } from '../../helpers/paths.js';

const SPEC = '@opentelemetry/semantic-conventions';
const semconv = createRequire(join(REPO_ROOT, 'package.json'))(SPEC) as Record<string, unknown>;

describe('namesRead', () => {
  it("reads tsc's CommonJS form: a binding used only as binding.NAME", () => {
    const src = [
      'const semantic_conventions_1 = require("@opentelemetry/semantic-conventions");',
      'span.setAttribute(semantic_conventions_1.ATTR_ERROR_TYPE, 1);',
      'x[semantic_conventions_1 . ATTR_SERVICE_NAME] = (0, semantic_conventions_1.ATTR_SERVER_PORT);',
      "y = semantic_conventions_1['ATTR_SERVER_ADDRESS'];",
    ].join('\n');
    expect(namesRead(src, SPEC)).toEqual({
      names: ['ATTR_ERROR_TYPE', 'ATTR_SERVER_ADDRESS', 'ATTR_SERVER_PORT', 'ATTR_SERVICE_NAME'],
      problems: [],
    });
  });

  it('reads destructuring, require(spec).NAME, named and namespace imports and re-exports', () => {
    const src = [
      "const { ATTR_ERROR_TYPE, ATTR_SERVER_PORT: port } = require('@opentelemetry/semantic-conventions');",
      "const a = require('@opentelemetry/semantic-conventions').ATTR_SERVICE_NAME;",
      "import { ATTR_URL_FULL, ATTR_URL_PATH as path } from '@opentelemetry/semantic-conventions';",
      "import * as sc from '@opentelemetry/semantic-conventions';",
      "export { ATTR_CLIENT_PORT } from '@opentelemetry/semantic-conventions';",
      'use(sc.ATTR_HTTP_ROUTE, sc?.ATTR_CLIENT_ADDRESS, port, path);',
    ].join('\n');
    expect(namesRead(src, SPEC)).toEqual({
      names: [
        'ATTR_CLIENT_ADDRESS',
        'ATTR_CLIENT_PORT',
        'ATTR_ERROR_TYPE',
        'ATTR_HTTP_ROUTE',
        'ATTR_SERVER_PORT',
        'ATTR_SERVICE_NAME',
        'ATTR_URL_FULL',
        'ATTR_URL_PATH',
      ],
      problems: [],
    });
  });

  it('refuses a binding used whole, indexed by a variable, reassigned or shadowed', () => {
    for (const use of [
      'copy(semantic_conventions_1);',
      'semantic_conventions_1[key];',
      'semantic_conventions_1 = other;',
      'function f(semantic_conventions_1) {}',
      'const { ATTR_A } = semantic_conventions_1;',
    ]) {
      const src = `const semantic_conventions_1 = require("${SPEC}");\n${use}`;
      const { problems } = namesRead(src, SPEC);
      expect(problems, use).toHaveLength(1);
      expect(problems[0]).toContain(
        "'semantic_conventions_1' (from '@opentelemetry/semantic-conventions') used other than as",
      );
    }
  });

  it('refuses every other use of the specifier: export *, default import, bare require, dynamic import', () => {
    for (const use of [
      `export * from '${SPEC}';`,
      `import sc from '${SPEC}';`,
      `module.exports = require('${SPEC}');`,
      `const { ...rest } = require('${SPEC}');`,
      `const { A: { B } } = require('${SPEC}');`,
      `import('${SPEC}').then(f);`,
      `const sc = __importDefault(require('${SPEC}'));`,
    ]) {
      const { problems } = namesRead(use, SPEC);
      expect(problems.length, use).toBeGreaterThanOrEqual(1);
    }
  });

  it('tells the /incubating entry from the package: each specifier is read on its own', () => {
    const src = [
      `const a = require('${SPEC}');`,
      `const b = require('${SPEC}/incubating');`,
      'use(a.ATTR_ERROR_TYPE, b.ATTR_GEN_AI_SYSTEM);',
    ].join('\n');
    expect(namesRead(src, SPEC).names).toEqual(['ATTR_ERROR_TYPE']);
    expect(namesRead(src, `${SPEC}/incubating`).names).toEqual(['ATTR_GEN_AI_SYSTEM']);
  });
});

describe('createSemconvSubset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'echoes-semconv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const files = (entries: Record<string, string>): void => {
    for (const [name, text] of Object.entries(entries)) writeFileSync(join(dir, name), text);
  };
  const options = (entry: string): BuildOptions => ({
    absWorkingDir: REPO_ROOT,
    entryPoints: [join(dir, entry)],
    nodePaths: [join(REPO_ROOT, 'node_modules')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    mainFields: ['main'],
    conditions: ['node', 'require'],
    write: false,
    logLevel: 'silent',
  });

  it('bundles a module with exactly the names read, valued as in the installed package', async () => {
    files({
      'a.cjs': `const sc = require('${SPEC}'); module.exports = [sc.ATTR_SERVICE_NAME, require('./b.cjs')];`,
      'b.cjs': `const { ATTR_ERROR_TYPE } = require('${SPEC}'); module.exports = ATTR_ERROR_TYPE;`,
    });
    const subset = createSemconvSubset(REPO_ROOT);
    await build({ ...options('a.cjs'), plugins: [subset.scan] });
    expect(subset.summary()).toEqual([`${SPEC}: 2 names for 2 importers`]);
    const out = await build({ ...options('a.cjs'), plugins: [subset.plugin] });
    const text = out.outputFiles![0]!.text;
    // The package's tables are not in the output, the generated module is.
    expect(text).not.toContain('stable_attributes');
    expect(text).toContain(
      'dist/semconv-subset/@opentelemetry/semantic-conventions/dist/index.cjs',
    );
    const assigned = [...text.matchAll(/exports\d*\.(\w+) = ("[^"]*");/g)].map((m) => [
      m[1],
      JSON.parse(m[2]!),
    ]);
    expect(assigned).toEqual([
      ['ATTR_ERROR_TYPE', semconv.ATTR_ERROR_TYPE],
      ['ATTR_SERVICE_NAME', semconv.ATTR_SERVICE_NAME],
    ]);
    const m = { exports: {} as unknown };
    new Function('module', 'exports', 'require', text)(m, m.exports, require);
    expect(m.exports).toEqual([semconv.ATTR_SERVICE_NAME, semconv.ATTR_ERROR_TYPE]);
  });

  it('covers an ES module (as tsc emits ours) the same way, the /incubating entry included', async () => {
    files({
      'ours.mjs': [
        `import { ATTR_URL_FULL } from '${SPEC}';`,
        `import * as inc from '${SPEC}/incubating';`,
        'export const keys = [ATTR_URL_FULL, inc.ATTR_GEN_AI_OPERATION_NAME];',
      ].join('\n'),
    });
    const subset = createSemconvSubset(REPO_ROOT);
    await build({ ...options('ours.mjs'), plugins: [subset.scan] });
    expect(subset.summary()).toEqual([
      `${SPEC}: 1 names for 1 importers`,
      `${SPEC}/incubating: 1 names for 1 importers`,
    ]);
    const out = await build({ ...options('ours.mjs'), plugins: [subset.plugin] });
    expect(out.outputFiles![0]!.text).not.toContain('experimental_attributes');
    const m = { exports: {} as { keys?: unknown } };
    new Function('module', 'exports', 'require', out.outputFiles![0]!.text)(m, m.exports, require);
    const incubating = createRequire(join(REPO_ROOT, 'package.json'))(
      `${SPEC}/incubating`,
    ) as Record<string, unknown>;
    expect(m.exports.keys).toEqual([semconv.ATTR_URL_FULL, incubating.ATTR_GEN_AI_OPERATION_NAME]);
    expect(m.exports.keys).toEqual(['url.full', 'gen_ai.operation.name']);
  });

  it('fails the build for a use the scan cannot read', async () => {
    files({ 'whole.cjs': `const sc = require('${SPEC}'); module.exports = sc;` });
    const subset = createSemconvSubset(REPO_ROOT);
    await expect(build({ ...options('whole.cjs'), plugins: [subset.scan] })).rejects.toThrow(
      /whole\.cjs: 'sc' \(from '@opentelemetry\/semantic-conventions'\) used other than as 'sc\.NAME'/,
    );
  });

  it('fails the build for a name the installed package does not export', async () => {
    files({ 'typo.cjs': `const sc = require('${SPEC}'); module.exports = sc.ATTR_SERVICE_NAMEE;` });
    const subset = createSemconvSubset(REPO_ROOT);
    await build({ ...options('typo.cjs'), plugins: [subset.scan] });
    await expect(build({ ...options('typo.cjs'), plugins: [subset.plugin] })).rejects.toThrow(
      /typo\.cjs read\(s\) 'ATTR_SERVICE_NAMEE', which @opentelemetry\/semantic-conventions \S+ .* does not export/,
    );
  });

  it('fails the build for a name whose value is not a literal (a deprecated map)', async () => {
    files({ 'map.cjs': `module.exports = require('${SPEC}').SemanticAttributes.HTTP_METHOD;` });
    expect(typeof semconv.SemanticAttributes).toBe('object');
    const subset = createSemconvSubset(REPO_ROOT);
    await build({ ...options('map.cjs'), plugins: [subset.scan] });
    await expect(build({ ...options('map.cjs'), plugins: [subset.plugin] })).rejects.toThrow(
      /'SemanticAttributes' of @opentelemetry\/semantic-conventions is not a string, boolean or number/,
    );
  });

  it('fails a build that reaches an importer the scan build did not see, or reads more than it', async () => {
    files({
      'seen.cjs': `module.exports = require('${SPEC}').ATTR_SERVICE_NAME;`,
      'unseen.cjs': `module.exports = [require('./seen.cjs'), require('${SPEC}').ATTR_ERROR_TYPE];`,
    });
    const subset = createSemconvSubset(REPO_ROOT);
    await build({ ...options('seen.cjs'), plugins: [subset.scan] });
    await expect(build({ ...options('unseen.cjs'), plugins: [subset.plugin] })).rejects.toThrow(
      /unseen\.cjs reads ATTR_ERROR_TYPE from @opentelemetry\/semantic-conventions, not in the subset/,
    );
  });
});
