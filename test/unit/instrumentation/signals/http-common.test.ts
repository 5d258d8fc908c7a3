import { describe, expect, it } from 'vitest';
import {
  createPathMatcher,
  createUrlRedactor,
} from '../../../../instrumentation/signals/http-common.js';

describe('createUrlRedactor', () => {
  const redact = createUrlRedactor(['api_key', 'token']);

  it('replaces the values of secret-named query parameters and keeps the rest', () => {
    expect(redact('https://api.example.test/v1/x?api_key=abc&page=2&accessToken=t1')).toBe(
      'https://api.example.test/v1/x?api_key=REDACTED&page=2&accessToken=REDACTED',
    );
  });

  it("always redacts semconv's signature parameters, and keeps a fragment", () => {
    expect(createUrlRedactor(undefined)('http://h/p?sig=s&X-Goog-Signature=g&a=1#frag')).toBe(
      'http://h/p?sig=REDACTED&X-Goog-Signature=REDACTED&a=1#frag',
    );
  });

  it('returns the very same string when there is nothing to redact', () => {
    const url = 'http://h/p?page=1&q=cats';
    expect(redact(url)).toBe(url);
    expect(redact('http://h/p')).toBe('http://h/p');
    expect(redact('http://h/p?flag&api_key')).toBe('http://h/p?flag&api_key');
  });

  it('judges percent-encoded names decoded', () => {
    expect(redact('http://h/p?api%5Fkey=abc')).toBe('http://h/p?api%5Fkey=REDACTED');
  });
});

describe('createPathMatcher', () => {
  it('matches exact paths and prefixes ending in *, and is absent for an empty list', () => {
    const match = createPathMatcher(['/healthz', '/internal/*'])!;
    expect(match('/healthz')).toBe(true);
    expect(match('/healthz/x')).toBe(false);
    expect(match('/internal/ready')).toBe(true);
    expect(match('/internal')).toBe(false);
    expect(match('/users')).toBe(false);
    expect(createPathMatcher([])).toBeUndefined();
    expect(createPathMatcher(undefined)).toBeUndefined();
  });
});
