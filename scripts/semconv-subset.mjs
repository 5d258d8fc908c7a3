// The bundle's @opentelemetry/semantic-conventions (issue #11, docs/performance.md,
// "semantic-conventions subset"). The CommonJS builds of the SDK packages and of several
// instrumentations require the package for a handful of constants, and its CommonJS entry
// evaluates every table it has (deprecated ones included: about 0.5 MiB of strings and objects,
// about 3 ms of CPU per start). Bundled, each of those requires gets instead a small generated
// module that exports exactly the names the bundled code reads, with the values of the installed
// package (read from it at build time, so they cannot drift from it).
//
// Soundness: a name the subset lacked would be `undefined`, and an `undefined` attribute key breaks
// telemetry silently. So every importer's source is scanned, and the scan accepts only the forms it
// can read completely: `const x = require(spec)` (or `import * as x from spec`) where every other
// occurrence of `x` is `x.NAME` or `x['NAME']`, a destructuring or named import list, and
// `require(spec).NAME`. Any other occurrence of the specifier or of the binding fails the build, as
// does a name the installed package does not export or a value that is not a literal.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';

/** The specifiers replaced: the package and its `/incubating` entry. */
export const SEMCONV_FILTER = /^@opentelemetry\/semantic-conventions(?:\/incubating)?$/;
const ID = '[A-Za-z_$][\\w$]*';
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The names `source` reads from the module `spec`, and what it does with it that the scan cannot
 * account for (`problems`: each one fails the build).
 * @param {string} source
 * @param {string} spec
 * @returns {{ names: string[], problems: string[] }}
 */
export function namesRead(source, spec) {
  const names = new Set();
  const problems = [];
  const q = escape(spec);
  const lit = `(['"\`])${q}\\k<q>`.replace('(', '(?<q>');
  const snippet = (at) => JSON.stringify(source.slice(Math.max(0, at - 40), at + 60));
  /** Offsets of the specifier literals a recognised form accounts for. */
  const claimed = new Set();
  /** Namespace bindings, with the offset of their declaration. */
  const bindings = [];
  const list = (text, sepRe, at) => {
    for (const entry of text.split(',')) {
      if (entry.trim() === '') continue;
      const m = new RegExp(`^\\s*(${ID})\\s*(?:${sepRe}\\s*${ID}\\s*)?$`).exec(entry);
      if (m) names.add(m[1]);
      else
        problems.push(
          `a binding list entry it cannot read (${JSON.stringify(entry.trim())}) at ${snippet(at)}`,
        );
    }
  };
  const forms = [
    // const x = require(spec), tsc's CommonJS output, or through tslib's __importStar (which
    // copies the names; __importDefault is not accepted: a default import is the whole object).
    [
      `\\b(?:const|let|var)\\s+(?<binding>${ID})\\s*=\\s*(?:(?:${ID}\\.)?__importStar\\(\\s*)?require\\(\\s*${lit}\\s*\\)\\s*\\)?`,
      (m) => bindings.push({ name: m.groups.binding, at: m.indices.groups.binding[0] }),
    ],
    // const { A, B: b } = require(spec)
    [
      `\\b(?:const|let|var)\\s*\\{(?<list>[^{}]*)\\}\\s*=\\s*require\\(\\s*${lit}\\s*\\)`,
      (m) => list(m.groups.list, ':', m.index),
    ],
    // require(spec).NAME
    [
      `(?<![\\w$.])require\\(\\s*${lit}\\s*\\)\\s*\\.\\s*(?<name>${ID})`,
      (m) => names.add(m.groups.name),
    ],
    // import * as x from spec
    [
      `\\bimport\\s*\\*\\s*as\\s+(?<binding>${ID})\\s+from\\s*${lit}`,
      (m) => bindings.push({ name: m.groups.binding, at: m.indices.groups.binding[0] }),
    ],
    // import { A, B as b } from spec; export { A } from spec
    [
      `\\b(?:import|export)\\s*\\{(?<list>[^{}]*)\\}\\s*from\\s*${lit}`,
      (m) => list(m.groups.list, 'as', m.index),
    ],
  ];
  for (const [re, take] of forms) {
    for (const m of source.matchAll(new RegExp(re, 'gd'))) {
      claimed.add(m.indices.groups.q[0]);
      take(m);
    }
  }
  for (const m of source.matchAll(new RegExp(lit, 'g'))) {
    if (!claimed.has(m.index))
      problems.push(`a use of '${spec}' it cannot read at ${snippet(m.index)}`);
  }
  // The declarations themselves (one source may hold several modules' bindings of one name).
  const declared = new Set(bindings.map((b) => b.at));
  for (const name of new Set(bindings.map((b) => b.name))) {
    const use = new RegExp(
      `(?<![\\w$.])${escape(name)}(?![\\w$])(?:\\s*\\??\\.\\s*(?<member>${ID})|\\s*\\[\\s*(?<qm>['"])(?<key>${ID})\\k<qm>\\s*\\])?`,
      'g',
    );
    for (const m of source.matchAll(use)) {
      if (declared.has(m.index)) continue;
      const member = m.groups.member ?? m.groups.key;
      if (member) names.add(member);
      else
        problems.push(
          `'${name}' (from '${spec}') used other than as '${name}.NAME' at ${snippet(m.index)}`,
        );
    }
  }
  return { names: [...names].sort(), problems };
}

/**
 * The esbuild plugins of the subset. `scan` goes on a metadata-only build of the core (the one
 * scripts/bundle.mjs makes for core's export names): it leaves the package external and records
 * each importer and the names it reads. `plugin` goes on the real builds: it resolves the package
 * to the generated module, and fails the build for an importer whose names the subset lacks (one
 * the scan build did not see, e.g. in grpc.js).
 * @param {string} root the repository (esbuild's working directory)
 */
export function createSemconvSubset(root) {
  const require = createRequire(import.meta.url);
  /** Resolved package entry file -> { spec, names, importers } */
  const seen = new Map();
  /** Importer file -> names read, per specifier. */
  const scans = new Map();
  let frozen = null;

  const scanImporter = (importer, spec) => {
    const key = `${importer}\0${spec}`;
    let scan = scans.get(key);
    if (!scan) {
      scan = namesRead(readFileSync(importer, 'utf8'), spec);
      scans.set(key, scan);
    }
    return scan;
  };
  // Where esbuild itself resolves the specifier (the flag keeps our onResolve out of the way).
  const resolveReal = (b, args) =>
    b.resolve(args.path, {
      kind: args.kind,
      resolveDir: args.resolveDir,
      importer: args.importer,
      pluginData: { semconvReal: true },
    });
  const where = (file) => relative(root, file).split(sep).join('/');
  /** The generated module's path: under dist/semconv-subset/, named after the package file. */
  const virtualPath = (real) =>
    join(root, 'dist/semconv-subset', where(real).replace(/(^|\/)node_modules\//g, '$1'));

  const generate = () => {
    const modules = new Map();
    const errors = [];
    for (const [real, { spec, names, importers }] of seen) {
      const pkg = require(real);
      let version = '?';
      try {
        const dir = real.slice(0, real.lastIndexOf(`${sep}dist${sep}`));
        version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
      } catch {
        // the version is for the comment only
      }
      const lines = [];
      for (const name of [...names].sort()) {
        const value = pkg[name];
        if (!Object.prototype.hasOwnProperty.call(pkg, name)) {
          const by = importers.filter((i) => scans.get(`${i}\0${spec}`).names.includes(name));
          errors.push(
            `${by.map(where).join(', ')} read(s) '${name}', which ${spec} ${version} (${where(real)}) does not export`,
          );
          continue;
        }
        // Literals only: a string, a boolean, a finite number (the constants are strings today).
        // An object (the deprecated maps) or a function is refused rather than copied by halves.
        const literal =
          typeof value === 'string' ||
          typeof value === 'boolean' ||
          (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0));
        if (!literal) {
          errors.push(`'${name}' of ${spec} is not a string, boolean or number: not copied`);
          continue;
        }
        lines.push(`exports.${name} = ${JSON.stringify(value)};`);
      }
      modules.set(
        real,
        `// Generated by scripts/semconv-subset.mjs: the ${lines.length} names of ${spec} ${version} (${where(real)}) that the bundled code reads.\n"use strict";\n${lines.join('\n')}\n`,
      );
    }
    if (errors.length > 0)
      throw new Error(`semantic-conventions subset:\n  ${errors.join('\n  ')}`);
    return modules;
  };

  const scan = {
    name: 'echoes-semconv-scan',
    setup(b) {
      b.onResolve({ filter: SEMCONV_FILTER }, async (args) => {
        if (args.pluginData?.semconvReal) return undefined;
        const r = await resolveReal(b, args);
        if (r.errors.length > 0) return { errors: r.errors };
        const { names, problems } = scanImporter(args.importer, args.path);
        if (problems.length > 0) {
          return { errors: problems.map((p) => ({ text: `${where(args.importer)}: ${p}` })) };
        }
        let entry = seen.get(r.path);
        if (!entry)
          seen.set(r.path, (entry = { spec: args.path, names: new Set(), importers: [] }));
        for (const n of names) entry.names.add(n);
        entry.importers.push(args.importer);
        return { path: args.path, external: true };
      });
    },
  };

  const plugin = {
    name: 'echoes-semconv-subset',
    setup(b) {
      b.onResolve({ filter: SEMCONV_FILTER }, async (args) => {
        if (args.pluginData?.semconvReal) return undefined;
        frozen ??= generate();
        const r = await resolveReal(b, args);
        if (r.errors.length > 0) return { errors: r.errors };
        const entry = seen.get(r.path);
        const { names, problems } = scanImporter(args.importer, args.path);
        const missing = names.filter((n) => !entry?.names.has(n));
        if (problems.length > 0 || missing.length > 0) {
          return {
            errors: [
              ...problems.map((p) => ({ text: `${where(args.importer)}: ${p}` })),
              ...(missing.length > 0
                ? [
                    {
                      text: `${where(args.importer)} reads ${missing.join(', ')} from ${args.path}, not in the subset (the scan build did not see this importer: add its entry point to it)`,
                    },
                  ]
                : []),
            ],
          };
        }
        return { path: virtualPath(r.path), pluginData: { semconvFor: r.path } };
      });
      b.onLoad({ filter: /[\\/]dist[\\/]semconv-subset[\\/]/ }, (args) => ({
        contents: frozen.get(args.pluginData.semconvFor),
        loader: 'js',
        resolveDir: root,
      }));
    },
  };

  return {
    scan,
    plugin,
    /** What the scan found, for the build's summary line. */
    summary: () =>
      [...seen.values()].map(
        (e) => `${e.spec}: ${e.names.size} names for ${e.importers.length} importers`,
      ),
  };
}
