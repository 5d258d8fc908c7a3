import { DEFAULT_REDACT_KEYS, DIAG_LEVELS } from './config-names.js';
import {
  bool,
  bytes,
  fileName,
  inCwd,
  int,
  list,
  logLevel,
  namedPaths,
  oneOf,
  path,
  string,
} from './config-parsers.js';
import { row, type Setting } from './config-setting.js';

/** Schema rows: local logging (with the config.yaml keys), disk I/O and directories, the rest. */

function fileSafe(name: string): string | undefined {
  const s = name
    .replace(/^@/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s === '' || name.startsWith('unknown_service') ? undefined : s;
}

export const LOCAL_ROWS: readonly Setting[] = [
  // --- logs
  row({
    key: 'logs.level',
    env: ['ECHOES_LOG_LEVEL'],
    yaml: 'level',
    type: logLevel,
    default: (r) => (r.get<boolean>('production') ? 'warn' : 'info'),
    shownDefault: '`warn` in production, else `info`',
    doc: 'Logger level: `error`, `warn`, `info`, `http`, `verbose`, `debug`, `silly` (Python names such as `WARNING` accepted).',
    group: 'logs',
  }),
  row<string>({
    key: '_yaml.format',
    yaml: 'format',
    type: {
      accepts: '`json`',
      parse(raw, cx) {
        const s = String(raw);
        if (s.toLowerCase() !== 'json')
          cx.note(
            'is a text format; echoes-otel always writes JSON lines (one object per record)',
            'JSON lines',
            'warning',
          );
        return s;
      },
    },
    default: 'json',
    doc: 'Noted with a warning unless `json`: files and OTLP records are always JSON lines.',
    group: 'logs',
  }),
  row<unknown>({
    key: '_yaml.richFormatting',
    yaml: 'rich_formatting',
    type: { accepts: 'anything', parse: (raw) => raw },
    default: undefined,
    shownDefault: '(ignored)',
    doc: "Accepted and ignored (the audit's setting for Python's `rich` console handler).",
    group: 'logs',
  }),
  row<string>({
    key: 'logs.file.dir',
    env: ['ECHOES_LOG_DIR'],
    type: path,
    default: (r) => inCwd(r.cwd, 'logs'),
    shownDefault: './logs',
    doc: 'Directory of the rotated JSON log files.',
    group: 'logs',
  }),
  row<string>({
    key: 'logs.file.name',
    env: ['ECHOES_LOG_FILE_NAME'],
    type: fileName,
    default: (r) => fileSafe(r.get('serviceName')) ?? 'app',
    shownDefault: 'service name (file-safe), else `app`',
    doc: 'Base name of the log files (`<name>-YYYY-MM-DD.log`).',
    group: 'logs',
  }),
  row<boolean>({
    key: 'logs.file.enabled',
    env: ['ECHOES_LOG_FILE'],
    type: bool,
    default: true,
    doc: '`off` disables the local log files.',
    group: 'logs',
  }),
  row<number>({
    key: 'logs.file.maxBytes',
    env: ['ECHOES_LOG_MAX_BYTES'],
    yaml: 'file_rotation.max_bytes',
    type: bytes(1024),
    default: 10 * 1024 * 1024,
    doc: 'Rotate the log file at this size (bytes; `k`, `m`, `g` suffixes accepted).',
    group: 'logs',
  }),
  row<number>({
    key: 'logs.file.backupCount',
    env: ['ECHOES_LOG_BACKUP_COUNT'],
    yaml: 'file_rotation.backup_count',
    type: int(0, 1000),
    default: 5,
    doc: 'Rotated files kept besides the active one.',
    group: 'logs',
  }),
  row<boolean>({
    key: 'logs.file.gzip',
    env: ['ECHOES_LOG_GZIP'],
    type: bool,
    default: true,
    doc: 'Gzip rotated log files.',
    group: 'logs',
  }),
  row<boolean>({
    key: 'logs.console',
    env: ['ECHOES_LOG_CONSOLE'],
    yaml: 'console_output',
    type: bool,
    default: (r) => !r.get<boolean>('production'),
    shownDefault: 'on, off in production',
    doc: 'Also write log lines to stdout.',
    group: 'logs',
  }),
  row<number>({
    key: 'logs.maxMessageBytes',
    env: ['ECHOES_LOG_MAX_MESSAGE_BYTES'],
    type: bytes(256),
    default: 65_536,
    doc: 'Longer messages are truncated and counted in `echoes.log.dropped`.',
    group: 'logs',
  }),
  // --- disk I/O and directories
  row({
    key: 'fs.pathGroups',
    env: ['ECHOES_FS_PATH_GROUPS'],
    type: namedPaths('prefix', false),
    // Neutral: only the paths the library itself uses (its log files, its config/config.yaml);
    // an app names its own directories (the reference service does, src/service/options.ts).
    default: (r) => [
      { name: 'logs', prefix: r.get<string>('logs.file.dir') },
      { name: 'config', prefix: inCwd(r.cwd, 'config') },
    ],
    shownDefault: 'logs=<log dir>,config=config',
    doc: '`name=prefix,...`: the `fs.path.group` of each path prefix (others are `other`).',
    group: 'fs',
  }),
  row<boolean>({
    key: 'fs.spans',
    env: ['ECHOES_FS_SPANS'],
    type: bool,
    default: false,
    doc: 'Also create spans for fs calls made inside a traced request.',
    group: 'fs',
  }),
  row({
    key: 'dirs.watched',
    env: ['ECHOES_DIRS'],
    type: namedPaths('path', true),
    // Neutral: the one directory the library writes (see docs/configuration.md for why no more).
    default: (r) => [{ name: 'logs', path: r.get<string>('logs.file.dir') }],
    shownDefault: 'logs=<log dir>',
    doc: '`name=path,...`: directories whose size and file count are reported; `none` turns this off.',
    group: 'fs',
  }),
  row<boolean>({
    key: 'dirs.enabled',
    type: bool,
    default: (r) => r.get<unknown[]>('dirs.watched').length > 0,
    shownDefault: 'on when a directory is watched',
    doc: 'The directory-size monitor.',
    group: 'fs',
    from: ['dirs.watched'],
  }),
  row<number>({
    key: 'dirs.intervalMs',
    env: ['ECHOES_DIR_INTERVAL_MS'],
    type: int(100, 86_400_000, 'ms'),
    default: 30_000,
    doc: 'Milliseconds between directory scans.',
    group: 'fs',
  }),
  row<number>({
    key: 'dirs.maxEntriesPerTick',
    env: ['ECHOES_DIR_MAX_ENTRIES'],
    type: int(1, 100_000_000),
    default: 10_000,
    doc: 'Most directory entries visited per scan.',
    group: 'fs',
  }),
  // --- shutdown, redaction, diagnostics, config file
  row<string | undefined>({
    key: '_diagLogLevel',
    env: ['OTEL_LOG_LEVEL'],
    type: oneOf(DIAG_LEVELS),
    default: undefined,
    fallbackText: 'warn',
    shownDefault: 'warn',
    doc: "Level of OTel's own diagnostics on stderr: `none`, `error`, `warn`, `info`, `debug`, `verbose`, `all`.",
    group: 'misc',
  }),
  row<string>({
    key: '_configFile',
    env: ['ECHOES_CONFIG_FILE'],
    type: string,
    default: 'config/config.yaml',
    doc: 'YAML file whose `logging:` section is honoured (relative to the working directory).',
    group: 'misc',
  }),
  row<number>({
    key: 'otlpRetryBuffer',
    env: ['ECHOES_OTLP_RETRY_BUFFER'],
    type: int(0, 1_000_000),
    default: 4096,
    doc: 'Log records, and spans, held per signal for a resend when an OTLP export fails after its retries (collector restarting); the oldest past it are dropped and counted. 0 turns this off.',
    group: 'misc',
  }),
  row<number>({
    key: 'shutdownTimeoutMs',
    env: ['ECHOES_SHUTDOWN_TIMEOUT_MS'],
    type: int(0, 600_000, 'ms'),
    default: 2000,
    doc: 'Deadline for flushing traces, metrics, logs and log files at exit.',
    group: 'misc',
  }),
  row<string[]>({
    key: 'redaction.keys',
    env: ['ECHOES_REDACT_KEYS'],
    type: list('comma list of keys (case-insensitive)', (k) => k.toLowerCase()),
    default: [...DEFAULT_REDACT_KEYS],
    // The environment adds to the built-in list; a list in code replaces it.
    combine: (below, v, layer) => (layer === 'code' ? v : [...new Set([...below, ...v])]),
    shownDefault: '(none; added to the built-in list)',
    doc: 'Extra attribute/metadata keys to redact, comma-separated.',
    group: 'misc',
  }),
];
