#!/usr/bin/env node
// `npm run build`, second step: bundles what `tsc` emitted in dist/instrumentation, with the
// OpenTelemetry packages and the other runtime dependencies, into dist/bundle/: register.js and
// index.js, the package's two entry points, both on one core.js, so the preload and
// `import ... from 'echoes-otel'` see one SDK, one logger, one set of caches. core.js is a small
// generated ES module that compiles core.cjs (the bundle proper) with a V8 code cache
// (instrumentation/compile-cache.ts; docs/performance.md, "V8 code cache of the core").
//
// Why: a preload that loads ~370 small CommonJS files makes Node's module loader hot enough to be
// compiled by Maglev and TurboFan, and each file costs its own resolution, read and wrapper.
// Bundled, `node --import echoes-otel/register -e 0` is 50-63 ms faster on Node 20 and 24 and
// peak RSS 4.8 MiB (Node 20) and 11.3 MiB (Node 24) lower (bench/results/startup.md).
//
// @opentelemetry/api is the newest 1.x (an npm alias, see API_COPY below), not the 1.9 the SDK
// packages' peer range allows: an app's own copy sees our providers only if ours is as new.
//
// Kept outside the bundle, loaded from node_modules at run time:
//   - import-in-the-middle: its hook module is registered with Node by specifier.
// yaml, required only when a config.yaml exists, is its own file, yaml.cjs (below).
// Our sources load some packages on demand with `const require = createRequire(import.meta.url)`;
// that line is dropped from the bundle's input, so esbuild sees plain `require('literal')` calls
// and bundles those packages too (still evaluated on first use). The output is then checked: any
// other package it would still load from node_modules fails the build.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { dropNamespaceCopies } from './namespace-copies.mjs';
import { dropNamedEvaluationNames, dropRedundantNames } from './redundant-names.mjs';
import { createSemconvSubset } from './semconv-subset.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'dist/instrumentation');
// The wrapper core.cjs is written in, as the loader calls it (tsc has emitted it by now).
const { WRAPPER_PARAMS } = await import(pathToFileURL(join(src, 'compile-cache.js')).href);
// ECHOES_BUNDLE_OUT and ECHOES_BUNDLE_API are for tests only: a bundle elsewhere, registering
// through another API copy (test/preload/api-compat.test.ts builds one on an older API).
const out = process.env.ECHOES_BUNDLE_OUT || join(root, 'dist/bundle');
// The OpenTelemetry API we register the globals through: the newest 1.x, installed under an npm
// alias (package.json) because the SDK packages' peer range stops below it. An app's copy accepts
// a global registered by the same or a newer minor only, so every app on an older 1.x sees our
// providers (docs/api-compat.md). All bundled packages get this one copy.
const API_COPY = process.env.ECHOES_BUNDLE_API || 'otel-api-newest';
const EXTERNAL = ['import-in-the-middle', 'import-in-the-middle/*'];
const LOCAL_REQUIRE = 'const require = createRequire(import.meta.url);';
// What core.cjs import()s from outside itself: ESM files that `require` cannot load on Node 20.
const EXTERNAL_FILES = new Set([
  'import-in-the-middle',
  'import-in-the-middle/register-hooks.mjs',
  './grpc.js',
]);

// Node builtins and the declared externals: all the bundle may load at run time.
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const allowed = (spec) =>
  builtins.has(spec) ||
  spec.startsWith('node:') ||
  EXTERNAL.some((e) => (e.endsWith('/*') ? spec.startsWith(e.slice(0, -1)) : spec === e));
/**
 * Our emitted modules, with the local `require` binding dropped (see above). `viaImporter`: for
 * core.cjs, a dynamic import() of a file left outside the bundle becomes `__echoesImport(...)`,
 * the ESM importer the loader hands in (compile-cache.ts: a script compiled from a code cache
 * has no dynamic import callback).
 */
const freeRequirePlugin = ({ viaImporter }) => ({
  name: 'echoes-free-require',
  setup(b) {
    b.onLoad(
      { filter: /[\\/]dist[\\/]instrumentation[\\/](?:[^\\/]+[\\/])?[^\\/]+\.js$/ },
      (args) => {
        const text = readFileSync(args.path, 'utf8');
        // A dynamic import() of a bundled CommonJS package gets esbuild's interop, not Node's (with
        // code splitting, a chunk with only a default export: `const { diag } = await
        // import('@opentelemetry/api')` was undefined). Such imports go through a module of ours
        // that imports the package statically, which behaves the same bundled or not.
        const dynamic = [...text.matchAll(/\bimport\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g)]
          .map((m) => m[1])
          .filter((spec) => !allowed(spec));
        const errors = dynamic.map((spec) => ({
          text: `dynamic import('${spec}') of a bundled package: import it statically in a module of ours and import() that`,
        }));
        let contents = text.split(LOCAL_REQUIRE).join('');
        if (viaImporter) {
          contents = contents.replace(/\bimport\(\s*(['"])([^'"]+)\1\s*\)/g, (call, q, spec) =>
            EXTERNAL_FILES.has(spec) ? `__echoesImport(${q}${spec}${q})` : call,
          );
        }
        return { contents, loader: 'js', errors };
      },
    );
  },
});

// @opentelemetry/semantic-conventions as a generated module of the names the bundle reads (its
// plugins: `scan` on the core's names build, `plugin` on every real build; semconv-subset.mjs).
const semconv = createSemconvSubset(root);

// yaml (config.yaml's parser) is required by the config module only when a config file exists:
// our sources' `require('yaml')` loads ./yaml.cjs, the package bundled into one file (one compile
// instead of resolving, reading and compiling its ~70 CommonJS files: docs/performance.md,
// "Config file: yaml"). The CLI (scripts/package-extras.mjs) requires the same file.
const YAML_FILE = './yaml.cjs';
const yamlFilePlugin = {
  name: 'echoes-yaml-file',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: YAML_FILE, external: true }));
  },
};

// The ES module files register.js and compile-cache.js get Node's builtins through
// `require`, not `import`: an ESM import of a builtin builds its module facade, which reads every
// export, lazy getters included (node:fs' `promises` loads fs/promises), 0.4 MiB (Node 20) and
// 1.9-2.4 MiB (Node 24) of `node --import echoes-otel/register -e 0` (docs/performance.md,
// "Startup"). Each builtin becomes a module of ours that requires it and exports the names read,
// each read once, when it is evaluated, as the facade's names are (so our fs patches, applied
// later, never see the loader's own file reads). node:module stays an import: the banner needs
// it for `require` itself, and its facade costs nothing measurable. (grpc.js imports no builtin:
// its CommonJS code requires them already.)
const BUILTIN_NS = 'echoes-builtin';
const requireHere = createRequire(import.meta.url);
const builtinRequirePlugin = {
  name: 'echoes-builtin-require',
  setup(b) {
    // A require() (the generated module's own among them) stays a require of the builtin.
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'require-call' || args.path === 'node:module' || !builtins.has(args.path)
        ? { path: args.path, external: true }
        : { path: args.path, namespace: BUILTIN_NS },
    );
    b.onLoad({ filter: /.*/, namespace: BUILTIN_NS }, (args) => {
      const names = Object.keys(requireHere(args.path)).filter(
        (n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default',
      );
      // One statement per name, each a pure call: esbuild drops the names nobody imports.
      const contents = [
        `const m = require(${JSON.stringify(args.path)});`,
        'export default m;',
        ...names.map((n) => `export const ${n} = /* @__PURE__ */ (() => m.${n})();`),
      ].join('\n');
      return { contents, loader: 'js', resolveDir: root };
    });
  },
};

const common = {
  absWorkingDir: root,
  alias: { '@opentelemetry/api': API_COPY },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.6',
  // The CommonJS builds of the OTel packages, as Node itself loads them from our dist.
  mainFields: ['main'],
  conditions: ['node', 'require'],
  // Bundled CommonJS code calls require() for Node's builtins (and the externals above).
  banner: {
    js: "import { createRequire as __echoesCreateRequire } from 'node:module'; const require = __echoesCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  legalComments: 'linked',
  // Class and function names as in the packages (OTel's diag messages and users' checks use them):
  // without it, the ~80 symbols esbuild renames for collisions keep their new names, and an app
  // sees `trace.getTracerProvider().constructor.name === 'NodeTracerProvider2'`
  // (test/preload/core.test.ts). Measured off: Node 20 startup -5 ms / -1.4 MiB, Node 24 and the
  // per-request cost within the noise, so kept on (docs/performance.md, "keepNames").
  keepNames: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [semconv.plugin, freeRequirePlugin({ viaImporter: false }), yamlFilePlugin],
};

rmSync(out, { recursive: true, force: true });
// The export names of core (esbuild lists them for ESM output only): a metadata-only build. It is
// also the semantic-conventions scan (scripts/semconv-subset.mjs): the package left external, each
// bundled module that requires it is read for the names it uses; the real builds below get a
// generated module with exactly those names instead of the package's every table.
const coreNames = await build({
  ...common,
  entryPoints: [join(src, 'core.js')],
  outfile: join(out, 'core-names.js'),
  external: [...EXTERNAL, './grpc.js'],
  alias: { ...common.alias, '@grpc/grpc-js': './scripts/grpc-js-shim.cjs' },
  write: false,
  sourcemap: false,
  legalComments: 'none',
  plugins: [semconv.scan, freeRequirePlugin({ viaImporter: false }), yamlFilePlugin],
});
// core.cjs: register-main (SDK, hook, exit handling) and the public API, everything they load.
// One file, no code splitting: on Node 24 each extra ESM chunk costs memory (37 chunks measured
// +7 MiB peak RSS over one file). CommonJS, so that core.js (below) can compile it with a V8 code
// cache through vm.Script (compile-cache.ts; ESM has no such API without a flag): it runs in
// compile-cache.ts' wrapper, which supplies require, import.meta.url and the importer.
const core = await build({
  ...common,
  format: 'cjs',
  // The file is one function expression: compile-cache.ts compiles it as it is (no wrapped copy).
  banner: { js: `(function (${WRAPPER_PARAMS}) {` },
  footer: { js: '})' },
  define: { 'import.meta.url': '__echoesImportMetaUrl' },
  // import() inside a script compiled from cached data fails (no callback): bundled and builtin
  // modules are require()d instead, our ESM files go through __echoesImport (the plugin).
  supported: { 'dynamic-import': false },
  plugins: [semconv.plugin, freeRequirePlugin({ viaImporter: true }), yamlFilePlugin],
  entryPoints: [join(src, 'core.js')],
  outfile: join(out, 'core.cjs'),
  external: [...EXTERNAL, './grpc.js'],
  // The OTLP/gRPC exporters are bundled here (small; they share core.cjs' OTLP transformer and SDK,
  // and are evaluated only when a signal asks for gRPC); @grpc/grpc-js (~700 KB) is not: their
  // require of it gets the copy in grpc.js through this shim.
  alias: { ...common.alias, '@grpc/grpc-js': './scripts/grpc-js-shim.cjs' },
});
// ASCII only: V8 keeps a source string that has any character above U+00FF at two bytes per
// character, and four `→` of a comment esbuild kept made core.cjs' 1.9 MB source 3.8 MB of heap,
// for the life of the process (docs/performance.md, "Exit of a short-lived app"). esbuild escapes
// strings, regexps and identifiers (charset ascii); what is left, in comments, reads the same as
// `\uXXXX` (which would also be the same value anywhere else).
// And without keepNames' calls that set a name the function or class already has
// (redundant-names.mjs): -1.2 to -1.5 MiB peak RSS (docs/performance.md, "keepNames: only the
// names that need it"); then (the text parsed) those that give a function the name its property,
// variable, assignment or own name already gives it: 871 calls left before, 145 after.
// And each ES module's getter-copy of a CommonJS module's exports that only named reads use is
// the exports object itself (namespace-copies.mjs): ~2 000 getters fewer at startup, and no
// getter call per read of an API export at run time (docs/performance.md, "Startup memory on
// Node 20").
const coreUtf8 = readFileSync(join(out, 'core.cjs'), 'utf8');
const coreAscii = dropNamespaceCopies(
  dropNamedEvaluationNames(
    dropRedundantNames(
      coreUtf8.replace(
        /[\u0080-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      ),
    ).text,
  ).text,
).text;
if (coreAscii !== coreUtf8) writeFileSync(join(out, 'core.cjs'), coreAscii);
const leftImports = [...coreAscii.matchAll(/[^\w.$]import\(\s*["'`]/g)];
if (leftImports.length > 0) {
  console.error(
    `bundle: core.cjs still calls import() (fails under a code cache): ${leftImports.length}`,
  );
  process.exit(1);
}
const coreExports = coreNames.metafile.outputs[relative(root, join(out, 'core-names.js'))].exports;
// compile-cache.js: the loader, shared by register.js (configures it, saves the cache after
// startup) and core.js (loads core.cjs through it); only Node builtins.
const compileCache = await build({
  ...common,
  entryPoints: [join(src, 'compile-cache.js')],
  outfile: join(out, 'compile-cache.js'),
  plugins: [...common.plugins, builtinRequirePlugin],
});
// core.js: the ES module register.js imports and index.js re-exports; it compiles core.cjs with
// the code cache, keyed by this content hash (computed here, not at every start).
const coreHash = createHash('sha256').update(coreAscii).digest('hex');
writeFileSync(
  join(out, 'core.js'),
  `// Generated by scripts/bundle.mjs: core.cjs, compiled with a V8 code cache (compile-cache.ts).
import { loadCommonJs } from './compile-cache.js';
const core = loadCommonJs(new URL('./core.cjs', import.meta.url), '${coreHash}', (s) => import(s));
export const { ${coreExports.join(', ')} } = core;
`,
);
// grpc.js: @grpc/grpc-js, import()ed by core.js only when a signal's protocol is grpc
// (otlp-exporters.ts), and evaluated only at the first gRPC export.
const grpc = await build({
  ...common,
  entryPoints: [join(src, 'export/grpc.js')],
  outfile: join(out, 'grpc.js'),
  external: EXTERNAL,
});
// yaml.cjs: the yaml package's CommonJS build (the one Node loads: warnings through
// process.emitWarning), all of it (tree-shaking needs ESM input, and `parse` alone from its ESM
// build came to 264 KB against 262 for everything), minified (119 KB: 1.2 MiB less peak RSS in
// the express app on Node 20 than unminified), names kept; its ISC licence beside it.
const yamlOut = join(out, YAML_FILE);
const yaml = await build({
  ...common,
  format: 'cjs',
  banner: undefined,
  plugins: [],
  minify: true,
  legalComments: 'none',
  entryPoints: ['yaml'],
  outfile: yamlOut,
  external: [],
});
writeFileSync(
  `${yamlOut}.LEGAL.txt`,
  `Bundled license information:\n\nyaml/dist/index.js (yaml ${
    JSON.parse(readFileSync(join(root, 'node_modules/yaml/package.json'), 'utf8')).version
  }):\n${readFileSync(join(root, 'node_modules/yaml/LICENSE'), 'utf8')}`,
);
// register.js: reads the config and decides; it loads ./core.js only to instrument (so a child
// process that inherited the preload pays for the config alone) and shares it with index.js.
const register = await build({
  ...common,
  entryPoints: [join(src, 'register.js')],
  outfile: join(out, 'register.js'),
  external: [...EXTERNAL, './core.js', './compile-cache.js'],
  plugins: [...common.plugins, builtinRequirePlugin],
});
// The same two passes over keepNames' calls as for core.cjs: the config's rows are mostly arrows
// a property names (register.js is compiled from its source at every start: no code cache).
for (const file of ['register.js', 'compile-cache.js']) {
  const text = readFileSync(join(out, file), 'utf8');
  const named = dropNamedEvaluationNames(dropRedundantNames(text).text, 'module').text;
  if (named !== text) writeFileSync(join(out, file), named);
}
// index.js: the package's public API, the very module instance the preload runs.
const internal = new Set(['runRegister', 'warnDisabled']);
const publicNames = coreExports.filter((n) => !internal.has(n));
writeFileSync(
  join(out, 'index.js'),
  `// The public API of echoes-otel (instrumentation/index.ts), from the one core module.\nexport { ${publicNames.join(', ')} } from './core.js';\n`,
);

const stray = new Set();
const OUR_FILES = new Set(['./core.js', './grpc.js', './compile-cache.js', YAML_FILE]);
for (const result of [core, register, grpc, compileCache, yaml]) {
  for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    if (!/\.c?js$/.test(file)) continue;
    // esbuild lists every import, dynamic import() and require('literal') it left external.
    for (const imp of meta.imports) {
      if (imp.external && !allowed(imp.path) && !OUR_FILES.has(imp.path)) stray.add(imp.path);
    }
  }
}
if (stray.size > 0) {
  console.error(`bundle: would load from node_modules at run time: ${[...stray].join(', ')}`);
  process.exit(1);
}
const inputs = Object.keys(core.metafile.inputs).length;
const grpcInputs = Object.keys(grpc.metafile.inputs).length;
console.log(
  `bundle: dist/bundle/core.cjs (${inputs} modules) and its loader core.js, register.js, index.js (${publicNames.length} exports), grpc.js (${grpcInputs} modules, loaded for OTLP/gRPC only), yaml.cjs (${Object.keys(yaml.metafile.inputs).length} modules, loaded when a config file exists)`,
);
console.log(`bundle: semantic-conventions subset (${semconv.summary().join('; ')})`);
