import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '../../../instrumentation');

describe('register (static shape; its behaviour is tested as a black box in test/preload/core.test.ts)', () => {
  it('statically imports only node builtins and types, so a module that fails to load cannot abort the app', () => {
    const src = readFileSync(join(dir, 'register.ts'), 'utf8');
    const imports = [...src.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)].map(
      (m) => ({ type: m[1] !== undefined, from: m[2]! }),
    );
    expect(imports.length).toBeGreaterThan(0);
    for (const i of imports) {
      if (!i.type) expect(i.from, `value import of ${i.from}`).toMatch(/^node:/);
    }
  });

  it('is the only instrumentation module with top-level await or top-level calls to process.on', () => {
    const offenders = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && f !== 'register.ts')
      .filter((f) =>
        /^(await |process\.on\(|process\.once\()/m.test(readFileSync(join(dir, f), 'utf8')),
      );
    expect(offenders).toEqual([]);
  });
});
