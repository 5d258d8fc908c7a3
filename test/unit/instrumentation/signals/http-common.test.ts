import dc from 'node:diagnostics_channel';
import { diag } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import {
  createPathMatcher,
  createUrlRedactor,
  subscribeChannels,
  warnHookFailedOnce,
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

describe('subscribeChannels', () => {
  it('delivers each channel to its subscriber until the undo, which may run twice', () => {
    const seen: string[] = [];
    const undo = subscribeChannels([
      ['echoes.test.channel.a', (m) => seen.push(`a:${String(m)}`)],
      ['echoes.test.channel.b', (m) => seen.push(`b:${String(m)}`)],
    ]);
    dc.channel('echoes.test.channel.a').publish(1);
    dc.channel('echoes.test.channel.b').publish(2);
    undo();
    expect(() => undo()).not.toThrow();
    dc.channel('echoes.test.channel.a').publish(3);
    expect(seen).toEqual(['a:1', 'b:2']);
    expect(dc.hasSubscribers('echoes.test.channel.a')).toBe(false);
  });
});

describe('warnHookFailedOnce', () => {
  it('warns once, naming the feature and passing the error, however often the hook fails', () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    try {
      const failed = warnHookFailedOnce('HTTP');
      const err = new Error('boom');
      failed(err);
      failed(new Error('again'));
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith(
        'echoes-otel: HTTP instrumentation hook failed; this request is not traced',
        err,
      );
    } finally {
      warn.mockRestore();
    }
  });
});
