import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { dropNamedEvaluationNames, dropRedundantNames } from '../../../scripts/redundant-names.mjs';

// esbuild's helper as keepNames emits it.
const HELPER =
  'var __name = (target, value) => Object.defineProperty(target, "name", { value, configurable: true });\n';

/** The names and `name` descriptors of what `code` puts in `out`, run as the bundle would run it. */
function namesOf(code: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  runInNewContext(`${HELPER}${code}`, { out });
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [
      k,
      { name: (v as { name: string }).name, desc: Object.getOwnPropertyDescriptor(v, 'name') },
    ]),
  );
}

const SAMPLE = `function foo() {}
__name(foo, "foo");
function bar2() {}
__name(bar2, "bar");
var Tracer = class {
  static {
    __name(this, "Tracer");
  }
  x = 1;
};
var Provider2 = class extends Tracer {
  static {
    __name(this, "Provider");
  }
};
var Inner = class _Inner {
  static {
    __name(this, "Inner");
  }
  static make() { return new _Inner(); }
};
class Plain {
  static {
    __name(this, "Plain");
  }
}
out.foo = foo; out.bar2 = bar2; out.Tracer = Tracer; out.Provider2 = Provider2;
out.Inner = Inner; out.Plain = Plain;
`;

describe('dropRedundantNames', () => {
  it('drops the calls that set the name a function or class already has, and keeps the others', () => {
    const { text, statements, classes } = dropRedundantNames(SAMPLE);
    expect(statements).toBe(1);
    expect(classes).toBe(2);
    expect(text).not.toContain('__name(foo, "foo")');
    expect(text).toContain('__name(bar2, "bar")');
    expect(text).toContain('__name(this, "Provider")');
    expect(text).toContain('__name(this, "Inner")');
    expect(text).not.toContain('__name(this, "Tracer")');
    expect(text).not.toContain('__name(this, "Plain")');
  });

  it('leaves every name and its property descriptor as keepNames made them', () => {
    const before = namesOf(SAMPLE);
    expect(namesOf(dropRedundantNames(SAMPLE).text)).toEqual(before);
    expect(before).toMatchObject({
      foo: { name: 'foo' },
      bar2: { name: 'bar' },
      Tracer: { name: 'Tracer' },
      Provider2: { name: 'Provider' },
      Inner: { name: 'Inner' },
      Plain: { name: 'Plain' },
    });
  });

  it('keeps the line count, so the source map still points at the right lines', () => {
    expect(dropRedundantNames(SAMPLE).text.split('\n')).toHaveLength(SAMPLE.split('\n').length);
  });
});

const EVALUATED = `var getters = {};
Object.defineProperty(getters, "x", { enumerable: true, get: /* @__PURE__ */ __name(function() {
  return 1;
}, "get") });
var arrow = /* @__PURE__ */ __name((a) => a, "arrow");
var assigned;
assigned = /* @__PURE__ */ __name(async function() {}, "assigned");
var renamed2 = /* @__PURE__ */ __name(() => 1, "renamed");
var inner = /* @__PURE__ */ __name(function own() {}, "inner");
var computed = { ["key"]: /* @__PURE__ */ __name(() => 1, "key") };
var plainKey = { key: /* @__PURE__ */ __name(() => 1, "key") };
var once2 = /* @__PURE__ */ __name(function once() {}, "once");
var compat = /* @__PURE__ */ __name(function isCompatible2() {}, "isCompatible");
var cond, then;
cond = true ? then = /* @__PURE__ */ __name(() => 2, "then") : 0;
out.get = Object.getOwnPropertyDescriptor(getters, "x").get; out.arrow = arrow; out.assigned = assigned;
out.renamed2 = renamed2; out.inner = inner; out.computed = computed.key; out.plainKey = plainKey.key;
out.then = then; out.cond = cond; out.once2 = once2; out.compat = compat;
`;

describe('dropNamedEvaluationNames', () => {
  const { text, calls } = dropNamedEvaluationNames(EVALUATED);

  it('drops the calls that name an anonymous function as its property, variable or assignment does, or a function as its own name does', () => {
    expect(calls).toBe(6);
    expect(text).not.toMatch(/__name\([^]*"(get|arrow|assigned|then)"\)/);
    expect(text).toContain('__name(() => 1, "renamed")');
    expect(text).toContain('__name(function own() {}, "inner")');
    expect(text).toContain('__name(function isCompatible2() {}, "isCompatible")');
    expect(text).not.toContain('"once")');
    expect(text).toContain('["key"]: /* @__PURE__ */ __name(() => 1, "key")');
    expect(text).toMatch(/\{ key: \/\* @__PURE__ \*\/ {8}\(\) => 1 {9}\}/);
  });

  it('leaves every name, its descriptor and what the code computes as they were', () => {
    const before = namesOf(EVALUATED);
    expect(namesOf(text)).toEqual(before);
    expect(before).toMatchObject({
      get: { name: 'get' },
      arrow: { name: 'arrow' },
      assigned: { name: 'assigned' },
      renamed2: { name: 'renamed' },
      inner: { name: 'inner' },
      computed: { name: 'key' },
      plainKey: { name: 'key' },
      then: { name: 'then' },
      once2: { name: 'once' },
      compat: { name: 'isCompatible' },
    });
    const results = (code: string): unknown[] => {
      const out: Record<string, () => unknown> = {};
      runInNewContext(`${HELPER}${code}`, { out });
      return [out.get!(), out.then!(), out.cond === out.then];
    };
    expect(results(text)).toEqual(results(EVALUATED));
  });

  it('keeps every line and column', () => {
    expect(text.length).toBe(EVALUATED.length);
    expect(text.split('\n').map((l) => l.length)).toEqual(
      EVALUATED.split('\n').map((l) => l.length),
    );
  });
});
