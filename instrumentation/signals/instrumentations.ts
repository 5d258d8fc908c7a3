// Loaded by sdk.ts only when an instrumentation is on. A module of ours rather than a dynamic
// import() of the package: bundled, that import() would get esbuild's CommonJS interop instead of
// Node's (scripts/bundle.mjs refuses one); a static import behaves the same bundled or not.
export { registerInstrumentations } from '@opentelemetry/instrumentation';
