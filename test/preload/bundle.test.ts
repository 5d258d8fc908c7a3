import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../../instrumentation/index.js';
import { BUNDLE } from '../helpers/paths.js';

// The package ships dist/bundle (scripts/bundle.mjs); this tier runs after npm test's build.
// Its index.js is generated from the core bundle's exports: it must be exactly index.ts' API.
describe('dist/bundle', () => {
  const index = join(BUNDLE, 'index.js');

  it('index.js exports exactly the public API of instrumentation/index.ts, from core.js', () => {
    expect(existsSync(index), `${index} (npm run build)`).toBe(true);
    const m = /export \{([^}]*)\} from '\.\/core\.js';/.exec(readFileSync(index, 'utf8'));
    expect(m, 'one re-export from ./core.js').not.toBeNull();
    const names = m![1]!.split(',').map((n) => n.trim());
    expect(names.sort()).toEqual(Object.keys(api).sort());
  });

  it('register.js loads core.js, the module index.js re-exports, and nothing else of ours', () => {
    const text = readFileSync(join(BUNDLE, 'register.js'), 'utf8');
    expect(text).toContain('import("./core.js")');
    expect(text).not.toMatch(/from ["']\.\/(?!core\.js)/);
  });
});
