import { describe, expect, it } from 'vitest';
import { createRedactor, REDACTED } from '../../../instrumentation/redact.js';

const KEYS = ['authorization', 'api_key', 'token', 'password', 'secret', 'cookie'];

describe('createRedactor', () => {
  const r = createRedactor(KEYS);

  it('matches keys case-insensitively across snake, camel, kebab and prefixed spellings', () => {
    const out = r.redactValue({
      api_key: 'a',
      apiKey: 'b',
      'API-KEY': 'c',
      'x-api-key': 'd',
      Authorization: 'e',
      accessToken: 'f',
      client_secret: 'g',
      Password: 'h',
      'set-cookie': ['i'],
      user: 'ada',
    });
    expect(out).toEqual({
      api_key: REDACTED,
      apiKey: REDACTED,
      'API-KEY': REDACTED,
      'x-api-key': REDACTED,
      Authorization: REDACTED,
      accessToken: REDACTED,
      client_secret: REDACTED,
      Password: REDACTED,
      'set-cookie': REDACTED,
      user: 'ada',
    });
  });

  it('leaves keys that only contain a secret word in the middle, such as token counts, visible', () => {
    const v = { maxTokens: 512, token_count: 3, tokens: 7 };
    expect(r.redactValue(v)).toBe(v);
  });

  it('masks credential-shaped values wherever they appear', () => {
    expect(r.redactString('key sk-abcdefghijklmnopqrstuv used')).toBe(`key ${REDACTED} used`);
    expect(r.redactString('sk-proj-AbCdEf0123456789_xyz-QQ')).toBe(REDACTED);
    // Percent-encoded, as in a query string or a form body: no word boundary before the secret.
    expect(r.redactString('q=my%20key%20sk-abcdefghijklmnopqrstuv&x=1')).toBe(
      `q=my%20key%20${REDACTED}&x=1`,
    );
    expect(r.redactString('auth=Bearer%20abc.def%2Fghi_123&y=2')).toBe(
      `auth=Bearer ${REDACTED}&y=2`,
    );
    expect(r.redactString('a=1%3Dsk-abcdefghijklmnopqrstuv')).toBe(`a=1%3D${REDACTED}`);
    // Still no match inside a word: "tasks-..." is not a key.
    expect(r.redactString('tasks-abcdefghijklmnopqrstuv')).toBe('tasks-abcdefghijklmnopqrstuv');
    expect(r.redactString('Authorization: Bearer abc.def-ghi_123')).toBe(
      `Authorization: Bearer ${REDACTED}`,
    );
    expect(r.redactString('Basic dXNlcjpwYXNzd29yZA==')).toBe(`Basic ${REDACTED}`);
    const jwt =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(r.redactString(`token=${jwt}`)).toBe(`token=${REDACTED}`);
    expect(r.redactString('a basic question about skis')).toBe('a basic question about skis');
    expect(r.redactString('Basic setup, Bearer of news')).toBe(
      `Basic setup, Bearer ${REDACTED} news`,
    );
  });

  it('redacts nested objects and arrays without mutating the input', () => {
    const input = {
      req: { headers: { authorization: 'Bearer x', host: 'h' } },
      list: [{ password: 'p' }, 'ok', 'Bearer tok'],
    };
    const snapshot = structuredClone(input);
    const out = r.redactValue(input) as typeof input;
    expect(out).toEqual({
      req: { headers: { authorization: REDACTED, host: 'h' } },
      list: [{ password: REDACTED }, 'ok', `Bearer ${REDACTED}`],
    });
    expect(input).toEqual(snapshot);
    expect(out.req).not.toBe(input.req);
  });

  it('returns the same reference when nothing matches (no copy)', () => {
    const v = { a: 1, b: 'plain', c: { d: [1, 2, 'x'] } };
    expect(r.redactValue(v)).toBe(v);
    const attrs = { 'http.route': '/x', 'http.response.status_code': 200 };
    expect(r.redactAttributes(attrs)).toBe(attrs);
  });

  it('redacts span attributes by key and by value, including string arrays', () => {
    const attrs = {
      'http.request.header.authorization': ['Bearer abc'],
      'url.query': 'api_key=1&x=Bearer abcdef',
      'db.statement': 'select 1',
    };
    expect(r.redactAttributes(attrs)).toEqual({
      'http.request.header.authorization': REDACTED,
      'url.query': `api_key=1&x=Bearer ${REDACTED}`,
      'db.statement': 'select 1',
    });
    expect(r.redactAttributes({ tags: ['a', 'sk-abcdefghijklmnopqrstuvwx'] })).toEqual({
      tags: ['a', REDACTED],
    });
  });

  it('makes circular, BigInt and Error values safe to serialise without throwing', () => {
    const a: Record<string, unknown> = { n: 10n };
    a['self'] = a;
    const err = new Error('boom with sk-abcdefghijklmnopqrstuv');
    (err as unknown as Record<string, unknown>)['code'] = 'E_X';
    const out = r.redactValue({ a, err }) as { a: unknown; err: Record<string, unknown> };
    expect(out['a']).toEqual({ n: '10', self: '[Circular]' });
    expect(out['err'].name).toBe('Error');
    expect(out['err'].message).toBe(`boom with ${REDACTED}`);
    expect(out['err'].code).toBe('E_X');
    expect(typeof out['err'].stack).toBe('string');
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('keeps the same object twice in siblings (only real cycles become [Circular])', () => {
    const shared = { x: 1n };
    expect(r.redactValue({ a: shared, b: shared })).toEqual({ a: { x: '1' }, b: { x: '1' } });
  });

  it('bounds depth and survives throwing getters', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 50; i++) deep = { next: deep };
    expect(() => JSON.stringify(r.redactValue(deep))).not.toThrow();
    const evil = {
      get boom(): never {
        throw new Error('getter');
      },
    };
    expect(r.redactValue({ evil })).toEqual({ evil: '[Unserializable]' });
  });

  it('is cheap when nothing matches: 100 000 plain records in well under a second', () => {
    const v = { id: 1, route: '/api/echo', user: 'ada', ms: 12.5 };
    const t0 = performance.now();
    for (let i = 0; i < 100_000; i++) r.redactValue(v);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
