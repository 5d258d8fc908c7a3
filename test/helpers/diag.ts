import { diag, DiagLogLevel } from '@opentelemetry/api';

/**
 * Routes the OTel diag logger's warnings into `into` (and drops everything else) for a unit test
 * that asserts on what the code warned. Returns `into`.
 */
export function captureDiagWarnings(into: string[] = []): string[] {
  diag.setLogger(
    {
      error: () => undefined,
      warn: (m: string) => void into.push(m),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  return into;
}
