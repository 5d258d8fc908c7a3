// esbuild bundles an ES module's import of a CommonJS module (our TypeScript importing
// `@opentelemetry/api`, `@opentelemetry/core`, the SDK packages, `import * as fs from 'node:fs'`)
// as `import_x = __toESM(require_x(), 1)`: a new object per importing module, with a getter
// (`() => from[key]`, one closure, accessor pair and dictionary entry each) for every export of
// the CommonJS module. core.cjs had 69 such copies, about 2 000 getters at startup, and every read
// of `import_api.context` at run time was a call to one of them (a megamorphic keyed load inside).
// The copy differs from the module's own exports object only in its `default` (the exports object
// itself) and in which keys it has (those present when it was made); a reading `import_x.name` of
// any other name gets the same value from either. So where every use of the variable is such a
// read (or its `var` declaration), this makes it the exports object itself.
//
// The replacement is padded with spaces to the call's length, so the source map's lines and
// columns stay right.

/** `import_x = __toESM(require_x(), 1)` / `__toESM(require("node:fs"), 1)`, with or without `, 1`. */
const COPY =
  /(?<![\w$.])(import_[\w$]+|[\w$]+) = (__toESM\(((?:require_[\w$]+\(\))|(?:require\("[^"\n]+"\)))(, 1)?\))/g;

function escape(name) {
  return name.replace(/\$/g, '\\$');
}

/**
 * The uses of `name`: `other`, those that are neither a read of a named property other than
 * `default`, nor the name in a `var` declaration list, nor the assignment `name = ` itself; and
 * `defaults`, where each `name.default` read starts.
 */
function usesOf(text, name) {
  const use = new RegExp(`(?<![\\w$.])${escape(name)}(?![\\w$])`, 'g');
  const other = [];
  const defaults = [];
  for (const m of text.matchAll(use)) {
    const after = text.slice(m.index + name.length, m.index + name.length + 64);
    // Inside a string literal ("fs" in a list of names): not a use.
    if (/["'`]/.test(text[m.index - 1] ?? '') || /^["'`]/.test(after)) continue;
    const prop = /^\.([\w$]+)/.exec(after);
    if (prop !== null && prop[1] !== 'default') continue;
    if (prop !== null && /^\.default(?!\s*=[^=])/.test(after)) {
      defaults.push(m.index + name.length);
      continue;
    }
    if (after.startsWith(' = ')) continue;
    const lineStart = text.lastIndexOf('\n', m.index) + 1;
    if (/^[,;]/.test(after) && /^\s*var [\w$, ]*$/.test(text.slice(lineStart, m.index))) continue;
    other.push(text.slice(Math.max(0, m.index - 20), m.index + name.length + 20));
  }
  return { other, defaults };
}

/**
 * The text with each namespace copy that only named reads use replaced by the module itself. In
 * node mode (`__toESM(..., 1)`, what esbuild emits for our ES modules) the copy's `default` is the
 * module itself, so a `import_x.default` read becomes `import_x` too (`.default` blanked).
 */
export function dropNamespaceCopies(text) {
  let replaced = 0;
  const kept = [];
  const blank = [];
  const seen = new Map();
  const out = text.replace(COPY, (all, name, call, module, nodeMode) => {
    let uses = seen.get(name);
    if (uses === undefined) {
      uses = usesOf(text, name);
      seen.set(name, uses);
    }
    // `.default` is blanked by position, so only for esbuild's own `import_*` names (unique in the
    // bundle); another name could be a variable of some other scope with a `default` of its own.
    const defaultsOk = nodeMode !== undefined && name.startsWith('import_');
    const why = uses.other[0] ?? (defaultsOk ? undefined : uses.defaults[0]);
    if (why !== undefined) {
      kept.push({ name, use: typeof why === 'string' ? why : `${name}.default` });
      return all;
    }
    replaced++;
    blank.push(...uses.defaults);
    return `${name} = ${module.padEnd(call.length, ' ')}`;
  });
  if (blank.length === 0) return { text: out, replaced, kept };
  // `.default` after each use, as spaces (the same length: lines and columns stay).
  let result = '';
  let at = 0;
  for (const i of [...new Set(blank)].sort((a, b) => a - b)) {
    result += `${out.slice(at, i)}        `;
    at = i + '.default'.length;
  }
  return { text: result + out.slice(at), replaced, kept };
}
