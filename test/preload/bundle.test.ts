import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import * as Yaml from 'yaml';
import * as api from '../../instrumentation/index.js';
import { namesRead } from '../../scripts/semconv-subset.mjs';
import { BUNDLE, REPO_ROOT } from '../helpers/paths.js';

// The package ships dist/bundle (scripts/bundle.mjs); this tier runs after npm test's build.
// Its index.js is generated from the core bundle's exports: it must be exactly index.ts' API.
describe('dist/bundle', () => {
  const index = join(BUNDLE, 'index.js');

  it('index.js exports exactly the public API of instrumentation/index.ts, from core.js', () => {
    expect(existsSync(index), `${index} (npm run build)`).toBe(true);
    const m = /export \{([^}]*)\} from '\.\/core\.js';/.exec(readFileSync(index, 'utf8'));
    expect(m, 'one re-export from ./core.js').not.toBeNull();
    const names = m![1]!.split(',').map((n) => n.trim());
    expect(names.sort()).toEqual(Object.keys(api).sort());
  });

  it('register.js loads core.js, the module index.js re-exports, and nothing else of ours', () => {
    const text = readFileSync(join(BUNDLE, 'register.js'), 'utf8');
    expect(text).toContain('import("./core.js")');
    // compile-cache.js: told where the code cache is before core.js loads, saves it after.
    expect(text).toContain('import("./compile-cache.js")');
    expect(text).not.toMatch(/from ["']\.\/(?!core\.js)/);
  });

  it('core.js compiles core.cjs through the code cache loader and exports what core.cjs does', () => {
    const loader = readFileSync(join(BUNDLE, 'core.js'), 'utf8');
    expect(loader).toMatch(/^import \{ loadCommonJs \} from '\.\/compile-cache\.js';$/m);
    expect(loader).toMatch(
      /loadCommonJs\(new URL\('\.\/core\.cjs', import\.meta\.url\), '[0-9a-f]{64}'/,
    );
    const core = readFileSync(join(BUNDLE, 'core.cjs'), 'utf8');
    // A script compiled from cached data has no import() callback: none may be left.
    expect(core).not.toMatch(/[^\w.$]import\(\s*["'`]/);
    expect(core).not.toContain('import.meta');
  });

  it('core.cjs is ASCII, so that V8 keeps its source at one byte per character', () => {
    const core = readFileSync(join(BUNDLE, 'core.cjs'), 'utf8');
    // One character above U+00FF anywhere (a comment esbuild kept) doubles the 1.9 MB string.
    expect(core.match(/[\u0080-\uffff]/g) ?? []).toEqual([]);
  });

  it("registers through the bundled newest API copy, never the repository's own @opentelemetry/api", () => {
    const core = readFileSync(join(BUNDLE, 'core.cjs'), 'utf8');
    // esbuild marks each bundled file with its path: the alias (docs/api-compat.md) took effect.
    expect(core).toContain('// node_modules/otel-api-newest/');
    expect(core).not.toContain('// node_modules/@opentelemetry/api/');
  });

  it('keeps @grpc/grpc-js in grpc.js, which core.cjs import()s only on demand', () => {
    const core = readFileSync(join(BUNDLE, 'core.cjs'), 'utf8');
    const grpc = readFileSync(join(BUNDLE, 'grpc.js'), 'utf8');
    // Through core.js' importer (compile-cache.ts), not an import() of its own.
    expect(core).toContain('__echoesImport("./grpc.js")');
    expect(core).not.toContain('// node_modules/@grpc/grpc-js/');
    expect(grpc).toContain('// node_modules/@grpc/grpc-js/');
    // The small exporter packages stay in core.js, sharing its OTLP transformer; grpc-js reaches
    // them through the shim.
    expect(core).toContain('// node_modules/@opentelemetry/exporter-trace-otlp-grpc/');
    expect(core).toContain('// scripts/grpc-js-shim.cjs');
    expect(grpc).not.toContain('// node_modules/@opentelemetry/otlp-transformer/');
  });

  it('carries a semantic-conventions subset holding every name the bundled code reads, valued as in the package', () => {
    const core = readFileSync(join(BUNDLE, 'core.cjs'), 'utf8');
    const spec = '@opentelemetry/semantic-conventions';
    // None of the package's own files (its every table), one generated module instead
    // (scripts/semconv-subset.mjs).
    expect(core).not.toContain(`// node_modules/${spec}/`);
    const subsets = [
      ...core.matchAll(
        /^var (\w+) = __commonJS\(\{\n {2}"dist\/semconv-subset\/([^"]+)"\(exports2?\) \{\n([^]*?)\n {2}\}\n\}\);$/gm,
      ),
    ];
    expect(subsets.map((m) => m[2])).toEqual([`${spec}/dist/index.cjs`]);
    const [, fn, , body] = subsets[0]!;
    const exported = new Map(
      [...body!.matchAll(/^ {4}exports2?\.(\w+) = (.+);$/gm)].map((m) => [
        m[1]!,
        JSON.parse(m[2]!),
      ]),
    );
    // The body is nothing but those assignments.
    expect(body!.split('\n').length).toBe(exported.size + 1);
    const pkg = createRequire(join(REPO_ROOT, 'package.json'))(spec) as Record<string, unknown>;
    for (const [name, value] of exported) expect(value, name).toBe(pkg[name]);
    // Independently of the build's own check: every read of the module in the output, found by the
    // same strict scan (any use it cannot read fails here), is a name the subset has.
    const asRequire = core.replaceAll(`${fn}()`, `require("${spec}")`);
    const { names, problems } = namesRead(asRequire, spec);
    expect(problems).toEqual([]);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !exported.has(n))).toEqual([]);
    expect([...exported.keys()].filter((n) => !names.includes(n))).toEqual([]);
  });

  it('keeps yaml in yaml.cjs, which the config module of register.js, core.cjs and cli.js requires', () => {
    // A require of our own file (the config module's, only when a config file exists), never
    // the yaml package from node_modules: it is no dependency of the package.
    for (const file of ['register.js', 'core.cjs', 'cli.js']) {
      const text = readFileSync(join(BUNDLE, file), 'utf8');
      expect(text, file).toMatch(/require\("\.\/yaml\.cjs"\)/);
      expect(text, file).not.toMatch(/["']yaml["']\)/);
      expect(text, file).not.toContain('// node_modules/yaml/');
    }
    expect(readFileSync(join(BUNDLE, 'yaml.cjs.LEGAL.txt'), 'utf8')).toContain('Eemeli Aro');
  });

  it('yaml.cjs parses as the yaml package does: values, errors and warnings', () => {
    const bundled = createRequire(import.meta.url)(join(BUNDLE, 'yaml.cjs')) as typeof Yaml;
    const docs = [
      ...['config/config.yaml', 'compose.yaml', 'prometheus/prometheus.yml'].map((f) =>
        readFileSync(join(REPO_ROOT, f), 'utf8'),
      ),
      'logging:\n  level: [unclosed\n  file_rotation: {\n',
      'logging:\n  level: !custom INFO\n  max: 0x1F\n  on: yes\n  when: 2001-12-14\n',
      'a: &x {b: 1}\nc: *x\n<<: *x\nd: "\\x6cogging"\n',
      '- just\n- a list\n',
      'key: value\nkey: twice\n',
      '',
    ];
    const outcome = (y: typeof Yaml, text: string) => {
      const doc = y.parseDocument(text);
      const msgs = (es: readonly Error[]) => es.map((e) => `${e.name}: ${e.message}`);
      return { value: doc.toJS(), errors: msgs(doc.errors), warnings: msgs(doc.warnings) };
    };
    for (const text of docs) expect(outcome(bundled, text)).toEqual(outcome(Yaml, text));
    // What config-sources.ts calls: the same value, or the same first line of the same error.
    const parse = (y: typeof Yaml, text: string) => {
      try {
        return y.parse(text) as unknown;
      } catch (err) {
        return String((err as Error).message).split('\n')[0];
      }
    };
    expect(parse(bundled, docs[3]!)).toMatch(/Flow sequence in block collection/);
    // yaml's warnings go through process.emitWarning (its Node build), as the package's do.
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      for (const text of docs) {
        emitted.mockClear();
        const ours = parse(bundled, text);
        const oursWarned = emitted.mock.calls.map((c) => String(c[0]));
        emitted.mockClear();
        expect(ours).toEqual(parse(Yaml, text));
        expect(oursWarned).toEqual(emitted.mock.calls.map((c) => String(c[0])));
      }
      emitted.mockClear();
      parse(bundled, docs[4]!);
      expect(emitted.mock.calls.map((c) => String(c[0]))).toEqual([
        expect.stringMatching(/Unresolved tag: !custom/),
      ]);
    } finally {
      emitted.mockRestore();
    }
  });
});
