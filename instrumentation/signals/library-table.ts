import type { EchoesConfig } from '../types.js';

/**
 * The client libraries instrumented on demand (libraries.ts): per row, the package names whose
 * first load constructs the upstream instrumentation. Pure data, so register-main.ts can name the
 * modules to its ESM import hook without loading anything else.
 */
export type LibraryName = 'pg' | 'mysql2' | 'ioredis' | 'redis' | 'mongodb' | 'openai';

export interface LibraryRow {
  /** The upstream name, also the `config.instrumentations` key. */
  readonly name: LibraryName;
  /** Packages the upstream instrumentation hooks (a load of any of their files triggers it). */
  readonly modules: readonly string[];
}

export const LIBRARIES: readonly LibraryRow[] = [
  { name: 'pg', modules: ['pg', 'pg-pool'] },
  { name: 'mysql2', modules: ['mysql2'] },
  { name: 'ioredis', modules: ['ioredis'] },
  // redis 4+ is a facade over @redis/client, which holds the code instrumented.
  { name: 'redis', modules: ['redis', '@redis/client'] },
  { name: 'mongodb', modules: ['mongodb'] },
  { name: 'openai', modules: ['openai'] },
];

/** Module names of the switched-on libraries, for the ESM import hook's list. */
export function libraryModules(config: EchoesConfig): string[] {
  return LIBRARIES.filter((l) => config.instrumentations[l.name]).flatMap((l) => l.modules);
}
