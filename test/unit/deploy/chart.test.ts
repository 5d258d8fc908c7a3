/**
 * deploy/helm/echoes-otel-collectors without a cluster: `helm lint`, `helm template` with the
 * documented value variants, and a strict schema check of every rendered manifest with kubeconform
 * against Kubernetes' own OpenAPI (schemas made offline by scripts/backends.mjs k8s). Also: the
 * chart's collector configs are the repo's, the agent config the chart renders starts on the real
 * two-tier build, and every values key docs/scaling.md names exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { PATHS } from '../../../scripts/backends.mjs';
import { REPO_ROOT } from '../../helpers/paths.js';

const CHART = join(REPO_ROOT, 'deploy/helm/echoes-otel-collectors');
const missing = [PATHS.helm, PATHS.kubeconform].filter((p) => !existsSync(p));
const skipReason = missing.length
  ? `not built: ${missing.join(', ')} (run: node scripts/backends.mjs k8s)`
  : undefined;
if (skipReason !== undefined) console.warn(`SKIPPED test/unit/deploy/chart.test.ts: ${skipReason}`);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
}

function sh(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000 });
  return {
    status: r.status,
    out: r.stdout ?? '',
    err: `${r.stderr ?? ''}${r.error?.message ?? ''}`,
  };
}

function template(...set: string[]) {
  return sh(PATHS.helm, [
    'template',
    'obs',
    CHART,
    '--namespace',
    'observability',
    ...set.flatMap((s) => ['--set', s]),
  ]);
}

function render(...set: string[]): { text: string; docs: Manifest[] } {
  const r = template(...set);
  expect(r.status, r.err).toBe(0);
  const docs = parseAllDocuments(r.out)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
  return { text: r.out, docs };
}

/** kubeconform -strict on the rendered text; returns its exit status and summary. */
function schemaCheck(text: string) {
  return sh(
    PATHS.kubeconform,
    ['-strict', '-summary', '-output', 'text', '-schema-location', PATHS.k8sSchemas, '-'],
    text,
  );
}

const VARIANTS: Record<string, string[]> = {
  defaults: [],
  'dns resolver': ['agent.resolver=dns'],
  'fixed gateway count': ['gateway.autoscaling.enabled=false', 'gateway.replicas=5'],
  'gateways only': ['agent.enabled=false', 'gateway.podDisruptionBudget.enabled=false'],
  'gateways as a StatefulSet': ['gateway.kind=StatefulSet'],
  'a fixed count of StatefulSet gateways on a storage class': [
    'gateway.kind=StatefulSet',
    'gateway.autoscaling.enabled=false',
    'gateway.queue.storageClassName=fast-ssd',
  ],
};

const get = (docs: Manifest[], kind: string, suffix = '') =>
  docs.find((d) => d.kind === kind && d.metadata.name.endsWith(suffix));

describe.skipIf(skipReason !== undefined)('the two-tier Helm chart (deploy/)', () => {
  it.each([[[]], [['--set', 'gateway.kind=StatefulSet']]])(
    'passes helm lint --strict (%j)',
    (set: string[]) => {
      const r = sh(PATHS.helm, ['lint', '--strict', CHART, ...set]);
      expect(r.status, `${r.out}${r.err}`).toBe(0);
      expect(r.out).toContain('0 chart(s) failed');
    },
  );

  it.each(Object.entries(VARIANTS))(
    'renders manifests that pass the strict schema check (%s)',
    (_name, set) => {
      const { text, docs } = render(...set);
      expect(docs.length).toBeGreaterThan(2);
      const r = schemaCheck(text);
      expect(r.status, `${r.out}${r.err}`).toBe(0);
      expect(r.out).toMatch(new RegExp(`Valid: ${docs.length}, Invalid: 0, Errors: 0, Skipped: 0`));
    },
    60_000,
  );

  it('fails the schema check on a wrongly typed or unknown field', () => {
    const { text } = render('gateway.autoscaling.enabled=false');
    const broken = text
      .replace(/replicas: 3/, 'replicas: "three"')
      .replace(/imagePullPolicy: IfNotPresent/, 'imagePullPolicyy: IfNotPresent');
    expect(broken).not.toBe(text);
    const r = schemaCheck(broken);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/replicas/);
    expect(r.out).toMatch(/imagePullPolicyy/);
  });

  it('runs the agent as a DaemonSet and the gateways as a Deployment behind a headless Service, with an HPA on CPU and a PodDisruptionBudget', () => {
    const { docs } = render();
    const ds = get(docs, 'DaemonSet', '-agent');
    const dep = get(docs, 'Deployment', '-gateway');
    expect(ds).toBeDefined();
    expect(dep).toBeDefined();
    // The HPA owns the count.
    expect(dep!.spec.replicas).toBeUndefined();
    const svc = get(docs, 'Service', '-gateway')!;
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.selector).toEqual(dep!.spec.selector.matchLabels);
    const hpa = get(docs, 'HorizontalPodAutoscaler')!;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef.name).toBe(dep!.metadata.name);
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    const pdb = get(docs, 'PodDisruptionBudget')!;
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.selector.matchLabels).toEqual(dep!.spec.selector.matchLabels);
    // The k8s resolver may watch EndpointSlices and nothing more.
    const role = get(docs, 'Role')!;
    expect(role.spec).toBeUndefined();
    expect((role as unknown as { rules: unknown[] }).rules).toEqual([
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
  });

  it('runs the gateways as a StatefulSet with a claim per gateway for its queue, behind the same headless Service, HPA and PodDisruptionBudget', () => {
    const { docs } = render('gateway.kind=StatefulSet', 'gateway.queue.storageClassName=fast-ssd');
    expect(get(docs, 'Deployment', '-gateway')).toBeUndefined();
    const sts = get(docs, 'StatefulSet', '-gateway')!;
    expect(sts).toBeDefined();
    const svc = get(docs, 'Service', '-gateway')!;
    expect(svc.spec.clusterIP).toBe('None');
    expect(sts.spec.serviceName).toBe(svc.metadata.name);
    expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
    expect(sts.spec.replicas).toBeUndefined();
    // The queue is a claim, not an emptyDir, mounted where the config's file_storage writes.
    const pod = sts.spec.template.spec;
    expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(['config']);
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(claim.metadata.name).toBe('queue');
    expect(claim.spec.resources.requests.storage).toBe('2Gi');
    expect(claim.spec.storageClassName).toBe('fast-ssd');
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'queue',
      mountPath: '/var/lib/otelcol/queue',
    });
    const hpa = get(docs, 'HorizontalPodAutoscaler')!;
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: sts.metadata.name,
    });
    expect(get(docs, 'PodDisruptionBudget')!.spec.selector.matchLabels).toEqual(
      sts.spec.selector.matchLabels,
    );
    // And the default stays a Deployment with an emptyDir queue.
    const dep = get(render().docs, 'Deployment', '-gateway')!;
    expect(dep.spec.volumeClaimTemplates).toBeUndefined();
    expect(dep.spec.template.spec.volumes).toContainEqual({
      name: 'queue',
      emptyDir: { sizeLimit: '2Gi' },
    });
  });

  it('refuses an unknown gateway kind with a message naming the value', () => {
    const r = template('gateway.kind=ReplicaSet');
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/gateway\.kind must be Deployment or StatefulSet, not "ReplicaSet"/);
  });

  it('refuses an unknown resolver with a message naming the value', () => {
    const r = template('agent.resolver=consul');
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/agent\.resolver must be k8s or dns, not "consul"/);
  });

  it('ships the very collector configs compose and the tests run', () => {
    for (const f of ['agent.yaml', 'gateway.yaml']) {
      expect(readFileSync(join(CHART, 'files', f), 'utf8'), f).toBe(
        readFileSync(join(REPO_ROOT, 'collector/gateway', f), 'utf8'),
      );
    }
    const cm = get(render().docs, 'ConfigMap')!;
    expect(cm.data!['gateway.yaml']).toBe(readFileSync(join(CHART, 'files/gateway.yaml'), 'utf8'));
  });

  it.skipIf(!existsSync(PATHS.gateway))(
    'renders agent and gateway configs that the two-tier collector validates with the env the chart sets',
    () => {
      for (const set of [[], ['agent.resolver=dns'], ['gateway.kind=StatefulSet']]) {
        const { docs } = render(...set);
        const cm = get(docs, 'ConfigMap')!;
        const dir = mkdtempSync(join(tmpdir(), 'echoes-chart-'));
        try {
          for (const [kind, suffix, file] of [
            ['DaemonSet', '-agent', 'agent.yaml'],
            [
              set.includes('gateway.kind=StatefulSet') ? 'StatefulSet' : 'Deployment',
              '-gateway',
              'gateway.yaml',
            ],
          ] as const) {
            const w = get(docs, kind, suffix)!;
            const env: Record<string, string> = {};
            for (const e of w.spec.template.spec.containers[0].env)
              if (e.value !== undefined) env[e.name] = e.value;
            writeFileSync(join(dir, file), cm.data![file]!);
            const r = spawnSync(PATHS.gateway, ['validate', `--config=${join(dir, file)}`], {
              encoding: 'utf8',
              env: { ...process.env, ...env },
              timeout: 30_000,
            });
            expect(r.status, `${file} ${set.join(' ')}: ${r.stderr}`).toBe(0);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    },
    60_000,
  );

  it('has every values key that docs/scaling.md names', () => {
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    const has = (path: string) => {
      let node: unknown = values;
      for (const part of path.split('.')) {
        if (node === null || typeof node !== 'object' || !(part in node)) return false;
        node = (node as Record<string, unknown>)[part];
      }
      return true;
    };
    // The check itself must be able to fail.
    expect(has('gateway.autoscaling.maxReplicas')).toBe(true);
    expect(has('gateway.autoscaling.maxReplica')).toBe(false);
    const docs = readFileSync(join(REPO_ROOT, 'docs/scaling.md'), 'utf8');
    const roots = Object.keys(values);
    const named = [...docs.matchAll(/`([a-zA-Z]+(?:\.[a-zA-Z]+)+)`/g)]
      .map((m) => m[1]!)
      .filter((p) => roots.includes(p.split('.')[0]!))
      // File names (agent.yaml) are not values keys.
      .filter((p) => !/\.(ya?ml|json|md|mjs|ts)$/.test(p));
    expect(named.length).toBeGreaterThan(10);
    for (const p of new Set(named)) expect(has(p), `docs/scaling.md names ${p}`).toBe(true);
  });
});
