import dc from 'node:diagnostics_channel';
import { diag } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import type { Attributes } from '@opentelemetry/api';
import { createFastMetrics } from '../../../../instrumentation/signals/fast-metrics.js';
import {
  ClientSlots,
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

describe('ClientSlots', () => {
  function slots() {
    const fm = createFastMetrics({ cardinalityLimit: 2000 });
    const histogram = fm.histogram('http.client.request.duration', {
      unit: 's',
      description: 'd',
      boundaries: [1],
    });
    const bind = vi.spyOn(histogram, 'bind');
    return { slots: new ClientSlots(histogram), bind };
  }

  it('binds each method, peer, status and error type once and hands back the same slot after', () => {
    const { slots: s, bind } = slots();
    const ok = s.get('GET', 'api.example', 443, 200, undefined);
    expect(s.get('GET', 'api.example', 443, 200, undefined)).toBe(ok);
    // Each part of the combination tells slots apart, an absent error type included.
    const others = [
      s.get('POST', 'api.example', 443, 200, undefined),
      s.get('GET', 'db.example', 443, 200, undefined),
      s.get('GET', 'api.example', 8443, 200, undefined),
      s.get('GET', 'api.example', 443, 404, '404'),
      s.get('GET', 'api.example', 443, 0, 'ECONNREFUSED'),
      s.get('GET', 'api.example', 443, 0, 'aborted'),
    ];
    expect(new Set([ok, ...others]).size).toBe(7);
    expect(s.get('GET', 'api.example', 443, 404, String(404))).toBe(others[3]);
    expect(bind).toHaveBeenCalledTimes(7);
    expect(bind.mock.calls.map(([a]) => a as Attributes)).toContainEqual({
      'http.request.method': 'GET',
      'server.address': 'api.example',
      'server.port': 443,
      'error.type': 'ECONNREFUSED',
    });
    expect(bind.mock.calls[0]![0]).toEqual({
      'http.request.method': 'GET',
      'server.address': 'api.example',
      'server.port': 443,
      'http.response.status_code': 200,
    });
  });
});
