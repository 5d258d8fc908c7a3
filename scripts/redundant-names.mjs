import { parse } from 'acorn';

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

/** `__name(<anonymous function or arrow>, "<string>")`. */
function isNameCall(node) {
  if (node?.type !== 'CallExpression' || node.callee.type !== 'Identifier') return false;
  if (node.callee.name !== '__name' || node.arguments.length !== 2) return false;
  const [fn, name] = node.arguments;
  const anonymous =
    fn.type === 'ArrowFunctionExpression' || (fn.type === 'FunctionExpression' && fn.id === null);
  return anonymous && name.type === 'Literal' && typeof name.value === 'string';
}

/** `__name(function X(...) {...}, "X")`: a function expression named as the call names it. */
function isOwnNameCall(node) {
  if (node?.type !== 'CallExpression' || node.callee.type !== 'Identifier') return false;
  if (node.callee.name !== '__name' || node.arguments.length !== 2) return false;
  const [fn, name] = node.arguments;
  return fn.type === 'FunctionExpression' && fn.id !== null && fn.id.name === name.value;
}

/**
 * The `__name` call that sets the name its function already has: a named function expression's
 * own, or the one a node gives an anonymous function by NamedEvaluation.
 */
function redundantNameCall(node) {
  return isOwnNameCall(node) ? node : namedEvaluationCall(node);
}

/** The `__name` call a node gives its name to by NamedEvaluation, if that name is the call's. */
function namedEvaluationCall(node) {
  let target;
  let call;
  if (node.type === 'Property' && node.kind === 'init' && !node.computed && !node.method) {
    if (!node.shorthand && node.key.type === 'Identifier') [target, call] = [node.key, node.value];
  } else if (node.type === 'VariableDeclarator' && node.id.type === 'Identifier') {
    [target, call] = [node.id, node.init];
  } else if (node.type === 'AssignmentExpression' && node.operator === '=') {
    if (node.left.type === 'Identifier') [target, call] = [node.left, node.right];
  }
  if (target === undefined || !isNameCall(call)) return undefined;
  return call.arguments[1].value === target.name ? call : undefined;
}

/**
 * The rest of keepNames' redundant calls, found in the parsed text: an anonymous function or arrow
 * that a property (`get: __name(function() {...}, "get")`, as in every re-export getter of the
 * TypeScript-built packages), a variable declaration or an assignment already names by the
 * language's NamedEvaluation, with the same name; and a function expression with that very name
 * of its own (`__name(function once() {...}, "once")`). `__name(` and `, "name")` become
 * spaces, so every line and column stays where it was (the source map stays right). The text is
 * parsed again after the change: its tree must be the one before without the dropped calls.
 */
export function dropNamedEvaluationNames(text, sourceType = 'script') {
  const options = { ecmaVersion: 'latest', sourceType, allowReturnOutsideFunction: true };
  const ast = parse(text, options);
  const calls = [];
  visit(ast, (node) => {
    const call = redundantNameCall(node);
    if (call !== undefined) calls.push(call);
  });
  const ranges = calls.flatMap((call) => {
    const fn = call.arguments[0];
    return [
      [call.start, fn.start],
      [fn.end, call.end],
    ];
  });
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [from, to] of ranges) {
    out += text.slice(at, from) + text.slice(from, to).replace(/[^\n]/g, ' ');
    at = to;
  }
  out += text.slice(at);
  // The same tree as before but for the dropped calls: node types in order, the calls' own nodes
  // (the call, its callee, the name) left out of the first.
  const dropped = new Set(calls.flatMap((call) => [call, call.callee, call.arguments[1]]));
  const before = shape(ast, dropped);
  const after = shape(parse(out, options), new Set());
  if (before !== after) throw new Error('dropNamedEvaluationNames: the tree changed');
  return { text: out, calls: calls.length };
}

/** Calls `fn` on each node of an ESTree tree. */
function visit(node, fn) {
  if (Array.isArray(node)) {
    for (const child of node) visit(child, fn);
    return;
  }
  if (node === null || typeof node !== 'object' || typeof node.type !== 'string') return;
  fn(node);
  for (const key of Object.keys(node)) {
    if (key !== 'type' && key !== 'start' && key !== 'end') visit(node[key], fn);
  }
}

/** The node types of a tree in visit order, without the `skip` nodes. */
function shape(ast, skip) {
  const types = [];
  visit(ast, (node) => {
    if (!skip.has(node)) types.push(node.type);
  });
  return types.join(',');
}
