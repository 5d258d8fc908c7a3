import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  markdownTable,
  renderConfigurationDoc,
  renderReadme,
  spliceTable,
} from '../../../../instrumentation/config/config-docs.js';
import { SETTINGS } from '../../../../instrumentation/config/config-schema.js';

const root = join(import.meta.dirname, '../../../..');
const read = (f: string): string => readFileSync(join(root, f), 'utf8');

describe('config-docs', () => {
  it('finds the README variable table as the schema generates it (npm run config-docs)', () => {
    const readme = read('README.md');
    expect(renderReadme(readme)).toBe(readme);
  });

  it('finds every docs/configuration.md table as the schema generates it (npm run config-docs)', () => {
    const doc = read('docs/configuration.md');
    expect(renderConfigurationDoc(doc)).toBe(doc);
  });

  it('lists every variable of the schema in the README and every setting in the options table', () => {
    const readme = read('README.md');
    const doc = read('docs/configuration.md');
    for (const s of SETTINGS) {
      for (const e of s.env ?? []) {
        const name = typeof e === 'string' ? e : e.name;
        expect(readme, name).toContain(`| \`${name}\``);
        expect(doc, name).toContain(`| \`${name}\``);
      }
      if (!s.key.startsWith('_')) expect(doc, s.key).toContain(`| \`${s.key}\``);
    }
  });

  it('replaces only the table of a marked block and keeps the prose around it', () => {
    const text = 'a\n<!-- t:start -->\nintro\n\n| x |\n| - |\n| 1 |\n\nafter\n<!-- t:end -->\nz';
    const table = markdownTable(['x'], [['2']]);
    expect(spliceTable(text, 't', table)).toBe(
      'a\n<!-- t:start -->\nintro\n\n| x   |\n| --- |\n| 2   |\n\nafter\n<!-- t:end -->\nz',
    );
  });

  it('pads columns and escapes pipes as prettier does', () => {
    expect(markdownTable(['a', 'bb'], [['x|y', 'z']])).toBe(
      '| a    | bb  |\n| ---- | --- |\n| x\\|y | z   |',
    );
  });
});
