import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { dropNamespaceCopies } from '../../../scripts/namespace-copies.mjs';

// esbuild's helpers as it emits them into a CommonJS bundle.
const HELPERS = `var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));
var apiExports = { context: { active: () => "ctx" }, trace: { name: "trace" }, default: "api-default" };
var require_api = () => apiExports;
var require = (s) => ({ "node:fs": { readFileSync: () => "read" } })[s];
`;

const SAMPLE = `var import_api, import_api2, other;
var init_a = () => {
  import_api = __toESM(require_api(), 1);
};
var import_api2 = __toESM(require_api(), 1);
var import_api3 = __toESM(require_api());
var fsMod = __toESM(require("node:fs"), 1);
var import_withDefault = __toESM(require_api(), 1);
var import_defaultOnly = __toESM(require_api());
var import_passed = __toESM(require_api(), 1);
var names = ["fsMod"];
var otherMod = __toESM(require("node:fs"), 1);
init_a();
out.active = (0, import_api.context.active)();
out.trace = import_api2.trace.name;
out.third = import_api3.context.active();
out.read = fsMod.readFileSync();
out.def = import_withDefault.default.trace.name;
out.otherDefault = otherMod.default.readFileSync();
out.defCall = (0, import_withDefault.default.context.active)();
out.defNoNodeMode = import_defaultOnly.default;
out.passed = Object.keys(import_passed).sort().join(",");
apiExports.addedLater = true;
out.later = [import_api.addedLater, import_api2.addedLater, import_api3.addedLater];
`;

/** `import_withDefault.default` is the copy's own default: the module's exports object. */
const apiExportsObject = expect.objectContaining({ default: 'api-default' });

function run(code: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  runInNewContext(`${HELPERS}${code}`, { out });
  // plain values of this realm (the script's arrays have the other realm's prototype)
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

describe('dropNamespaceCopies', () => {
  const result = dropNamespaceCopies(SAMPLE);

  it('makes a copy read only by name the module itself, and keeps a copy used any other way', () => {
    expect(result.replaced).toBe(5);
    // otherMod: a `.default` of a name not esbuild's own is left as it is
    expect(result.kept.map((k) => k.name).sort()).toEqual([
      'import_defaultOnly',
      'import_passed',
      'otherMod',
    ]);
    expect(result.text).toContain('import_api = require_api()');
    expect(result.text).toContain('var fsMod = require("node:fs")');
    // node mode: the copy's default is the module itself, so `.default` goes too
    expect(result.text).toContain('import_withDefault = require_api()');
    expect(result.text).toContain('import_withDefault        .trace.name');
    // without node mode the copy's default may be the module's own `default`: kept
    expect(result.text).toContain('import_defaultOnly = __toESM(require_api())');
    expect(result.text).toContain('import_passed = __toESM(require_api(), 1)');
  });

  it('reads the same values as the copies did', () => {
    const before = run(SAMPLE);
    const after = run(result.text);
    // a key the module gets after the copy was made: only the module itself has it
    expect(before.later).toEqual([null, null, null]);
    expect(after).toEqual({ ...before, later: [true, true, true] });
    // the default and the key list of the kept copies are the copies' own
    expect(after.def).toBe('trace');
    expect(after.defCall).toBe('ctx');
    expect(after.defNoNodeMode).toEqual(apiExportsObject);
    expect(after.passed).toBe('context,default,trace');
  });

  it('keeps every line and column: the module call is padded to the copy call length', () => {
    expect(result.text.length).toBe(SAMPLE.length);
    expect(result.text.split('\n').map((l) => l.length)).toEqual(
      SAMPLE.split('\n').map((l) => l.length),
    );
  });

  it('leaves text without copies as it is', () => {
    const plain = 'var x = require_api();\nout.x = x.context;\n';
    expect(dropNamespaceCopies(plain)).toEqual({ text: plain, replaced: 0, kept: [] });
  });
});
