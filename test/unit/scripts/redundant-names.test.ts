import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { dropRedundantNames } from '../../../scripts/redundant-names.mjs';

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
