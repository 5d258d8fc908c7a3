// The layers of instrumentation/, measured from the TypeScript imports (type-only ones included:
// they tie the design as much as value imports do). `node scripts/layers.mjs [repo]` prints
//   - floors: the longest import chain when each subfolder counts as one room and each file in
//     the root as its own (a room stands one floor above everything it imports; the ground is 1);
//   - the same chain file by file;
//   - every import circle, between files and between folders;
//   - every import that breaks LAYERS below;
// and exits 1 when there is a circle, more than MAX_FLOORS floors or a broken layer.
// docs/architecture.md quotes its figures; test/unit/instrumentation/layers.test.ts keeps them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FLOORS = 9;

/**
 * From the ground up: a part may import only parts of a lower layer, and files of its own folder.
 * Only the entry layer's files import one another (register -> core -> index / register-main).
 */
export const LAYERS = [
  { name: 'ground', parts: ['types.ts', 'catalog.ts', 'targets.ts', 'redact.ts'] },
  { name: 'config', parts: ['config/'] },
  { name: 'export', parts: ['export/'] },
  { name: 'feature contract', parts: ['feature.ts'] },
  { name: 'features', parts: ['signals/', 'logging/'] },
  { name: 'wiring', parts: ['sdk.ts'] },
  {
    name: 'entry',
    parts: ['compile-cache.ts', 'register-main.ts', 'index.ts', 'core.ts', 'register.ts'],
  },
];

const here = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Every .ts under `dir`, as paths relative to it with `/` separators. */
function sources(dir) {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.split(sep).join('/'))
    .sort();
}

/** file -> the files of `dir` it imports (static, dynamic, require, export-from, type-only). */
export function importGraph(dir) {
  const files = sources(dir);
  const known = new Set(files);
  const graph = new Map();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(join(dir, f), 'utf8'), true, true);
    const deps = new Set();
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = posix
        .normalize(posix.join(posix.dirname(f), fileName))
        .replace(/\.js$/, '.ts');
      if (known.has(target) && target !== f) deps.add(target);
    }
    graph.set(f, [...deps].sort());
  }
  return graph;
}

/** The room a file stands in: its first folder, or the file itself in the root. */
export const roomOf = (file) =>
  file.includes('/') ? `${file.slice(0, file.indexOf('/'))}/` : file;

/** The graph with files merged into rooms (imports inside one room dropped). */
export function roomGraph(graph) {
  const rooms = new Map();
  for (const [f, deps] of graph) {
    const r = roomOf(f);
    const set = rooms.get(r) ?? new Set();
    for (const d of deps) if (roomOf(d) !== r) set.add(roomOf(d));
    rooms.set(r, set);
  }
  return new Map([...rooms].map(([r, s]) => [r, [...s].sort()]));
}

/** Strongly connected components of more than one node (Tarjan): the import circles. */
export function circles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/**
 * node -> floor (1 = imports nothing here), and one longest chain from the top down. Nodes on a
 * circle have no floor: call only on a graph without circles.
 */
export function floors(graph) {
  const floor = new Map();
  const next = new Map();
  const of = (v) => {
    if (floor.has(v)) return floor.get(v);
    floor.set(v, NaN); // guards against a circle
    let best = 0;
    for (const w of graph.get(v) ?? []) {
      const f = of(w);
      if (f > best) {
        best = f;
        next.set(v, w);
      }
    }
    floor.set(v, best + 1);
    return best + 1;
  };
  for (const v of graph.keys()) of(v);
  let top;
  for (const [v, f] of floor) if (top === undefined || f > floor.get(top)) top = v;
  const chain = [];
  for (let v = top; v !== undefined; v = next.get(v)) chain.push(v);
  return { floor, height: top === undefined ? 0 : floor.get(top), chain };
}

/** Imports that break LAYERS (and files that stand in no layer). */
export function layerBreaks(graph, layers = LAYERS) {
  const layerOf = new Map();
  layers.forEach((l, i) => l.parts.forEach((p) => layerOf.set(p, i)));
  const breaks = [];
  for (const [f, deps] of graph) {
    const from = layerOf.get(roomOf(f));
    if (from === undefined) {
      breaks.push(`${f}: in no layer (scripts/layers.mjs LAYERS)`);
      continue;
    }
    for (const d of deps) {
      const to = layerOf.get(roomOf(d));
      if (roomOf(d) === roomOf(f) || to === undefined) continue;
      const entry = layers[from].name === 'entry' && from === to;
      if (to >= from && !entry)
        breaks.push(`${f} -> ${d}: ${layers[from].name} may not import ${layers[to].name}`);
    }
  }
  return breaks;
}

/** Everything the command prints, for `repo`'s instrumentation/. */
export function measure(repo = here) {
  const graph = importGraph(join(repo, 'instrumentation'));
  const rooms = roomGraph(graph);
  const fileCircles = circles(graph);
  const roomCircles = circles(rooms);
  return {
    files: graph.size,
    rooms: rooms.size,
    imports: [...graph.values()].reduce((n, d) => n + d.length, 0),
    fileCircles,
    roomCircles,
    floors: roomCircles.length === 0 ? floors(rooms) : undefined,
    fileFloors: fileCircles.length === 0 ? floors(graph) : undefined,
    layerBreaks: layerBreaks(graph),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const repo = process.argv[2] ?? here;
  const m = measure(repo);
  const show = (f) => (f ? `${f.height} (${f.chain.join(' -> ')})` : 'none: there is a circle');
  console.log(
    `instrumentation/ of ${relative(process.cwd(), repo) || '.'}: ${m.files} files, ${m.rooms} rooms, ${m.imports} imports`,
  );
  console.log(`floors, a folder as one room: ${show(m.floors)}`);
  console.log(`floors, file by file: ${show(m.fileFloors)}`);
  console.log(`circles between files: ${m.fileCircles.length}`);
  for (const c of m.fileCircles) console.log(`  ${c.join(' <-> ')}`);
  console.log(`circles between rooms: ${m.roomCircles.length}`);
  for (const c of m.roomCircles) console.log(`  ${c.join(' <-> ')}`);
  console.log(`layer breaks: ${m.layerBreaks.length}`);
  for (const b of m.layerBreaks) console.log(`  ${b}`);
  const tooTall = !m.floors || m.floors.height > MAX_FLOORS;
  if (tooTall || m.fileCircles.length || m.roomCircles.length || m.layerBreaks.length)
    process.exitCode = 1;
}
