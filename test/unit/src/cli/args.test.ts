import { describe, expect, it } from 'vitest';
import {
  UsageError,
  joinUrl,
  parseCommand,
  parseDuration,
  parseHttpUrl,
  parsePositive,
} from '../../../../src/cli/args.js';

describe('parseDuration', () => {
  it('reads units and plain seconds', () => {
    expect(parseDuration('500ms', '--d')).toBe(500);
    expect(parseDuration('30s', '--d')).toBe(30_000);
    expect(parseDuration('2m', '--d')).toBe(120_000);
    expect(parseDuration('1.5h', '--d')).toBe(5_400_000);
    expect(parseDuration('10', '--d')).toBe(10_000);
  });
  it.each(['', 'abc', '-5s', '5 parsecs', '1e3', 'NaN'])(
    'rejects %j with a message naming the flag',
    (raw) => {
      expect(() => parseDuration(raw, '--duration')).toThrow(UsageError);
      expect(() => parseDuration(raw, '--duration')).toThrow(/--duration/);
    },
  );
  it('enforces its bounds', () => {
    expect(() => parseDuration('0s', '--d')).toThrow(/out of range/);
    expect(() => parseDuration('2d', '--d', { maxMs: 86_400_000 })).toThrow(
      /out of range \(1ms to 1d\)/,
    );
  });
});

describe('parsePositive', () => {
  it('accepts numbers in range', () => {
    expect(parsePositive('20', '--rate', 100)).toBe(20);
    expect(parsePositive('0.5', '--rate', 100)).toBe(0.5);
  });
  it.each(['0', '-1', 'fast', '', '1e9', 'Infinity'])('rejects %j', (raw) => {
    expect(() => parsePositive(raw, '--rate', 10_000)).toThrow(UsageError);
  });
  it('rejects fractions where a whole number is needed', () => {
    expect(() => parsePositive('2.5', '--sessions', 100, true)).toThrow(/whole number/);
  });
});

describe('parseHttpUrl', () => {
  it('accepts http and https and drops a trailing slash', () => {
    expect(parseHttpUrl('http://127.0.0.1:9090/', '--p').href).toBe('http://127.0.0.1:9090/');
    expect(parseHttpUrl('https://x.example/prom/', '--p').pathname).toBe('/prom');
  });
  it.each(['not a url', 'ftp://host', 'localhost:9090', '', 'file:///etc/passwd'])(
    'rejects %j',
    (raw) => {
      expect(() => parseHttpUrl(raw, '--prometheus')).toThrow(UsageError);
    },
  );
  it('joins paths under a prefix', () => {
    expect(joinUrl(parseHttpUrl('http://h:1/prom', '--p'), '/api/v1/query').href).toBe(
      'http://h:1/prom/api/v1/query',
    );
  });
});

describe('parseCommand', () => {
  const opts = { rate: { type: 'string' as const } };
  it('returns the flags', () => {
    expect(parseCommand(['--rate', '5'], opts)).toEqual({ rate: '5' });
  });
  it('turns unknown flags and stray arguments into one-line usage errors', () => {
    expect(() => parseCommand(['--nope'], opts)).toThrow(/^Unknown option '--nope'$/);
    expect(() => parseCommand(['extra'], opts)).toThrow(/unexpected argument "extra"/);
    expect(() => parseCommand(['--rate'], opts)).toThrow(UsageError);
  });
  it('takes -h and --help on every command', () => {
    expect(parseCommand(['-h'], opts)).toEqual({ help: true });
    expect(parseCommand(['--help'], opts)).toEqual({ help: true });
  });
  it('hands a negative number to the option, so the range check can refuse it', () => {
    expect(parseCommand(['--rate', '-1'], opts)).toEqual({ rate: '-1' });
    expect(parseCommand(['--rate', '-.5'], opts)).toEqual({ rate: '-.5' });
    // Anything else that starts with a dash is still an option.
    expect(() => parseCommand(['--rate', '--nope'], opts)).toThrow(UsageError);
  });
});
