// Loaded by sdk.ts only when an instrumentation is on. A module of ours rather than a dynamic
// import() of the package: bundled, a dynamic import() of a CommonJS package keeps only its
// default export (scripts/bundle.mjs refuses one).
export { registerInstrumentations } from '@opentelemetry/instrumentation';
