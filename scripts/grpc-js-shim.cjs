'use strict';
/* global module */
// What `require('@grpc/grpc-js')` is inside dist/bundle/core.js (scripts/bundle.mjs aliases it
// here): the gRPC exporters are bundled in core.js (they share its OTLP transformer), while
// @grpc/grpc-js lives in dist/bundle/grpc.js. That file, import()ed before any gRPC exporter is
// made (otlp-exporters.ts), leaves a loader under this symbol; the exporters' first require of
// @grpc/grpc-js, at their first export, gets the real module through it.
const load = globalThis[Symbol.for('echoes-otel.grpc-js')];
if (typeof load !== 'function') {
  throw new Error('echoes-otel: @grpc/grpc-js is not loaded (dist/bundle/grpc.js)');
}
module.exports = load();
