import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../../../../instrumentation/config/config.js';

const root = join(import.meta.dirname, '../../../..');

/** Variable names in the first column of the README table between the env-table markers. */
function readmeVariables(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- env-table:start -->');
  const end = readme.indexOf('<!-- env-table:end -->');
  expect(start, 'README env-table markers').toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return readme
    .slice(start, end)
    .split('\n')
    .map((line) => /^\|\s*`([A-Z0-9_]+)`\s*\|/.exec(line)?.[1])
    .filter((n): n is string => n !== undefined);
}

describe('README environment table', () => {
  it('lists exactly the variables config.ts reads, in the same order', () => {
    expect(readmeVariables()).toEqual(ENV_VARIABLES.map((v) => v.name));
  });

  it('lists only names config.ts really reads from the environment', () => {
    // ENV_VARIABLES is derived from the schema rows the reader reads; every ECHOES_/OTEL_ literal
    // in the config modules (config.ts and the schema's config-*.ts) must be one of them.
    const dir = join(root, 'instrumentation/config');
    const src = readdirSync(dir)
      .filter((f) => /^config(-[a-z-]+)?\.ts$/.test(f))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    const literals = new Set([...src.matchAll(/'((?:OTEL|ECHOES)_[A-Z0-9_]+)'/g)].map((m) => m[1]));
    expect(literals.size).toBeGreaterThan(40);
    const templated = ['TRACES', 'METRICS', 'LOGS'].flatMap((s) =>
      ['ENDPOINT', 'HEADERS', 'PROTOCOL', 'TIMEOUT', 'COMPRESSION'].map(
        (k) => `OTEL_EXPORTER_OTLP_${s}_${k}`,
      ),
    );
    const names = new Set<string>(ENV_VARIABLES.map((v) => v.name));
    for (const n of [...literals, ...templated]) expect(names.has(n!), n).toBe(true);
  });

  it('has no process.env reads in instrumentation/ outside config.ts', () => {
    const dir = join(root, 'instrumentation');
    const offenders = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && f !== 'config/config.ts')
      .filter((f) =>
        /process\.env\b/.test(
          readFileSync(join(dir, f), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''),
        ),
      );
    expect(offenders).toEqual([]);
  });
});
