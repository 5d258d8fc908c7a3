import fs from 'node:fs';

/**
 * The originals the fs patch replaced, apart from the wrappers: dirs.ts reads them without loading
 * the fs instrumentation (an app with fs metrics off never evaluates the wrappers).
 */

export interface Patch {
  readonly target: Record<string, unknown>;
  readonly key: string;
  readonly original: unknown;
}

/** The patches of the installed fs instrumentation (fs.ts keeps it up to date), or none. */
let current: readonly Patch[] | undefined;

/** Called by fs.ts at installation (with the array it keeps appending to) and shutdown. */
export function setCurrentPatches(patches: readonly Patch[] | undefined): void {
  current = patches;
}

/**
 * The original `fs.promises` function, whatever is patched now: for our own monitors (dirs.ts),
 * whose directory walks must not show up in the app's disk-I/O figures.
 */
export function unpatchedPromises<K extends keyof typeof fs.promises>(
  key: K,
): (typeof fs.promises)[K] {
  const p = current?.find((x) => x.target === (fs.promises as unknown) && x.key === key);
  return (p?.original ?? fs.promises[key]) as (typeof fs.promises)[K];
}
