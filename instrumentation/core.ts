// The core the preload loads once it has decided to instrument (register.ts): the public API
// (index.ts) and what register runs, in one module, so that scripts/bundle.mjs makes them one
// bundle and the preload and `import ... from 'echoes-otel'` share one SDK, logger and caches.
// The public list is index.ts' (explicit there); this internal module passes it on whole.
// eslint-disable-next-line no-restricted-syntax
export * from './index.js';
export { runRegister } from './register-main.js';
export { warnDisabled } from './export/diag.js';
