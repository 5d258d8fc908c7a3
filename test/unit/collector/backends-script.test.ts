/**
 * scripts/backends.mjs as a command (offline: nothing here builds). The builds themselves run in
 * `npm test` before vitest, and the integration tests use what they produce.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/paths.js';

const tools = mkdtempSync(join(tmpdir(), 'echoes-tools-'));
afterAll(() => rmSync(tools, { recursive: true, force: true }));

function backends(...args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/backends.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ECHOES_TOOLS_DIR: tools },
    timeout: 20_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('scripts/backends.mjs', () => {
  it('prints the binaries it builds, under ECHOES_TOOLS_DIR, without building anything', () => {
    const r = backends('paths');
    expect(r.status).toBe(0);
    const paths = JSON.parse(r.out) as Record<string, string>;
    expect(paths).toEqual({
      tools,
      builder: join(tools, 'bin/builder'),
      otelcol: join(tools, 'otelcol/otelcol-echoes'),
      prometheus: join(tools, 'prometheus/prometheus'),
      promtool: join(tools, 'prometheus/promtool'),
      alertmanager: join(tools, 'alertmanager/alertmanager'),
      amtool: join(tools, 'alertmanager/amtool'),
      // One build for every tier: the two-tier agent and gateways run the collector's binary.
      gateway: join(tools, 'otelcol/otelcol-echoes'),
      helm: join(tools, 'k8s/helm'),
      kubeconform: join(tools, 'k8s/kubeconform'),
      k8sSchemas: join(tools, 'k8s/schemas-v1.37.2/{{ .ResourceKind }}{{ .KindSuffix }}.json'),
      ferretdb: join(tools, 'ferretdb/ferretdb'),
    });
  });

  it('refuses an unknown command, naming the ones it has', () => {
    const r = backends('bogus');
    expect(r.status).toBe(1);
    expect(r.err).toMatch(
      /unknown command "bogus" \(ensure \| collector \| prometheus \| alertmanager \| gateway \| k8s \| ferretdb \| paths \| validate/,
    );
  });

  it('asks for files to validate, and says how to build the collector when it is missing', () => {
    const none = backends('validate');
    expect(none.status).toBe(1);
    expect(none.err).toContain('usage: backends.mjs validate');
    const missing = backends('validate', join(REPO_ROOT, 'collector/config.yaml'));
    expect(missing.status).toBe(1);
    expect(missing.err).toContain('the collector is not built yet');
    expect(missing.err).toContain('node scripts/backends.mjs collector');
  });
});
