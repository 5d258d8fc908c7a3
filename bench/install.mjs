#!/usr/bin/env node
// What `npm install` costs a user: echoes-otel's packed tarball against
// @opentelemetry/auto-instrumentations-node (the version in our devDependencies), each into a
// fresh app, ROUNDS times interleaved, with a cold npm cache for neither (both come from the same
// warm ~/.npm cache, so the time is unpacking and linking, not the network). Reports node_modules
// size, package count, install time (median) and whether npm printed a warning.
//
//   node bench/install.mjs            (BENCH_ROUNDS=3; prints the table, the method and figures
//   for bench/results/install.md are written by hand from it)
import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, envInt } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = envInt('BENCH_ROUNDS', 3);
const upstreamVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  .devDependencies['@opentelemetry/auto-instrumentations-node'];
const work = mkdtempSync(join(tmpdir(), 'echoes-install-bench-'));
const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], {
  cwd: root,
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .at(-1);

function du(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += du(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

function installOnce(label, spec, n) {
  const app = join(work, `${label}-${n}`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  const t0 = process.hrtime.bigint();
  const r = spawnSync('npm', ['install', spec, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app,
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${label}: npm install failed\n${r.stderr}`);
  const modules = join(app, 'node_modules');
  const packages = Object.keys(
    JSON.parse(readFileSync(join(modules, '.package-lock.json'), 'utf8')).packages,
  ).length;
  return { ms, bytes: du(modules), packages, warned: /warn/i.test(r.stderr) };
}

const variants = [
  { label: 'echoes-otel', spec: join(work, tgz) },
  {
    label: `@opentelemetry/auto-instrumentations-node@${upstreamVersion}`,
    spec: `@opentelemetry/auto-instrumentations-node@${upstreamVersion}`,
  },
];
const results = Object.fromEntries(variants.map((v) => [v.label, []]));
// One unmeasured install of each first, so both come from a warm cache.
for (const v of variants) installOnce(v.label.replace(/\W/g, '_'), v.spec, 'warm');
for (let n = 0; n < rounds; n++)
  for (const v of variants)
    results[v.label].push(installOnce(v.label.replace(/\W/g, '_'), v.spec, n));
rmSync(work, { recursive: true, force: true });

console.log(
  `npm install into a fresh app, ${rounds} interleaved rounds (median time), ${new Date().toISOString()}`,
);
console.log('| package | node_modules | packages | install time | npm warnings |');
console.log('|---|---|---|---|---|');
for (const v of variants) {
  const rs = results[v.label];
  console.log(
    `| ${v.label} | ${(rs[0].bytes / 1024 / 1024).toFixed(1)} MiB | ${rs[0].packages} | ${median(rs.map((r) => r.ms)).toFixed(0)} ms | ${rs.some((r) => r.warned) ? 'yes' : 'none'} |`,
  );
}
