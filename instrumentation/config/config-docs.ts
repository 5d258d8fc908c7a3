import { DEFAULT_REDACT_KEYS } from './config-names.js';
import {
  DOC_GROUPS,
  SETTINGS,
  shownDefaultOf,
  type DocGroup,
  type Setting,
} from './config-schema.js';
import { ENV_VARIABLES } from './config.js';

/**
 * The configuration docs, generated from the schema: the README variable table and the tables of
 * docs/configuration.md (`npm run config-docs` writes them; a unit test fails when the committed
 * files differ). Only the tables are generated: the prose around them is the docs' own. Not
 * loaded at run time.
 */

type Cell = string;

/** A markdown table laid out as prettier lays it out (padded columns), so `prettier --check` holds. */
export function markdownTable(header: readonly Cell[], rows: readonly (readonly Cell[])[]): string {
  const esc = (c: Cell): string => c.replace(/\|/g, '\\|');
  const all = [header, ...rows].map((r) => r.map(esc));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly Cell[]): string =>
    `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const [head, ...body] = all;
  return [line(head!), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const code = (s: string): string => `\`${s}\``;
const envOf = (s: Setting): string[] =>
  (s.env ?? []).map((e) => (typeof e === 'string' ? e : e.name));
const defaultOf = (s: Setting): string => shownDefaultOf(s);

/** README: every variable, its default and meaning. */
export function envTable(): string {
  return markdownTable(
    ['Variable', 'Default', 'Meaning'],
    ENV_VARIABLES.map((v) => [code(v.name), v.default, v.description]),
  );
}

/** docs/configuration.md: one section's variables, with the values each accepts. */
export function groupTable(group: DocGroup): string {
  const rows: Cell[][] = [];
  for (const s of SETTINGS.filter((r) => r.group === group)) {
    for (const e of s.env ?? []) {
      const entry = typeof e === 'string' ? { name: e } : e;
      rows.push([code(entry.name), shownDefaultOf(s, entry), s.type.accepts, entry.doc ?? s.doc]);
    }
  }
  return markdownTable(['Variable', 'Default', 'Accepts', 'Meaning'], rows);
}

/** docs/configuration.md: the `logging:` keys of config.yaml and the rows they feed. */
export function yamlTable(): string {
  return markdownTable(
    ['`logging:` key', 'Same as', 'Accepts', 'Meaning'],
    SETTINGS.filter((s) => s.yaml !== undefined).map((s) => [
      code(s.yaml!),
      envOf(s).map(code).join(', ') || '—',
      s.type.accepts,
      s.doc,
    ]),
  );
}

/** docs/configuration.md: every field of `EchoesConfig`, settable in code, and where else it comes from. */
export function optionsTable(): string {
  const byKey = new Map(SETTINGS.map((s) => [s.key, s]));
  const rows = SETTINGS.filter((s) => !s.key.startsWith('_')).map((s) => {
    const vars = [s, ...(s.from ?? []).map((k) => byKey.get(k)!)].flatMap(envOf);
    const from = [...vars.map(code), ...(s.yaml ? [`\`logging.${s.yaml}\``] : [])];
    return [code(s.key), from.join(', ') || '(code only)', s.type.accepts, defaultOf(s)];
  });
  return markdownTable(['Option', 'Also from', 'Accepts', 'Default'], rows);
}

export function redactKeysLine(): string {
  return DEFAULT_REDACT_KEYS.map(code).join(', ');
}

/** Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` (kept) with `body`. */
export function splice(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`markers ${start} … ${end} not found`);
  return `${text.slice(0, i + start.length)}\n\n${body}\n\n${text.slice(j)}`;
}

/** Replaces the first table inside the marked block, keeping the prose around it. */
export function spliceTable(text: string, name: string, table: string): string {
  const start = text.indexOf(`<!-- ${name}:start -->`);
  const end = text.indexOf(`<!-- ${name}:end -->`);
  if (start < 0 || end < start) throw new Error(`markers of ${name} not found`);
  const block = text.slice(start, end);
  const lines = block.split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  if (first < 0) throw new Error(`no table between the ${name} markers`);
  let last = first;
  while (lines[last + 1]?.startsWith('|')) last++;
  const out = [...lines.slice(0, first), table, ...lines.slice(last + 1)].join('\n');
  return text.slice(0, start) + out + text.slice(end);
}

/** The README with its variable table regenerated. */
export function renderReadme(readme: string): string {
  return spliceTable(readme, 'env-table', envTable());
}

/** docs/configuration.md with every generated table regenerated. */
export function renderConfigurationDoc(doc: string): string {
  let out = doc;
  for (const g of DOC_GROUPS) out = splice(out, `config-table:${g.id}`, groupTable(g.id));
  out = splice(out, 'config-table:yaml', yamlTable());
  out = splice(out, 'config-table:options', optionsTable());
  return out.replace(
    /(<!-- config:redact-keys -->)[^\n]*?(<!-- \/config:redact-keys -->)/,
    `$1${redactKeysLine()}$2`,
  );
}
