import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readAlertRules } from './stack-queries.js';
import { REPO_ROOT } from '../../helpers/paths.js';

/** promtool from `node scripts/backends.mjs prometheus` (ECHOES_TOOLS_DIR moves it, as in that script). */
function promtoolPath(): string | undefined {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/backends.mjs'), 'paths'], {
    encoding: 'utf8',
    env: process.env,
  });
  if (r.status !== 0) return undefined;
  const p = (JSON.parse(r.stdout) as { promtool?: string }).promtool;
  return p !== undefined && existsSync(p) ? p : undefined;
}

const promtool = promtoolPath();
const TEST_FILES = readdirSync(join(REPO_ROOT, 'prometheus/tests'))
  .filter((f) => f.endsWith('.test.yml'))
  .sort()
  .map((f) => `prometheus/tests/${f}`);
if (promtool === undefined) {
  // Visible in the run's output: a skipped promtool check must never look like a passed one.
  console.warn(
    'SKIPPED promtool checks: promtool is not built; run `node scripts/backends.mjs prometheus` (npm test does)',
  );
}

function run(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(promtool!, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('alert rules: annotations', () => {
  const rules = readAlertRules();

  it('cover every alert the audit and the pipeline need', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'CacheHitRateLow',
        'CollectorDroppingData',
        'CollectorQueueNearlyFull',
        'CollectorRefusingData',
        'DiskOpsAboveTarget',
        'DiskUsageHigh',
        'ErrorRateHigh',
        'GatewayLostUndecidedTraces',
        'HeapGrowthSustained',
        'HostDiskUsageHigh',
        'LatencyAvgAboveTarget',
        'LatencyDegradedVsYesterday',
        'LatencyP95AboveTarget',
        'LogGrowthAboveTarget',
        'LogRecordsLost',
        'LogRecordsNotShipped',
        'MemoryLeakSuspected',
        'UnboundedCacheGrowing',
      ].sort(),
    );
  });

  it('each carry a severity, a summary, a description with the measured value and a runbook link', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/alerts.md'), 'utf8');
    // GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped.
    const anchors = new Set(
      [...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 _-]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const r of rules) {
      expect(['warning', 'critical'], r.alert).toContain(r.labels?.severity);
      for (const key of ['summary', 'description']) {
        expect(r.annotations?.[key]?.length ?? 0, `${r.alert}.${key}`).toBeGreaterThan(20);
      }
      expect(r.annotations?.description, `${r.alert}.description`).toContain('$value');
      const url = r.annotations?.runbook_url ?? '';
      expect(url, `${r.alert}.runbook_url`).toBe(`docs/alerts.md#${r.alert.toLowerCase()}`);
      expect(anchors.has(r.alert.toLowerCase()), `docs/alerts.md has no section ${r.alert}`).toBe(
        true,
      );
    }
  });

  it('each have a promtool unit test that fires them and one that keeps them quiet', () => {
    const cases = TEST_FILES.flatMap((f) => {
      const doc = parseYaml(readFileSync(join(REPO_ROOT, f), 'utf8')) as {
        tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
      };
      return doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    });
    for (const r of rules) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${r.alert}: no case where it fires`,
      ).toBe(true);
      // Quiet: either an explicit empty case, or a firing case whose input has healthy series too
      // (exp_alerts lists exactly the alerts expected, so a healthy series that fired would fail).
      expect(mine.length, `${r.alert}: no test`).toBeGreaterThan(0);
    }
  });
});

describe.skipIf(promtool === undefined)('promtool', () => {
  it(
    'accepts prometheus/prometheus.yml (check config), rule files included',
    { timeout: 30_000 },
    () => {
      const r = run('check', 'config', 'prometheus/prometheus.yml');
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/SUCCESS/);
      // The config's rule_files glob must actually find our rules.
      expect(r.out).toMatch(/rules\/echoes\.yml/);
    },
  );

  it('accepts the rule files (check rules)', { timeout: 30_000 }, () => {
    const r = run('check', 'rules', 'prometheus/rules/echoes.yml');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it(
    'passes the alert unit tests: each alert fires on crafted series and stays quiet on healthy ones',
    { timeout: 60_000 },
    () => {
      expect(TEST_FILES.length).toBeGreaterThanOrEqual(2);
      const r = run('test', 'rules', ...TEST_FILES);
      expect(r.code, r.out).toBe(0);
      expect(r.out.match(/SUCCESS/g)?.length).toBe(TEST_FILES.length);
    },
  );
});
