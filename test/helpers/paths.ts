import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, for every test and helper. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built instrumentation (scripts/test.mjs builds it before the tests). */
export const DIST = join(REPO_ROOT, 'dist/instrumentation');
/** The built preload, as users give it to `--import`. */
export const REGISTER = join(DIST, 'register.js');
