#!/usr/bin/env node
// What one read of an `@opentelemetry/api` export costs in the bundle, and what the fs exemplar's
// active-span lookup costs (docs/performance.md "Per-request costs"). esbuild turns a named import
// of a CommonJS package (the API is one) into a property read through its interop getter
// (`__toESM` → `__copyProps`' `get`), then the package's own re-export getter, at every use;
// our hot modules read instrumentation/signals/otel-api.ts' plain constants instead. A tiny entry
// is bundled with the options scripts/bundle.mjs uses (ESM, keepNames, `main` fields, the
// `require` condition) and times, in one process, batches of:
//   getters   trace.getSpan(context.active()) with the API imported directly (what we did)
//   consts    the same through module constants (what otel-api.ts gives)
//   reader    sdk-internals.ts' createActiveSpanReader() (the fs exemplar lookup now)
// outside any span and inside one, fastest batch of each (CPU time), ns per lookup.
// Env: BENCH_NODES (20,24), BENCH_OPS (2000000 per batch).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { envInt, wantedNodes } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OPS = envInt('BENCH_OPS', 2_000_000);

const CONSTS = `
import { context as a, trace as b } from '@opentelemetry/api';
export const context = a;
export const trace = b;
`;
const ENTRY = `
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createActiveSpanReader } from ${JSON.stringify(join(root, 'instrumentation/export/sdk-internals.ts'))};
import * as c from './consts.mjs';
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const span = new BasicTracerProvider().getTracer('bench').startSpan('request');
const N = ${OPS};
const variants = {
  getters: () => trace.getSpan(context.active()),
  consts: () => c.trace.getSpan(c.context.active()),
  reader: createActiveSpanReader(),
};
function loop(f) { let n = 0; for (let i = 0; i < N; i++) if (f() !== undefined) n++; return n; }
const out = {};
for (const where of ['outside a span', 'inside a span']) {
  const best = {};
  const batch = () => {
    for (const [k, f] of Object.entries(variants)) {
      const t0 = process.cpuUsage();
      const found = loop(f);
      const d = process.cpuUsage(t0);
      if ((found > 0) !== (where === 'inside a span')) throw new Error(k + ': wrong span ' + where);
      best[k] = Math.min(best[k] ?? Infinity, ((d.user + d.system) * 1000) / N);
    }
  };
  for (let r = 0; r < 7; r++) {
    if (where === 'inside a span') context.with(trace.setSpan(context.active(), span), batch);
    else batch();
  }
  out[where] = best;
}
console.log(JSON.stringify(out));
`;

const dir = mkdtempSync(join(tmpdir(), 'echoes-bench-api-reads-'));
try {
  writeFileSync(join(dir, 'consts.mjs'), CONSTS);
  writeFileSync(join(dir, 'entry.mjs'), ENTRY);
  const outfile = join(dir, 'bench.mjs');
  await build({
    entryPoints: [join(dir, 'entry.mjs')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    keepNames: true,
    mainFields: ['main'],
    conditions: ['node', 'require'],
    nodePaths: [join(root, 'node_modules')],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    outfile,
    logLevel: 'warning',
  });
  console.log('| Node | where | getters ns | consts ns | reader ns |');
  console.log('|---|---|---:|---:|---:|');
  for (const node of wantedNodes()) {
    const res = JSON.parse(execFileSync(node.path, [outfile], { encoding: 'utf8' }));
    for (const [where, b] of Object.entries(res)) {
      console.log(
        `| ${node.label} | ${where} | ${b.getters.toFixed(1)} | ${b.consts.toFixed(1)} | ${b.reader.toFixed(1)} |`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
