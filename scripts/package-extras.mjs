#!/usr/bin/env node
// `npm run build`, third step: what the published package needs besides the runtime bundle.
//   - dist/bundle/cli.js: the `echoes-otel` command in one file (hdr-histogram-js and our
//     modules inlined; the config module's `require('yaml')` loads ./yaml.cjs, the yaml package
//     bundled by scripts/bundle.mjs, when a config.yaml exists), so the package depends on
//     nothing the CLI alone would pull in.
//   - dist/bundle/index.d.ts: the public types (instrumentation/index.ts) rolled up into one
//     file with no import of another package, so a TypeScript app type-checks against
//     `echoes-otel` without the OpenTelemetry SDK packages installed (they are bundled, not
//     dependencies).
// Both checked: the CLI bundle may load only Node builtins and ./yaml.cjs; the declaration file
// may import nothing.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { generateDtsBundle } from 'dts-bundle-generator';
import { writeFileSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/bundle');
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const YAML_FILE = './yaml.cjs';
// As in scripts/bundle.mjs: our modules' local `require` binding is dropped, so that esbuild sees
// their `require('literal')` calls, and `require('yaml')` loads the bundle's yaml.cjs.
const LOCAL_REQUIRE = 'const require = createRequire(import.meta.url);';
const requirePlugin = {
  name: 'echoes-cli-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/](?:instrumentation|src)[\\/].*\.js$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').split(LOCAL_REQUIRE).join(''),
      loader: 'js',
    }));
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: YAML_FILE, external: true }));
  },
};

const cli = await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile: join(out, 'cli.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.6',
  plugins: [requirePlugin],
  // Bundled CommonJS (hdr-histogram-js) calls require() for builtins.
  banner: {
    js: "import { createRequire as __echoesCreateRequire } from 'node:module'; const require = __echoesCreateRequire(import.meta.url);",
  },
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
const stray = new Set();
for (const [file, meta] of Object.entries(cli.metafile.outputs)) {
  if (!file.endsWith('.js')) continue;
  for (const imp of meta.imports)
    if (imp.external && imp.path !== YAML_FILE && !builtins.has(imp.path)) stray.add(imp.path);
}
if (stray.size > 0) {
  console.error(`package: the CLI bundle would load from node_modules: ${[...stray].join(', ')}`);
  process.exit(1);
}

const [dts] = generateDtsBundle(
  [{ filePath: join(root, 'instrumentation/index.ts'), output: { noBanner: true } }],
  { preferredConfigPath: join(root, 'tsconfig.build.json') },
);
// Code only (doc comments quote `import ... from 'echoes-otel'`).
const code = dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
const imports = [
  ...code.matchAll(
    /^\s*(?:import|export)\b[^\n;]*\bfrom\s+['"][^'"]+['"]|\bimport\(\s*['"][^'"]+['"]\s*\)/gm,
  ),
];
if (imports.length > 0) {
  console.error(
    `package: the public types import other modules: ${imports.map((m) => m[0]).join('; ')}`,
  );
  process.exit(1);
}
writeFileSync(join(out, 'index.d.ts'), dts);
const kib = (f) => `${(readFileSync(f).length / 1024).toFixed(0)} KiB`;
console.log(
  `package: ${relative(root, join(out, 'cli.js'))} (${kib(join(out, 'cli.js'))}), ${relative(root, join(out, 'index.d.ts'))} (${kib(join(out, 'index.d.ts'))})`,
);
