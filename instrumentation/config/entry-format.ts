import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { compileFunction } from 'node:vm';

/**
 * Whether the application this preload runs in starts from a CommonJS entry, decided the way Node
 * decides it, so register can leave out the ESM import hook where it cannot matter: an app whose
 * entry is CommonJS loads its modules with `require`, which require-in-the-middle already sees.
 * On Node 20 that hook is a loader thread (about 10 MiB and 35 ms of CPU, bench/RESULTS.md).
 *
 * Only a certain answer is `commonjs`; everything else (`module`, or `unknown`: a REPL, stdin,
 * an unreadable or very large entry, a file that is not valid CommonJS, an unusual extension)
 * keeps the hook. The one thing a CommonJS entry gives up is `import()` of winston or lru-cache
 * (ECHOES_ESM_HOOK=on keeps the hook for it).
 */
export type EntryFormat = 'commonjs' | 'module' | 'unknown';

export interface EntryInfo {
  readonly format: EntryFormat;
  /** Why, in a few words, for the debug log: `/srv/app/main.js: package.json "type": "commonjs"`. */
  readonly why: string;
}

export interface EntryProbe {
  /** `process.argv`: [1] is the entry, already absolute when a preload runs. */
  readonly argv: readonly string[];
  /** `process.execArgv`. */
  readonly execArgv: readonly string[];
  /** `NODE_OPTIONS` (its flags are not in execArgv). */
  readonly nodeOptions?: string | undefined;
}

/** Entries larger than this are not parsed (the parse costs about 1 ms per 80 KiB): `unknown`. */
export const MAX_PARSED_ENTRY_BYTES = 1024 * 1024;

const EVAL_FLAGS = new Set(['-e', '--eval', '-p', '--print', '-pe', '-ep']);
const CJS_WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

function flagValue(flags: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i]!;
    if (f === name) return flags[i + 1];
    if (f.startsWith(`${name}=`)) return f.slice(name.length + 1);
  }
  return undefined;
}

/**
 * Valid as the body of a CommonJS module wrapper: Node's own test before it reparses an untyped
 * file as ESM (module syntax detection, on by default since 20.19 / 22.12). A file that fails is
 * either ESM or broken; both keep the hook.
 */
function parsesAsCommonJs(source: string, filename: string): boolean {
  // A hashbang is only valid as the first line of a script, not of a function body.
  const body = source.startsWith('#!') ? source.replace(/^#![^\n]*/, '') : source;
  try {
    compileFunction(body, CJS_WRAPPER_PARAMS, { filename });
    return true;
  } catch {
    return false;
  }
}

/** The `type` of the package.json nearest to `file`, as Node looks it up. */
function packageType(file: string): { type: string | undefined; pkg: string } | undefined {
  let dir = dirname(file);
  for (;;) {
    const pkg = join(dir, 'package.json');
    let text: string | undefined;
    try {
      text = readFileSync(pkg, 'utf8');
    } catch {
      // No package.json here: look further up.
    }
    if (text !== undefined) {
      try {
        const type = (JSON.parse(text) as { type?: unknown }).type;
        return { type: typeof type === 'string' ? type : undefined, pkg };
      } catch {
        return undefined;
      }
    }
    const up = dirname(dir);
    if (up === dir) return { type: undefined, pkg: '(none)' };
    dir = up;
  }
}

function resolveEntry(entry: string): string | undefined {
  try {
    if (statSync(entry).isFile()) return entry;
  } catch {
    // Not a file as given: Node resolves the main entry like require does (extensions, index).
  }
  try {
    return createRequire(entry).resolve(entry);
  } catch {
    return undefined;
  }
}

const tooLarge = (what: string): EntryInfo => ({
  format: 'unknown',
  why: `${what}: larger than ${MAX_PARSED_ENTRY_BYTES} bytes`,
});

/** An untyped source: CommonJS if it parses as such (callers check its size first). */
function sourceFormat(source: string, filename: string, what: string): EntryInfo {
  return parsesAsCommonJs(source, filename)
    ? { format: 'commonjs', why: `${what}: no "type", parses as CommonJS` }
    : { format: 'unknown', why: `${what}: no "type", not valid CommonJS (ESM syntax?)` };
}

/** The format of the entry `probe` describes (config.ts' `entryProbe()` for this process). */
export function entryFormat(probe: EntryProbe): EntryInfo {
  const flags = [...probe.execArgv, ...(probe.nodeOptions?.split(/\s+/).filter(Boolean) ?? [])];
  if (flagValue(flags, '--experimental-default-type') === 'module') {
    return { format: 'module', why: '--experimental-default-type=module' };
  }
  const evalAt = probe.execArgv.findIndex((f) => EVAL_FLAGS.has(f));
  const evalEq = probe.execArgv.find((f) => f.startsWith('--eval=') || f.startsWith('--print='));
  if (evalAt !== -1 || evalEq !== undefined) {
    const inputType = flagValue(flags, '--input-type');
    if (inputType === 'module') return { format: 'module', why: '--eval with --input-type=module' };
    if (inputType === 'commonjs') {
      return { format: 'commonjs', why: '--eval with --input-type=commonjs' };
    }
    const code = evalEq?.slice(evalEq.indexOf('=') + 1) ?? probe.execArgv[evalAt + 1] ?? '';
    if (Buffer.byteLength(code) > MAX_PARSED_ENTRY_BYTES) return tooLarge('--eval');
    return sourceFormat(code, '[eval]', '--eval');
  }
  const entry = probe.argv[1];
  if (entry === undefined) return { format: 'unknown', why: 'no entry file (REPL or stdin)' };
  const file = resolveEntry(entry);
  if (file === undefined) return { format: 'unknown', why: `${entry}: not found` };
  const ext = extname(file);
  if (ext === '.mjs' || ext === '.mts') return { format: 'module', why: `${file}: ${ext}` };
  if (ext === '.cjs' || ext === '.cts') return { format: 'commonjs', why: `${file}: ${ext}` };
  if (ext !== '.js' && ext !== '.ts' && ext !== '') {
    return { format: 'unknown', why: `${file}: extension ${ext}` };
  }
  const pkg = packageType(file);
  if (pkg === undefined) return { format: 'unknown', why: `${file}: unreadable package.json` };
  if (pkg.type === 'module') return { format: 'module', why: `${pkg.pkg}: "type": "module"` };
  if (pkg.type === 'commonjs') {
    return { format: 'commonjs', why: `${pkg.pkg}: "type": "commonjs"` };
  }
  let source: string;
  try {
    if (statSync(file).size > MAX_PARSED_ENTRY_BYTES) return tooLarge(file);
    source = readFileSync(file, 'utf8');
  } catch (err) {
    return { format: 'unknown', why: `${file}: ${(err as Error).message}` };
  }
  return sourceFormat(source, file, file);
}
