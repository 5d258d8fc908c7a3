import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/paths.js';

/** amtool from `node scripts/backends.mjs alertmanager` (ECHOES_TOOLS_DIR moves it). */
function amtoolPath(): string | undefined {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/backends.mjs'), 'paths'], {
    encoding: 'utf8',
    env: process.env,
  });
  if (r.status !== 0) return undefined;
  const p = (JSON.parse(r.stdout) as { amtool?: string }).amtool;
  return p !== undefined && existsSync(p) ? p : undefined;
}

const amtool = amtoolPath();
if (amtool === undefined)
  console.warn(
    'SKIPPED amtool checks: amtool is not built; run `node scripts/backends.mjs alertmanager` (npm test does)',
  );
const CONFIG = 'alertmanager/alertmanager.yml';

function run(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(amtool!, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('alertmanager/alertmanager.yml', () => {
  const doc = parseYaml(readFileSync(join(REPO_ROOT, CONFIG), 'utf8')) as {
    route: { receiver: string; group_by: string[] };
    receivers: Array<{ name: string; webhook_configs?: Array<Record<string, unknown>> }>;
  };

  it('groups by service and severity and sends to a webhook whose URL is not in the file', () => {
    expect(doc.route.group_by).toEqual(['service_name', 'severity']);
    const r = doc.receivers.find((x) => x.name === doc.route.receiver)!;
    const hook = r.webhook_configs![0]!;
    expect(hook.url).toBeUndefined();
    expect(hook.url_file).toBe('/etc/alertmanager/webhook-url');
    expect(hook.send_resolved).toBe(true);
    expect(readFileSync(join(REPO_ROOT, CONFIG), 'utf8')).not.toMatch(
      /https?:\/\/(?!127\.0\.0\.1)/,
    );
  });

  describe.skipIf(amtool === undefined)('amtool', () => {
    it('accepts it (check-config)', () => {
      const r = run('check-config', CONFIG);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/SUCCESS/);
    });

    it('routes an alert of any service and severity to the default receiver', () => {
      for (const labels of [
        ['service_name=echoes-api', 'severity=critical'],
        ['receiver=otlp', 'severity=warning'],
      ]) {
        const r = run(
          'config',
          'routes',
          'test',
          `--config.file=${CONFIG}`,
          '--verify.receivers=default',
          ...labels,
        );
        expect(r.code, r.out).toBe(0);
      }
    });
  });
});
