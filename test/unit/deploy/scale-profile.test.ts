/**
 * compose.yaml's `scale` profile (docs/scaling.md): the agent and three gateways run the configs the
 * integration test runs, the agent's static resolver names exactly the gateway services, and the
 * tail-sampling knobs come from .env with the same defaults as the gateway config and the docs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/paths.js';

interface Service {
  profiles?: string[];
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}
const compose = parseYaml(readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8')) as {
  services: Record<string, Service>;
};
const scale = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('scale'));
const gatewayYaml = readFileSync(join(REPO_ROOT, 'collector/gateway/gateway.yaml'), 'utf8');
const envExample = readFileSync(join(REPO_ROOT, '.env.example'), 'utf8');
const scalingDoc = readFileSync(join(REPO_ROOT, 'docs/scaling.md'), 'utf8');

/** `${env:NAME:-default}` in the gateway config. */
function configDefault(name: string): string | undefined {
  return new RegExp(`\\$\\{env:${name}:-([^}]+)\\}`).exec(gatewayYaml)?.[1];
}

describe("compose.yaml's scale profile", () => {
  it('runs one agent and three gateways on the collector image, and nothing else', () => {
    expect(scale.map(([n]) => n).sort()).toEqual(['agent', 'gateway-1', 'gateway-2', 'gateway-3']);
    for (const [name, s] of scale) {
      // The single collector's own image: one build for every tier.
      expect(s.image, name).toBe(compose.services.collector!.image);
      const config = name === 'agent' ? 'agent.yaml' : 'gateway.yaml';
      expect(s.command, name).toEqual([`--config=/etc/otelcol/${config}`]);
      expect(s.volumes, name).toContain(`./collector/gateway/${config}:/etc/otelcol/${config}:ro`);
    }
  });

  it("routes the agent's traffic to exactly the three gateway services, once they are healthy", () => {
    const agent = compose.services.agent!;
    const resolver = parseYaml(agent.environment!.OTELCOL_LB_RESOLVER!) as {
      static: { hostnames: string[] };
    };
    expect(resolver.static.hostnames).toEqual([
      'gateway-1:4317',
      'gateway-2:4317',
      'gateway-3:4317',
    ]);
    expect(Object.keys(agent.depends_on!).sort()).toEqual(['gateway-1', 'gateway-2', 'gateway-3']);
    // Beside the single collector's 4317/4318, on loopback only.
    expect(agent.ports).toEqual(['127.0.0.1:14317:4317', '127.0.0.1:14318:4318']);
  });

  it('takes the tail-sampling knobs from .env with the gateway config defaults, documented', () => {
    const knobs = [
      'ECHOES_TAIL_SAMPLING_PERCENT',
      'ECHOES_TAIL_LATENCY_THRESHOLD_MS',
      'ECHOES_TAIL_DECISION_WAIT',
      'ECHOES_TAIL_NUM_TRACES',
    ];
    for (const k of knobs) {
      const def = configDefault(k);
      expect(def, `${k} in gateway.yaml`).toBeDefined();
      for (const n of [1, 2, 3])
        expect(compose.services[`gateway-${n}`]!.environment![k], `gateway-${n} ${k}`).toBe(
          `\${${k}:-${def}}`,
        );
      expect(envExample, `.env.example ${k}`).toMatch(new RegExp(`^${k}=$`, 'm'));
      // docs/scaling.md's table: | `NAME` | default | ...
      expect(scalingDoc, `docs/scaling.md ${k}`).toMatch(
        new RegExp(`\\|\\s*\`${k}\`\\s*\\|\\s*\`?${def!.replace('.', '\\.')}\`?\\s*\\|`),
      );
    }
    // Every ECHOES_TAIL_ variable the config reads is one of these.
    const read = new Set(
      [...gatewayYaml.matchAll(/\$\{env:(ECHOES_TAIL_[A-Z_]+)/g)].map((m) => m[1]),
    );
    expect([...read].sort()).toEqual([...knobs].sort());
  });

  it('gives each gateway its own id and its own persistent queue volume', () => {
    const ids = new Set<string>();
    const queues = new Set<string>();
    for (const n of [1, 2, 3]) {
      const g = compose.services[`gateway-${n}`]!;
      ids.add(g.environment!.OTELCOL_GATEWAY_ID!);
      queues.add(g.volumes!.find((v) => v.endsWith(':/var/lib/otelcol/queue'))!);
    }
    expect(ids.size).toBe(3);
    expect(queues.size).toBe(3);
  });
});
