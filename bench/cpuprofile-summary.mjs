#!/usr/bin/env node
// Reads V8 CPU profiles (`node --cpu-prof`, e.g. from BENCH_CPU_PROF=dir node bench/real-services.mjs)
// and prints where the time went: self time per module (a package under node_modules, one of our
// source files through the bundle's source map, a node: internal) and per function, and the
// inclusive time per module (every sample whose stack passes through it, counted once).
//
//   node bench/cpuprofile-summary.mjs [--top=25] [--skip-ms=0] [--per=N] a.cpuprofile [b.cpuprofile ...]
//
// --per=N divides the times by N (requests served, say) to print µs per request; --skip-ms drops
// the first milliseconds of each profile; --steady drops every sample whose stack passes through
// the module loaders (startup, and the first load of a library: one-time costs), leaving the
// per-request work. Several files are summed.
import { readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? fallback : Number(a.slice(name.length + 3));
};
const TOP = opt('top', 25);
const SKIP_MS = opt('skip-ms', 0);
const PER = opt('per', 0);
const STEADY = args.includes('--steady');
// --from=parserOnIncoming: samples before the first one whose stack passes through a function of
// that name (Node's HTTP server, per request) are skipped, so --per=<requests sent> is exact.
const FROM = args.find((a) => a.startsWith('--from='))?.slice('--from='.length);
const LOADERS = ['node:internal/modules/cjs/loader', 'node:internal/modules/esm/module_job'];
const positional = args.filter((a) => !a.startsWith('--'));
const vsAt = args.indexOf('--vs');
// `a.cpuprofile --vs b.cpuprofile`: what b spends more than a, per module and function.
const files = vsAt === -1 ? positional : args.slice(0, vsAt).filter((a) => !a.startsWith('--'));
const vsFiles = vsAt === -1 ? [] : args.slice(vsAt + 1).filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  console.error(
    'usage: node bench/cpuprofile-summary.mjs [--top=25] [--skip-ms=0] [--per=N] file.cpuprofile ...',
  );
  process.exit(2);
}

const maps = new Map();
function sourceMapOf(url) {
  if (maps.has(url)) return maps.get(url);
  let map = null;
  try {
    const path = url.startsWith('file:') ? fileURLToPath(url) : url;
    if (existsSync(`${path}.map`))
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
  } catch {
    map = null;
  }
  maps.set(url, map);
  return map;
}

/** A readable module name for a frame: package, our source file, or node internal. */
function moduleOf(frame) {
  const { url, lineNumber, columnNumber, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  let source = url;
  const map = /\/dist\/bundle\/[^/]+\.c?js$/.test(url) ? sourceMapOf(url) : null;
  if (map !== null) {
    const e = map.findEntry(lineNumber, columnNumber);
    if (e?.originalSource) source = e.originalSource;
  }
  const nm = source.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = source.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return map !== null && source !== url ? `bundle:${pkg}` : pkg;
  }
  const ours = /(instrumentation|src)\/.*$/.exec(source);
  if (ours !== null) return `ours:${ours[0]}`;
  return source.replace(/^file:\/\//, '');
}

const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);

function summarize(files) {
  const selfByModule = new Map();
  const selfByFn = new Map();
  const totalByModule = new Map();
  const chargedByModule = new Map();
  let total = 0;
  let idle = 0;
  for (const file of files) {
    const prof = JSON.parse(readFileSync(file, 'utf8'));
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const modOf = new Map();
    const fnOf = new Map();
    for (const n of prof.nodes) {
      const m = moduleOf(n.callFrame);
      modOf.set(n.id, m);
      const f = n.callFrame;
      fnOf.set(
        n.id,
        `${f.functionName || '(anonymous)'} ${m}${f.url ? `:${f.lineNumber + 1}` : ''}`,
      );
    }
    // Modules on each node's stack, computed once per node.
    const stackMods = new Map();
    const modsOf = (id) => {
      let s = stackMods.get(id);
      if (s !== undefined) return s;
      const p = parent.get(id);
      s = new Set(p === undefined ? [] : modsOf(p));
      s.add(modOf.get(id));
      stackMods.set(id, s);
      return s;
    };
    // The nearest frame on the stack that is user-land code (a package, ours, the app): what caused
    // the time spent in natives and node internals below it.
    const chargedOf = new Map();
    const chargeOf = (id) => {
      let c = chargedOf.get(id);
      if (c !== undefined) return c;
      const m = modOf.get(id);
      const p = parent.get(id);
      c = !m.startsWith('node:') && !m.startsWith('(') ? m : p === undefined ? m : chargeOf(p);
      if (c === '(root)') c = m;
      chargedOf.set(id, c);
      return c;
    };
    let t = 0;
    let started = FROM === undefined;
    for (let i = 0; i < prof.samples.length; i++) {
      const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000; // ms spent at sample i
      t += (prof.timeDeltas[i] ?? 0) / 1000;
      if (t < SKIP_MS) continue;
      const id = prof.samples[i];
      if (!started) {
        let hit = false;
        for (let n = id; n !== undefined && !hit; n = parent.get(n))
          hit = byId.get(n).callFrame.functionName === FROM;
        if (!hit) continue;
        started = true;
      }
      const n = byId.get(id);
      if (n.callFrame.functionName === '(idle)') {
        idle += dt;
        continue;
      }
      if (STEADY && LOADERS.some((m) => modsOf(id).has(m))) continue;
      total += dt;
      add(selfByModule, modOf.get(id), dt);
      add(selfByFn, fnOf.get(id), dt);
      add(chargedByModule, chargeOf(id), dt);
      for (const m of modsOf(id)) add(totalByModule, m, dt);
    }
  }

  return { selfByModule, selfByFn, totalByModule, chargedByModule, total, idle };
}

const unit = PER > 0 ? 'µs/req' : 'ms';
const scale = (ms) => (PER > 0 ? (ms * 1000) / PER : ms);
const A = summarize(files);
const { total, idle } = A;
const show = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...map].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, n)) {
    console.log(
      `${scale(v)
        .toFixed(PER > 0 ? 1 : 0)
        .padStart(9)} ${unit}  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`,
    );
  }
};
if (vsFiles.length > 0) {
  // Per-profile averages on both sides, so 3 runs --vs 3 runs compare like for like.
  const B = summarize(vsFiles);
  const diff = (a, b) => {
    const out = new Map();
    for (const [k, v] of b) out.set(k, v / vsFiles.length);
    for (const [k, v] of a) out.set(k, (out.get(k) ?? 0) - v / files.length);
    return out;
  };
  console.log(
    `busy per profile: ${scale(A.total / files.length).toFixed(1)} -> ${scale(B.total / vsFiles.length).toFixed(1)} ${unit}`,
  );
  show('charged self time, second minus first', diff(A.chargedByModule, B.chargedByModule), TOP);
  show('inclusive time, second minus first', diff(A.totalByModule, B.totalByModule), TOP);
  show('self time by function, second minus first', diff(A.selfByFn, B.selfByFn), TOP);
  process.exit(0);
}
console.log(
  `${files.length} profile(s): ${scale(total).toFixed(0)} ${unit} busy, ${idle.toFixed(0)} ms idle (skip ${SKIP_MS} ms)`,
);
show('self time by module', A.selfByModule, TOP);
show(
  'self time charged to the nearest package/app frame (natives and node: internals count for their caller)',
  A.chargedByModule,
  TOP,
);
show('inclusive time by module (stacks through it)', A.totalByModule, TOP);
show('self time by function', A.selfByFn, TOP);
