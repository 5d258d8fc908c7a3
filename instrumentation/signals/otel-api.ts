import {
  context as apiContext,
  propagation as apiPropagation,
  ROOT_CONTEXT as apiRootContext,
  SpanKind as apiSpanKind,
  SpanStatusCode as apiSpanStatusCode,
  trace as apiTrace,
} from '@opentelemetry/api';
import {
  isTracingSuppressed as coreIsTracingSuppressed,
  suppressTracing as coreSuppressTracing,
} from '@opentelemetry/core';

/**
 * The `@opentelemetry/api` and `@opentelemetry/core` exports the hot paths use (http, fetch, fs,
 * db), read once into plain module constants. Both packages are CommonJS, and in the bundle each
 * named import of one becomes a property read through esbuild's interop getters
 * (`__toESM` → `__copyProps`, then TypeScript's own re-export getter) at every use: about 8 ns
 * per read measured (`bench/api-reads.mjs`; tens of ns per request, far less than the profile's
 * estimate; docs/performance.md "Per-request costs"). Imported from here, a hot function reads a
 * module variable. The values are the API's singletons and enums,
 * which never change after load.
 */

export const context = apiContext;
export const trace = apiTrace;
export const propagation = apiPropagation;
export const ROOT_CONTEXT = apiRootContext;
export const SpanKind = apiSpanKind;
export const SpanStatusCode = apiSpanStatusCode;
export const isTracingSuppressed = coreIsTracingSuppressed;
export const suppressTracing = coreSuppressTracing;
// The enums are types too (`status: { code: SpanStatusCode }`).
export type SpanKind = apiSpanKind;
export type SpanStatusCode = apiSpanStatusCode;

// The context layers and the attribute hand-over live with the tracer that takes them (the export
// layer may not import a feature's module); the hot paths import them from here with the rest.
export {
  adoptAttributes,
  deleteContextValue,
  setContextValue,
  setSpan,
} from '../export/sdk-internals.js';
