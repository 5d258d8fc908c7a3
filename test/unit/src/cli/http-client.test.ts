import { describe, expect, it } from 'vitest';
import { RequestFailed, classify, describeFailure } from '../../../../src/cli/http-client.js';

const err = (code: string) => Object.assign(new Error(code), { code });

describe('classify', () => {
  it('tells the failures doctor explains apart', () => {
    expect(classify(err('ECONNREFUSED'))).toBe('refused');
    expect(classify(err('ENOTFOUND'))).toBe('dns');
    expect(classify(err('EAI_AGAIN'))).toBe('dns');
    expect(classify(err('ECONNRESET'))).toBe('reset');
    expect(classify(err('HPE_INVALID_CONSTANT'))).toBe('reset');
    expect(classify(err('ETIMEDOUT'))).toBe('timeout');
    expect(classify(err('EPROTO'))).toBe('other');
  });
});

describe('describeFailure', () => {
  it('names the host and what happened in one line', () => {
    expect(
      describeFailure(
        new RequestFailed(
          'dns',
          'http://prometheus.internal:9090/x',
          'ENOTFOUND',
          'getaddrinfo ENOTFOUND',
        ),
        'cannot query',
      ),
    ).toBe('cannot query: the host name prometheus.internal does not resolve (ENOTFOUND)');
    expect(
      describeFailure(
        new RequestFailed('refused', 'http://127.0.0.1:1/', 'ECONNREFUSED', 'x'),
        'cannot read',
      ),
    ).toBe('cannot read: nothing is listening on 127.0.0.1:1 (connection refused)');
    expect(describeFailure(new Error('boom'), 'load')).toBe('load: boom');
  });
});
