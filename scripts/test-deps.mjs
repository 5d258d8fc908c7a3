#!/usr/bin/env node
// Machine packages the tests need (real servers, not mocks), installed from apt when missing so a
// fresh CI machine gets them: `apt-get update` once, then one `apt-get install` of what is missing.
// Run by `npm test` (scripts/test.mjs) as a visible step; also runnable alone:
//   node scripts/test-deps.mjs            check and install everything in DEPS
//   node scripts/test-deps.mjs --check    only report what is missing (exit 1 if anything is)
// To add one, append to DEPS: the binary whose presence means "installed", where else to look
// for it (globs of the form /dir/*/bin are expanded), the apt package, and which tests need it.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** @type {readonly { bin: string, dirs?: readonly string[], apt: string, why: string }[]} */
export const DEPS = [
  {
    bin: 'redis-server',
    apt: 'redis-server',
    why: 'the real Redis of the real-services tests (test/helpers/redis.ts)',
  },
  {
    bin: 'initdb',
    // Debian keeps the server binaries off PATH.
    dirs: ['/usr/lib/postgresql/*/bin'],
    apt: 'postgresql',
    why: 'the real PostgreSQL of the real-services tests (test/helpers/postgres.ts)',
  },
  {
    bin: 'mariadbd',
    dirs: ['/usr/sbin'],
    apt: 'mariadb-server',
    why: 'the real MariaDB of the mysql2 tests (test/helpers/mariadb.ts)',
  },
];

function expand(dir) {
  const star = dir.indexOf('/*/');
  if (star < 0) return [dir];
  const parent = dir.slice(0, star);
  const rest = dir.slice(star + 3);
  try {
    return readdirSync(parent).map((d) => join(parent, d, rest));
  } catch {
    return [];
  }
}

export function findBin(bin, dirs = []) {
  const all = [
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean),
    ...dirs.flatMap(expand),
  ];
  for (const d of all) {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return join(d, bin);
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(cmd, args) {
  process.stdout.write(`$ ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) return `${cmd} could not start: ${r.error.message}`;
  return r.status === 0 ? undefined : `${cmd} exited with ${r.status ?? r.signal}`;
}

function main() {
  const checkOnly = process.argv.includes('--check');
  const missing = DEPS.filter((d) => findBin(d.bin, d.dirs) === undefined);
  for (const d of DEPS) {
    const at = findBin(d.bin, d.dirs);
    process.stdout.write(
      `  ${d.bin.padEnd(14)} ${at ? `found: ${at}` : `MISSING (apt: ${d.apt})`}\n`,
    );
  }
  if (missing.length === 0) return 0;
  const list = missing.map((d) => `${d.apt} (${d.why})`).join('; ');
  if (checkOnly) {
    process.stderr.write(`!! missing: ${list}\n`);
    return 1;
  }
  const why = (reason) => {
    process.stderr.write(
      `!! cannot install ${missing.map((d) => d.apt).join(' ')}: ${reason}.\n` +
        `!! Install them by hand (Debian/Ubuntu: apt-get install -y ${missing.map((d) => d.apt).join(' ')}); ` +
        `until then the tests that need them fail, naming what is missing: ${list}\n`,
    );
    return 1;
  };
  if (findBin('apt-get') === undefined) return why('apt-get is not available on this machine');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return why('apt-get needs root and this is not root');
  }
  const failed =
    run('apt-get', ['update']) ??
    run('apt-get', [
      'install',
      '-y',
      '--no-install-recommends',
      ...new Set(missing.map((d) => d.apt)),
    ]);
  if (failed) return why(failed);
  const still = missing.filter((d) => findBin(d.bin, d.dirs) === undefined);
  if (still.length)
    return why(`installed, but still not found: ${still.map((d) => d.bin).join(', ')}`);
  process.stdout.write(`installed: ${missing.map((d) => d.apt).join(', ')}\n`);
  return 0;
}

process.exitCode = main();
