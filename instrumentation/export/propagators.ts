import { createRequire } from 'node:module';
import type { TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import type * as B3 from '@opentelemetry/propagator-b3';
import type { PropagatorName } from '../types.js';

/**
 * The global propagator OTEL_PROPAGATORS names (config.propagators, in order): `tracecontext`,
 * `baggage`, `b3` (one `b3` header), `b3multi` (`X-B3-TraceId`, ...). Every B3 propagator extracts
 * both encodings; the name only chooses what is injected. `none` (an empty list) registers no
 * propagator: nothing is injected or extracted. The B3 package is required only when named.
 */

const require = createRequire(import.meta.url);

function createB3(multi: boolean): TextMapPropagator {
  // Literal specifier: scripts/bundle.mjs bundles it (still evaluated on first use only).
  const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3') as typeof B3;
  return new B3Propagator({
    injectEncoding: multi ? B3InjectEncoding.MULTI_HEADER : B3InjectEncoding.SINGLE_HEADER,
  });
}

/** The propagator for the names, or null for none (then none is registered). */
export function createPropagator(names: readonly PropagatorName[]): TextMapPropagator | null {
  const propagators = names.map((name): TextMapPropagator => {
    switch (name) {
      case 'tracecontext':
        return new W3CTraceContextPropagator();
      case 'baggage':
        return new W3CBaggagePropagator();
      case 'b3':
        return createB3(false);
      case 'b3multi':
        return createB3(true);
    }
  });
  if (propagators.length === 0) return null;
  return propagators.length === 1 ? propagators[0]! : new CompositePropagator({ propagators });
}
