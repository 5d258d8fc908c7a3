import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  LIVE_PAGE_BUDGET_BYTES,
  buildLivePage,
} from '../../../../instrumentation/export/live-page.js';
import { TARGET } from '../../../../instrumentation/targets.js';
import { catalogSeriesNames } from '../../../../instrumentation/catalog.js';

const page = buildLivePage();
const html = page.body.toString('utf8');
const between = (open: string, close: string) => html.split(open)[1]!.split(close)[0]!;

describe('live page', () => {
  it(`stays within its budget of ${LIVE_PAGE_BUDGET_BYTES / 1024} KiB, everything inline`, () => {
    expect(page.body.length).toBeLessThan(LIVE_PAGE_BUDGET_BYTES);
    expect(html).not.toMatch(/<script[^>]+src=|<link|https?:\/\/|@import/);
  });

  it('lets only its own inline script and style run, and talk to its own server', () => {
    const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
    expect(page.csp).toContain(`script-src ${hash(between('<script>', '</script>'))}`);
    expect(page.csp).toContain(`style-src ${hash(between('<style>', '</style>'))}`);
    expect(page.csp).toMatch(/default-src 'none'.*connect-src 'self'/);
  });

  it('carries the targets of targets.ts and only catalog series names', () => {
    const cfg = JSON.parse(between('<script type="application/json" id="cfg">', '</script>')) as {
      n: Record<string, string>;
      t: Record<string, { v: number; c: string; text: string }>;
    };
    for (const [id, t] of Object.entries(cfg.t)) {
      const target = TARGET[id as keyof typeof TARGET];
      expect(t, id).toEqual({ v: target.value, c: target.comparison, text: target.text });
    }
    const known = catalogSeriesNames();
    for (const n of Object.values(cfg.n))
      expect(known.has(n) || known.has(`${n}_count`), n).toBe(true);
  });

  it('parses as a script', () => {
    expect(() => new Function(between('<script>', '</script>'))).not.toThrow();
  });
});
