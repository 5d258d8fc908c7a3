import { EXPORT_ROWS } from './config-rows-export.js';
import { LOCAL_ROWS } from './config-rows-local.js';
import { RESOURCE_ROWS, SWITCH_ROWS } from './config-rows-switches.js';
import type { Merged, Setting } from './config-setting.js';

/**
 * The configuration schema: every row (config-rows-*.ts, one per setting; the row's shape is in
 * config-setting.ts) in the docs' order, and the adjustments between settings that run once after
 * every source is merged.
 */

export {
  DOC_GROUPS,
  OTLP_GRPC_DEFAULT,
  OTLP_HTTP_DEFAULT,
  shownDefaultOf,
  signalUrl,
  type DocGroup,
  type EnvEntry,
  type Merged,
  type Resolver,
  type Setting,
  type Signal,
} from './config-setting.js';

export const SETTINGS: readonly Setting[] = [
  ...SWITCH_ROWS,
  ...RESOURCE_ROWS,
  ...EXPORT_ROWS,
  ...LOCAL_ROWS,
];

export const AFTER_MERGE: ReadonlyArray<(m: Merged) => void> = [
  // The periodic reader rejects a timeout longer than its interval: cap it, and say so when the
  // timeout was set (a default timeout under a short interval is simply capped).
  (m) => {
    const interval = m.get<number>('metrics.exportIntervalMs');
    const timeout = m.get<number>('metrics.exportTimeoutMs');
    if (timeout <= interval) return;
    const source = m.sourceOf('metrics.exportTimeoutMs');
    if (source !== undefined)
      m.warn(
        source,
        String(timeout),
        String(interval),
        `is longer than the metric export interval (${interval} ms)`,
      );
    m.set('metrics.exportTimeoutMs', interval);
  },
];
