import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative } from 'node:path';
import type * as Yaml from 'yaml';
import { inCwd, type Layer, type ParseContext } from './config-parsers.js';
import { AFTER_MERGE, SETTINGS, type Resolver, type Setting } from './config-schema.js';
import type { EchoesConfig, EchoesOptions } from '../types.js';

// Dropped from the bundle's input (scripts/bundle.mjs): there, `require('yaml')` below loads
// dist/bundle/yaml.cjs, the yaml package bundled into one file.
const require = createRequire(import.meta.url);

/**
 * Reads every source through the schema's rows: defaults < config.yaml < environment (`ECHOES_*`,
 * then `OTEL_*`, which wins) < code options. Each source's value is parsed and validated by the
 * row's own type; a bad one becomes a problem and the value below it stays. A row's default may
 * depend on other rows, which are then merged first (every source); the adjustments between rows
 * run once, after the merge.
 */

export interface ConfigProblem {
  /** Variable name, `options.<key>` for code, or `config/config.yaml: logging.level` for the file. */
  readonly source: string;
  readonly value: string;
  readonly fallback: string;
  readonly message: string;
  /** `error`: a value was rejected and a fallback used; `warning`: accepted with an adjustment. */
  readonly severity: 'warning' | 'error';
}

export interface MergedSettings {
  readonly config: EchoesConfig;
  readonly problems: ConfigProblem[];
  /** Values of the intermediate rows (keys starting with `_`), e.g. `_diagLogLevel`. */
  readonly internal: ReadonlyMap<string, unknown>;
}

const byKey = new Map(SETTINGS.map((s) => [s.key, s]));
const envNames = (s: Setting): string[] =>
  (s.env ?? []).map((e) => (typeof e === 'string' ? e : e.name));

class Problems {
  readonly list: ConfigProblem[] = [];

  add(
    source: string,
    value: string,
    fallback: string,
    why: string,
    tail: string,
    severity: 'warning' | 'error' = 'error',
  ): void {
    const message = `${source}=${JSON.stringify(value)} ${why}; ${tail}`;
    this.list.push({ source, value, fallback, severity, message });
  }

  /** A rejected or adjusted value, and the value used instead. */
  fallback(source: string, value: string, fb: string, why: string, severity?: 'warning' | 'error') {
    this.add(source, value, fb, why, `using ${fb}`, severity);
  }

  /** Something skipped: no fallback value, only an outcome ("...; the entry is skipped"). */
  skipped(source: string, value: string, outcome: string, why: string): void {
    this.add(source, value, outcome, why, outcome);
  }
}

function shown(v: unknown, s: Setting): string {
  if (v === undefined) return s.fallbackText ?? '(unset)';
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const asText = (raw: unknown): string => (typeof raw === 'string' ? raw : JSON.stringify(raw));

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function mergeSettings(
  options: EchoesOptions,
  env: NodeJS.ProcessEnv,
  cwd: string,
): MergedSettings {
  const problems = new Problems();
  const values = new Map<string, unknown>();
  const setBy = new Map<string, string>();
  const resolving = new Set<string>();
  const code = codeLayer(options, problems);
  let yaml: YamlLayer | undefined;
  let pkg: { name?: string; version?: string } | undefined;

  const raw = (name: string): string | undefined => {
    // Blank means unset, as in the OTel spec.
    const t = env[name]?.trim();
    return t === '' ? undefined : t;
  };

  const resolver: Resolver = {
    cwd,
    get: <T>(key: string) => get(key) as T,
    isSet: (key) => (get(key), setBy.has(key)),
    packageJson: () => (pkg ??= readPackageJson(cwd)),
  };

  function get(key: string): unknown {
    if (values.has(key)) return values.get(key);
    const s = byKey.get(key);
    if (s === undefined) throw new Error(`config schema: no setting ${key}`);
    if (resolving.has(key)) throw new Error(`config schema: ${key} depends on itself`);
    resolving.add(key);
    let value =
      typeof s.default === 'function'
        ? (s.default as (r: Resolver) => unknown)(resolver)
        : s.default;
    const layers: Array<[Layer, string, unknown]> = [];
    if (s.yaml !== undefined) {
      yaml ??= readYaml(String(get('_configFile')), setBy.has('_configFile'), cwd, problems);
      if (yaml.values.has(s.yaml))
        layers.push(['yaml', `${yaml.shown}: logging.${s.yaml}`, yaml.values.get(s.yaml)]);
    }
    // Lowest first: an ECHOES_ alias, then the OTEL_ name that wins over it.
    for (const name of envNames(s).reverse()) {
      const v = raw(name);
      if (v !== undefined) layers.push(['env', name, v]);
    }
    if (code.has(key)) layers.push(['code', `options.${key}`, code.get(key)]);
    for (const [layer, source, input] of layers) {
      if (input === null || input === undefined) continue;
      const text = asText(input);
      const below = value;
      const cx: ParseContext = {
        cwd,
        layer,
        fail: (why) => (problems.fallback(source, text, shown(below, s), why), undefined),
        note: (why, fb, severity) => problems.fallback(source, text, fb, why, severity),
        skip: (entry, why, outcome = 'the entry is skipped') =>
          problems.skipped(source, entry, outcome, why),
      };
      const parsed = s.type.parse(input, cx);
      if (parsed === undefined) continue;
      value = s.combine ? s.combine(below, parsed, layer) : parsed;
      setBy.set(key, source);
    }
    values.set(key, value);
    resolving.delete(key);
    return value;
  }

  for (const s of SETTINGS) if (s.readElsewhere !== true) get(s.key);
  for (const adjust of AFTER_MERGE) {
    adjust({
      get: <T>(key: string) => get(key) as T,
      set: (key, v) => values.set(key, v),
      sourceOf: (key) => setBy.get(key),
      warn: (source, value, fb, why) => problems.fallback(source, value, fb, why, 'warning'),
    });
  }

  const config: Record<string, unknown> = {};
  const internal = new Map<string, unknown>();
  for (const s of SETTINGS) {
    if (s.readElsewhere === true) continue;
    if (s.key.startsWith('_')) {
      internal.set(s.key, values.get(s.key));
      continue;
    }
    const parts = s.key.split('.');
    let o = config;
    for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
    o[parts[parts.length - 1]!] = values.get(s.key);
  }
  return {
    config: deepFreeze(config) as unknown as EchoesConfig,
    problems: problems.list,
    internal,
  };
}

/** Code options by row key; a key that is no setting is a problem (JavaScript callers get no type check). */
function codeLayer(options: EchoesOptions, problems: Problems): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (o: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined) continue;
      const key = prefix === '' ? k : `${prefix}.${k}`;
      const s = byKey.get(key);
      if (s !== undefined && !key.startsWith('_')) out.set(key, v);
      else if (isPlainObject(v) && SETTINGS.some((r) => r.key.startsWith(`${key}.`))) walk(v, key);
      else
        problems.skipped(`options.${key}`, asText(v), 'the option is ignored', 'is not a setting');
    }
  };
  if (isPlainObject(options)) walk(options, '');
  return out;
}

interface YamlLayer {
  /** How problems name the file: as given, or relative to the working directory. */
  readonly shown: string;
  /** Values under `logging:` by dotted key (`file_rotation.max_bytes`). */
  readonly values: ReadonlyMap<string, unknown>;
}

const YAML_KEYS = SETTINGS.flatMap((s) => (s.yaml === undefined ? [] : [s.yaml]));

function readYaml(given: string, explicit: boolean, cwd: string, problems: Problems): YamlLayer {
  const file = inCwd(cwd, given);
  const rel = isAbsolute(file) && file.startsWith(cwd) ? relative(cwd, file) || file : file;
  const none: YamlLayer = { shown: given, values: new Map() };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    if (explicit)
      problems.fallback('ECHOES_CONFIG_FILE', file, 'no config file', `cannot be read (${code})`);
    return none;
  }
  const defaults = 'defaults for every logging setting';
  let doc: unknown;
  try {
    // Loaded only when there is a file to parse: the yaml package alone measured +8 MiB RSS at
    // startup (Node 20; +12 MiB on Node 24), paid by every app without a config.yaml otherwise.
    // Bundled, one file instead of yaml's ~70 (docs/performance.md, "Config file: yaml").
    const { parse: parseYaml } = require('yaml') as typeof Yaml;
    doc = parseYaml(text);
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0] ?? 'parse error';
    problems.fallback(rel, first, defaults, 'is not valid YAML');
    return none;
  }
  if (doc === null || doc === undefined) return none;
  if (!isPlainObject(doc)) {
    problems.fallback(rel, typeof doc, defaults, 'is not a YAML mapping');
    return none;
  }
  // Other top-level sections belong to the application (the audit's file has many).
  const logging = doc.logging;
  if (logging === undefined || logging === null) return none;
  if (!isPlainObject(logging)) {
    problems.fallback(`${rel}: logging`, String(logging), defaults, 'is not a mapping');
    return none;
  }
  const values = new Map<string, unknown>();
  const walk = (o: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      const key = prefix === '' ? k : `${prefix}.${k}`;
      if (YAML_KEYS.includes(key)) {
        values.set(key, v);
      } else if (YAML_KEYS.some((y) => y.startsWith(`${key}.`))) {
        if (isPlainObject(v)) walk(v, key);
        else if (v !== null)
          problems.fallback(
            `${given}: logging.${key}`,
            String(v),
            'its defaults',
            'is not a mapping',
          );
      } else {
        const near = closest(key, YAML_KEYS);
        problems.skipped(
          `${given}: logging.${key}`,
          asText(v),
          'the key is ignored',
          `is not a logging setting${near ? ` (did you mean ${near}?)` : ''}`,
        );
      }
    }
  };
  walk(logging, '');
  return { shown: given, values };
}

/** The known key within edit distance 2 of a typo, if one is. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length]!;
}

function readPackageJson(cwd: string): { name?: string; version?: string } {
  try {
    const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    return {
      ...(typeof pkg.name === 'string' && pkg.name !== '' ? { name: pkg.name } : {}),
      ...(typeof pkg.version === 'string' ? { version: pkg.version } : {}),
    };
  } catch {
    return {};
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}
