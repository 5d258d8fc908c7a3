import { describe, expect, it } from 'vitest';
import {
  describeSql,
  redisQueryText,
  sanitizeSql,
  summarizeSql,
} from '../../../../instrumentation/signals/db-query.js';

describe('sanitizeSql', () => {
  it.each([
    [
      "SELECT * FROM users WHERE name = 'alice' AND id = 42",
      'SELECT * FROM users WHERE name = ? AND id = ?',
    ],
    ["INSERT INTO t (a, b) VALUES ('it''s', -3.5e2)", 'INSERT INTO t (a, b) VALUES (?, -?)'],
    ['SELECT * FROM t WHERE id = $1 AND flag = TRUE', 'SELECT * FROM t WHERE id = $1 AND flag = ?'],
    [
      'UPDATE "Users" SET x = 0x1F WHERE t1.col_2 = .5',
      'UPDATE "Users" SET x = ? WHERE t1.col_2 = ?',
    ],
    ['SELECT $body$ secret text $body$, $$ more $$ FROM t', 'SELECT ?, ? FROM t'],
    ["SELECT 1 -- password 'hunter2'\nFROM t /* card 4111 */", 'SELECT ? FROM t'],
    ["SELECT E'esc\\'aped' FROM t", 'SELECT E? FROM t'],
    [
      'SELECT `weird col` FROM `db`.`t` WHERE a IN (1, 2, 3)',
      'SELECT `weird col` FROM `db`.`t` WHERE a IN (?, ?, ?)',
    ],
  ])('masks the literals of %j', (sql, want) => {
    expect(sanitizeSql(sql)).toBe(want);
  });

  it('never throws on unterminated strings, comments or quotes', () => {
    for (const sql of ["SELECT 'open", 'SELECT /* open', 'SELECT "open', 'SELECT $a$ open', '']) {
      expect(() => sanitizeSql(sql)).not.toThrow();
      expect(sanitizeSql(sql)).not.toContain('open ');
    }
  });
});

describe('summarizeSql', () => {
  it.each([
    ['SELECT a FROM public.items i JOIN b ON true', 'SELECT', 'public.items'],
    ['insert into "Orders" (id) values (?)', 'INSERT', 'Orders'],
    ['UPDATE ONLY accounts SET x = ?', 'UPDATE', 'accounts'],
    ['DELETE FROM sessions WHERE id = ?', 'DELETE', 'sessions'],
    ['CREATE TABLE IF NOT EXISTS items (id int)', 'CREATE', 'items'],
    ['BEGIN', 'BEGIN', undefined],
    ['(SELECT 1)', 'SELECT', undefined],
  ])('reads %j as %s on %s', (sql, operation, collection) => {
    expect(summarizeSql(sql)).toEqual({ operation, collection });
  });

  it('has no operation for empty text', () => {
    expect(summarizeSql('  ')).toEqual({ operation: undefined, collection: undefined });
  });
});

describe('redisQueryText', () => {
  it('keeps the command and the key, and replaces every value with ?', () => {
    expect(redisQueryText('set', ['session:1', 'secret', 'EX', '60'])).toBe('SET session:1 ? ? ?');
    expect(redisQueryText('get', ['k'])).toBe('GET k');
    expect(redisQueryText('ping', [])).toBe('PING');
  });

  it('keeps no argument of commands whose first argument is a secret or a script', () => {
    expect(redisQueryText('auth', ['user', 'p4ss'])).toBe('AUTH ? ?');
    expect(redisQueryText('EVAL', ["return redis.call('get', 'x')", '0'])).toBe('EVAL ? ?');
  });
});

describe('describeSql', () => {
  it('sanitizes and summarizes once per distinct statement', () => {
    const a = describeSql("SELECT * FROM t WHERE x = 'secret'");
    expect(a).toEqual({
      text: 'SELECT * FROM t WHERE x = ?',
      operation: 'SELECT',
      collection: 't',
    });
    expect(describeSql("SELECT * FROM t WHERE x = 'secret'")).toBe(a);
  });

  it('describes long statements too, without keeping them', () => {
    const long = `INSERT INTO big (v) VALUES ${Array.from({ length: 600 }, (_, i) => `(${i})`).join(', ')}`;
    const d = describeSql(long);
    expect(d.operation).toBe('INSERT');
    expect(d.collection).toBe('big');
    expect(d.text).not.toMatch(/\d/);
    expect(describeSql(long)).not.toBe(d);
  });
});
