// keepNames (scripts/bundle.mjs) makes esbuild name every function and class at run time with
// `__name(fn, "name")`, so that the ~80 symbols it renames for collisions keep their own names. For
// all the others the call sets the name they already have: a function declaration's own name, and
// a class's from its declaration or from the `var X = class` it is assigned to (the language's
// NamedEvaluation, done before a class's static blocks run). Each call still runs at module
// evaluation (and inside functions, at every call), redefines `name` as an own data property, and a
// class gets a static block (a function) for it. This drops those calls and keeps every other.
// Removed text becomes empty lines, so the source map's line numbers stay right.

/** `__name(X, "X");` alone on its line: only ever emitted after `function X(`. */
const SAME_NAME_STATEMENT = /^([ \t]*)__name\(([\w$]+), "\2"\);$/gm;

/**
 * A class whose first member is esbuild's `static { __name(this, "X"); }` and whose header already
 * gives it the name X: `class X {`, `class X extends ...`, `var X = class {`, `var X = class extends`.
 * A class with an inner name of its own (`var X = class _X {`) is named `_X`, so it keeps the call.
 */
const CLASS_NAME_BLOCK =
  /^([ \t]*)((?:var|let|const) ([\w$]+) = class(?: extends [^\n{]+)? \{|class ([\w$]+)(?: extends [^\n{]+)? \{)\n([ \t]*)static \{\n[ \t]*__name\(this, "([\w$]+)"\);\n[ \t]*\}\n/gm;

/** The text without the redundant calls, and how many of each kind went. */
export function dropRedundantNames(text) {
  let statements = 0;
  let classes = 0;
  let out = text.replace(SAME_NAME_STATEMENT, () => {
    statements++;
    return '';
  });
  out = out.replace(CLASS_NAME_BLOCK, (all, indent, header, varName, className, _inner, named) => {
    if ((varName ?? className) !== named) return all;
    classes++;
    return `${indent}${header}\n\n\n\n`;
  });
  return { text: out, statements, classes };
}
