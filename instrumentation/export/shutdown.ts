/**
 * Deadline helpers for exit: telemetry must never hold the process. `sdk.shutdown()` took 7.5 s to
 * reject with the collector down (README's exit row, bench/exit.mjs), so every step is raced against what is left of one
 * deadline, and no rejection escapes.
 */

export type StepOutcome = 'done' | 'failed' | 'timeout';

export interface StepResult {
  readonly name: string;
  readonly outcome: StepOutcome;
  readonly error?: string;
}

/** Runs `fn` (sync or async, may throw) and settles by `deadline` (epoch ms) at the latest. */
export function raceDeadline(
  name: string,
  fn: () => unknown,
  deadline: number,
): Promise<StepResult> {
  return new Promise<StepResult>((resolve) => {
    let settled = false;
    const finish = (r: StepResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ name, outcome: 'timeout' }),
      Math.max(0, deadline - Date.now()),
    );
    // The deadline must not itself keep a finished app alive.
    timer.unref();
    try {
      Promise.resolve(fn()).then(
        () => finish({ name, outcome: 'done' }),
        (err: unknown) =>
          finish({
            name,
            outcome: 'failed',
            error: err instanceof Error ? err.message : String(err),
          }),
      );
    } catch (err) {
      finish({ name, outcome: 'failed', error: err instanceof Error ? err.message : String(err) });
    }
  });
}

export interface Phase {
  readonly name: string;
  readonly steps: readonly { readonly name: string; readonly run: () => unknown }[];
}

/** Phases run in order, the steps of a phase in parallel, all within one deadline. */
export async function runPhases(
  phases: readonly Phase[],
  timeoutMs: number,
): Promise<StepResult[]> {
  const deadline = Date.now() + timeoutMs;
  const results: StepResult[] = [];
  for (const phase of phases) {
    results.push(
      ...(await Promise.all(
        phase.steps.map((s) => raceDeadline(`${phase.name}:${s.name}`, s.run, deadline)),
      )),
    );
  }
  return results;
}

/** Wraps an async function so that it runs once; later calls get the first call's promise. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}
