import type { EntryProbe } from './entry-format.js';
import { SETTINGS, shownDefaultOf } from './config-schema.js';
import { mergeSettings, type ConfigProblem } from './config-sources.js';
import type { DiagLevelName } from './config-names.js';
import type { EchoesConfig, EchoesOptions } from '../types.js';

/**
 * The only module that reads the environment. `loadConfig` reads code options > environment
 * (standard `OTEL_*` first, then `ECHOES_*`) > `config/config.yaml` > defaults into one frozen
 * `EchoesConfig`, once, every source through the same schema rows (config-schema.ts) and the same
 * validation (config-sources.ts). A bad value never throws: it becomes a `ConfigProblem` naming the
 * source, the value and the fallback, and the fallback is used (register warns about each problem
 * once, `echoes-otel check-config` exits non-zero on errors).
 */

export type { ConfigProblem } from './config-sources.js';
export {
  DEFAULT_REDACT_KEYS,
  INSTRUMENTATION_NAMES,
  type DiagLevelName,
  type InstrumentationName,
} from './config-names.js';
export { LOG_LEVELS } from './config-parsers.js';
export { signalUrl } from './config-schema.js';

export interface LoadedConfig {
  readonly config: EchoesConfig;
  readonly problems: ConfigProblem[];
  /** `OTEL_LOG_LEVEL` for OTel's own diagnostics (`none`…`all`); undefined when unset. */
  readonly diagLogLevel: DiagLevelName | undefined;
}

export interface ConfigSource {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface EnvVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

/** Every variable the schema reads, with its default and meaning, in the rows' (the docs') order. */
export const ENV_VARIABLES: readonly EnvVariable[] = envVariables();

function envVariables(): EnvVariable[] {
  // A plain loop: this runs in register at every startup.
  const out: EnvVariable[] = [];
  for (const s of SETTINGS) {
    for (const e of s.env ?? []) {
      const entry = typeof e === 'string' ? { name: e } : e;
      out.push({
        name: entry.name,
        default: shownDefaultOf(s, entry),
        description: entry.doc ?? s.doc,
      });
    }
  }
  return out;
}
export type EnvName = string;

/** Env var that register sets for child processes so an inherited `--import` stays quiet there. */
export const PRELOAD_PARENT_VAR = 'ECHOES_PRELOAD_PARENT_PID';

/** The pid of an instrumented parent process, if this process inherited our preload from one. */
export function inheritedPreloadParent(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[PRELOAD_PARENT_VAR];
  if (raw === undefined || raw.trim() === '') return undefined;
  const pid = Number(raw);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid ? pid : undefined;
}

/**
 * Whether this process is a `cluster` worker: Node's cluster module decides it by `NODE_UNIQUE_ID`
 * in the environment (its primary sets it for the workers it forks). For export/listen.ts.
 */
export function isClusterWorker(env: NodeJS.ProcessEnv = process.env): boolean {
  return 'NODE_UNIQUE_ID' in env;
}

/**
 * What entry-format.ts needs to tell a CommonJS entry from an ESM one: the entry, and the flags
 * (`--eval`, `--input-type`) from the command line and from `NODE_OPTIONS`.
 */
export function entryProbe(env: NodeJS.ProcessEnv = process.env): EntryProbe {
  return { argv: process.argv, execArgv: process.execArgv, nodeOptions: env.NODE_OPTIONS };
}

/** Marks the environment children inherit, so a child started with our NODE_OPTIONS knows it is one. */
export function markPreloadParent(env: NodeJS.ProcessEnv = process.env): void {
  env[PRELOAD_PARENT_VAR] = String(process.pid);
}

export function loadConfig(options: EchoesOptions = {}, src: ConfigSource = {}): LoadedConfig {
  const merged = mergeSettings(options, src.env ?? process.env, src.cwd ?? process.cwd());
  return {
    config: merged.config,
    problems: merged.problems,
    diagLogLevel: merged.internal.get('_diagLogLevel') as DiagLevelName | undefined,
  };
}

/** One line per problem, as register prints them and `check-config` lists them. */
export function formatProblem(p: ConfigProblem): string {
  return `echoes-otel: config ${p.severity}: ${p.message}`;
}
