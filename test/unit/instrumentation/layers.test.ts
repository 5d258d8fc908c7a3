import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  circles,
  floors,
  importGraph,
  layerBreaks,
  MAX_FLOORS,
  measure,
  roomGraph,
} from '../../../scripts/layers.mjs';
import { REPO_ROOT } from '../../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'echoes-layers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A throwaway instrumentation/ folder made of `files` (path -> source). */
function tree(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('the instrumentation layout (scripts/layers.mjs)', () => {
  const m = measure(REPO_ROOT);

  it('has no import circle between files or between folders', () => {
    expect(m.files).toBeGreaterThan(50);
    expect(m.fileCircles).toEqual([]);
    expect(m.roomCircles).toEqual([]);
  });

  it(`stands at most ${MAX_FLOORS} floors tall with each folder as one room`, () => {
    expect(m.floors?.height).toBeLessThanOrEqual(MAX_FLOORS);
    expect(m.floors?.chain[0]).toBe('register.ts');
  });

  it('keeps every file in a layer and every import pointing down the layers', () => {
    expect(m.layerBreaks).toEqual([]);
  });

  it('has every module of instrumentation/ and src/ in docs/architecture.md, under its folder', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/architecture.md'), 'utf8');
    const listed = doc
      .split(/^### /m)
      .slice(1)
      .flatMap((section) => {
        const folder = /^`([^`]+\/)`/.exec(section)?.[1] ?? '?/';
        return [...section.matchAll(/^\| `([^`]+\.ts)`/gm)].map((r) => folder + r[1]);
      });
    const modules = ['instrumentation', 'src'].flatMap((dir) =>
      readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `${dir}/${f.split('\\').join('/')}`),
    );
    expect(listed.sort()).toEqual(modules.sort());
  });
});

describe('scripts/layers.mjs', () => {
  it('finds a circle made by a type-only import and a dynamic import', () => {
    const dir = tree('circle', {
      'a.ts': "import type { B } from './b.js';\nexport type A = B;\n",
      'b.ts': "export type B = 1;\nexport const load = () => import('./sub/c.js');\n",
      'sub/c.ts': "export { load } from '../b.js';\n",
      'd.ts': "const x = require('./a.js');\n",
    });
    const graph = importGraph(dir);
    expect(graph.get('d.ts')).toEqual(['a.ts']);
    expect(circles(graph)).toEqual([['b.ts', 'sub/c.ts']]);
    expect(circles(roomGraph(graph))).toEqual([['b.ts', 'sub/']]);
  });

  it('counts floors along the longest chain, a folder as one room', () => {
    const dir = tree('chain', {
      'top.ts': "import './mid/one.js';\nimport './ground.js';\n",
      'mid/one.ts': "import './two.js';\n",
      'mid/two.ts': "import '../ground.js';\n",
      'ground.ts': 'export {};\n',
    });
    const graph = importGraph(dir);
    expect(floors(graph)).toMatchObject({
      height: 4,
      chain: ['top.ts', 'mid/one.ts', 'mid/two.ts', 'ground.ts'],
    });
    expect(floors(roomGraph(graph))).toMatchObject({
      height: 3,
      chain: ['top.ts', 'mid/', 'ground.ts'],
    });
  });

  it('reports an import up the layers and a file in no layer', () => {
    const graph = new Map([
      ['types.ts', ['config/config.ts']],
      ['config/config.ts', ['types.ts']],
      ['stray.ts', []],
    ]);
    expect(layerBreaks(graph)).toEqual([
      'types.ts -> config/config.ts: ground may not import config',
      'stray.ts: in no layer (scripts/layers.mjs LAYERS)',
    ]);
  });
});
