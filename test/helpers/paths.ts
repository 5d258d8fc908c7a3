import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, for every test and helper. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The package as it ships (scripts/bundle.mjs): `echoes-otel` is index.js, the preload register.js. */
export const BUNDLE = join(REPO_ROOT, 'dist/bundle');
/** The built preload, as users give it to `--import` (`echoes-otel/register`). */
export const REGISTER = join(BUNDLE, 'register.js');
