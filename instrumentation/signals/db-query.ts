/**
 * Query text for database spans under the stable conventions: `db.query.text` without literal
 * values (strings, numbers, hex and boolean literals become `?`; `$1` placeholders stay), and the
 * `db.operation.name` / `db.collection.name` read from it. A tokenizer, not a parser: it is run
 * once per query on the client's hot path, so it scans the text once and allocates one string.
 */

/** SQL text with every literal value replaced by `?`; comments dropped. Never throws. */
export function sanitizeSql(sql: string): string {
  let out = '';
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // '...' string (with '' escapes), E'...' and N'...' prefixes are handled by the identifier
    // branch ending right before the quote.
    if (c === 39 /* ' */) {
      i++;
      while (i < n) {
        if (sql.charCodeAt(i) === 39) {
          if (sql.charCodeAt(i + 1) === 39) {
            i += 2;
            continue;
          }
          break;
        }
        if (sql.charCodeAt(i) === 92 /* \ */) i++;
        i++;
      }
      i++;
      out += '?';
      continue;
    }
    // Dollar-quoted string $tag$...$tag$ (Postgres); `$1` is a placeholder, kept.
    if (c === 36 /* $ */) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m !== null) {
        const end = sql.indexOf(m[0], i + m[0].length);
        i = end === -1 ? n : end + m[0].length;
        out += '?';
        continue;
      }
      let j = i + 1;
      while (j < n && isDigit(sql.charCodeAt(j))) j++;
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    // "quoted identifier" or `quoted identifier`: names, kept.
    if (c === 34 /* " */ || c === 96 /* ` */) {
      const end = sql.indexOf(String.fromCharCode(c), i + 1);
      const stop = end === -1 ? n : end + 1;
      out += sql.slice(i, stop);
      i = stop;
      continue;
    }
    // -- line comment and /* block comment */: dropped (they can hold values too).
    if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end;
      continue;
    }
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
      continue;
    }
    // Identifiers and keywords (may contain digits: t1, col_2); TRUE/FALSE are values.
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j);
      const upper = word.length <= 5 ? word.toUpperCase() : '';
      out += upper === 'TRUE' || upper === 'FALSE' ? '?' : word;
      i = j;
      continue;
    }
    // Numbers: 42, 3.14, .5, 1e-3, 0x1F.
    if (isDigit(c) || (c === 46 /* . */ && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1;
      if (c === 48 && (sql.charCodeAt(j) === 120 || sql.charCodeAt(j) === 88)) {
        j++;
        while (j < n && isHex(sql.charCodeAt(j))) j++;
      } else {
        while (j < n) {
          const d = sql.charCodeAt(j);
          if (isDigit(d) || d === 46) j++;
          else if ((d === 101 || d === 69) && /[-+\d]/.test(sql[j + 1] ?? '')) j += 2;
          else break;
        }
      }
      out += '?';
      i = j;
      continue;
    }
    out += sql[i];
    i++;
  }
  return out.replace(/\s+/g, ' ').trim();
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}
function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === 36;
}

export interface SqlSummary {
  /** `SELECT`, `INSERT`, ... (upper case), or undefined for empty text. */
  readonly operation: string | undefined;
  /** The first table the statement names (`FROM`, `INTO`, `UPDATE`, `JOIN`, `TABLE`), if any. */
  readonly collection: string | undefined;
}

const NAME = String.raw`((?:"[^"]+"|\x60[^\x60]+\x60|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|\x60[^\x60]+\x60|[A-Za-z_][\w$]*))*)`;
const TABLE_AFTER: Record<string, RegExp> = {
  SELECT: new RegExp(String.raw`\bFROM\s+${NAME}`, 'i'),
  DELETE: new RegExp(String.raw`\bFROM\s+${NAME}`, 'i'),
  INSERT: new RegExp(String.raw`\bINTO\s+${NAME}`, 'i'),
  REPLACE: new RegExp(String.raw`\bINTO\s+${NAME}`, 'i'),
  UPDATE: new RegExp(String.raw`^\s*UPDATE\s+(?:ONLY\s+)?${NAME}`, 'i'),
  TRUNCATE: new RegExp(String.raw`^\s*TRUNCATE\s+(?:TABLE\s+)?${NAME}`, 'i'),
  CREATE: new RegExp(String.raw`\bTABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?${NAME}`, 'i'),
  DROP: new RegExp(String.raw`\bTABLE\s+(?:IF\s+EXISTS\s+)?${NAME}`, 'i'),
  ALTER: new RegExp(String.raw`\bTABLE\s+(?:IF\s+EXISTS\s+)?${NAME}`, 'i'),
};

/** Operation and first table of a (sanitized or raw) SQL statement. */
export function summarizeSql(sql: string): SqlSummary {
  const m = /^\s*(?:\(\s*)*([A-Za-z]+)/.exec(sql);
  if (m === null) return { operation: undefined, collection: undefined };
  const operation = m[1]!.toUpperCase();
  const re = TABLE_AFTER[operation];
  const t = re?.exec(sql)?.[1];
  return { operation, collection: t === undefined ? undefined : unquote(t) };
}

function unquote(name: string): string {
  return name.replace(/["`]/g, '');
}

/** Commands whose first argument is a secret, a script or a setting, not a key: none kept. */
const NO_KEY = new Set(['AUTH', 'HELLO', 'ACL', 'CONFIG', 'EVAL', 'EVALSHA', 'FCALL', 'MIGRATE']);
/** Upper-case name and whether its key is kept, per command name as the client spells it. */
const commands = new Map<string, { readonly name: string; readonly keepKey: boolean }>();

/** `SET key ? ?`: a Redis command with its first argument (the key) and no values. */
export function redisQueryText(command: string, args: readonly unknown[] | undefined): string {
  // Called once per command on the client's hot path: the name's spelling is looked up, not
  // upper-cased and matched each time (clients use a few dozen command names).
  let c = commands.get(command);
  if (c === undefined) {
    const name = command.toUpperCase();
    c = { name, keepKey: !NO_KEY.has(name) };
    if (commands.size < 1024) commands.set(command, c);
  }
  if (args === undefined || args.length === 0) return c.name;
  const key = args[0];
  // Keys are names, not values; AUTH/HELLO/ACL/CONFIG arguments are secrets or settings: none kept.
  const first =
    c.keepKey && (typeof key === 'string' || typeof key === 'number') ? String(key) : '?';
  return args.length === 1
    ? `${c.name} ${first}`
    : `${c.name} ${first}${' ?'.repeat(args.length - 1)}`;
}

export interface SqlDescription extends SqlSummary {
  /** The sanitized text (`sanitizeSql`). */
  readonly text: string;
}

/** Most distinct statements remembered; apps mostly repeat a bounded set of parametrized texts. */
const MAX_CACHED = 512;
/** Longer statements (bulk inserts) are described each time rather than kept. */
const MAX_CACHED_CHARS = 2048;
const described = new Map<string, SqlDescription>();

/**
 * `sanitizeSql` and `summarizeSql` of one statement, remembered per text: a client repeats its
 * statements, and the tokenizer costs about 6 µs on a short SELECT where the lookup costs 0.1.
 */
export function describeSql(sql: string): SqlDescription {
  const hit = described.get(sql);
  if (hit !== undefined) return hit;
  const text = sanitizeSql(sql);
  const d: SqlDescription = { text, ...summarizeSql(text) };
  if (sql.length <= MAX_CACHED_CHARS) {
    // Full: start over rather than track recency (a cache miss only costs the tokenizer).
    if (described.size >= MAX_CACHED) described.clear();
    described.set(sql, d);
  }
  return d;
}
