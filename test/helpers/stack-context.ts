import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';

/**
 * A context manager with no AsyncLocalStorage (a plain stack, synchronous `with` only): for tests
 * that check code reading the active context still follows whatever manager is registered.
 */
export function createStackContextManager(): ContextManager {
  let current: Context = ROOT_CONTEXT;
  return {
    active: () => current,
    with(ctx, fn, thisArg, ...args) {
      const prev = current;
      current = ctx;
      try {
        return fn.call(thisArg, ...args);
      } finally {
        current = prev;
      }
    },
    bind: (_ctx, target) => target,
    enable() {
      return this;
    },
    disable() {
      return this;
    },
  };
}
