// Loaded by sdk.ts only when an instrumentation is on. A module of ours rather than a dynamic
// import() of the package: bundled, that import() would get esbuild's CommonJS interop instead of
// Node's (scripts/bundle.mjs refuses one); a static import behaves the same bundled or not.
import {
  InstrumentationBase,
  registerInstrumentations as registerUpstream,
} from '@opentelemetry/instrumentation';
import { memoizePackageVersions, setupResolveOnce } from './require-once.js';

/**
 * Registers them as the SDK does; then, with require-in-the-middle's hook in place (enabling an
 * instrumentation installs it), each `require` of the app resolves once and each hooked package's
 * version is read once (require-once.ts).
 */
export function registerInstrumentations(
  options: Parameters<typeof registerUpstream>[0],
): ReturnType<typeof registerUpstream> {
  memoizePackageVersions(InstrumentationBase);
  const unregister = registerUpstream(options);
  setupResolveOnce();
  return unregister;
}
