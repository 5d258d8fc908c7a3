// @grpc/grpc-js for the OTLP/gRPC exporters, in a file of its own: otlp-exporters.ts import()s it
// only when a signal's protocol is `grpc`, and scripts/bundle.mjs makes it dist/bundle/grpc.js,
// so core.js does not carry it. Importing it evaluates nothing of gRPC: it leaves a loader that
// core.js' `require('@grpc/grpc-js')` calls at the first export (scripts/grpc-js-shim.cjs), as
// upstream's exporters themselves require it lazily.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const SLOT = Symbol.for('echoes-otel.grpc-js');
(globalThis as Record<symbol, unknown>)[SLOT] ??= (): unknown => require('@grpc/grpc-js');

export const GRPC_JS_LOADER = SLOT;
