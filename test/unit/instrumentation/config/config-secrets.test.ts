import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_REDACT_KEYS, loadConfig } from '../../../../instrumentation/config/config.js';
import { createRedactor, REDACTED } from '../../../../instrumentation/redact.js';
import { isSecretKey, maskSecrets } from '../../../../src/cli/check-config.js';

const root = join(import.meta.dirname, '../../../..');

/** The collector's blocked_key_patterns as JavaScript regexps (RE2 `(?i)` and `$$` escapes undone). */
function collectorKeyPatterns(): RegExp[] {
  const config = parse(readFileSync(join(root, 'collector/config.yaml'), 'utf8')) as {
    processors: { redaction: { blocked_key_patterns: string[] } };
  };
  return config.processors.redaction.blocked_key_patterns.map((p) => {
    const i = p.startsWith('(?i)');
    return new RegExp((i ? p.slice(4) : p).replace(/\$\$/g, '$'), i ? 'i' : '');
  });
}

describe('the secret-key list (DEFAULT_REDACT_KEYS, the one list)', () => {
  it('is the default redaction list of the config', () => {
    const { config } = loadConfig({}, { env: {}, cwd: root });
    expect(config.redaction.keys).toEqual(DEFAULT_REDACT_KEYS);
  });

  it('is redacted by the SDK redactor, under its own name and with a prefix', () => {
    const r = createRedactor(DEFAULT_REDACT_KEYS);
    for (const k of DEFAULT_REDACT_KEYS) {
      expect(r.redactAttributes({ [k]: 'v' })[k], k).toBe(REDACTED);
      expect(r.redactAttributes({ [`http.${k}`]: 'v' })[`http.${k}`], k).toBe(REDACTED);
    }
  });

  it('is masked by check-config', () => {
    for (const k of DEFAULT_REDACT_KEYS) {
      expect(isSecretKey(k), k).toBe(true);
      expect(maskSecrets({ [k]: 'v' }), k).toEqual({ [k]: '****' });
    }
  });

  it("is covered by the collector's redaction processor (defence in depth)", () => {
    const patterns = collectorKeyPatterns();
    expect(patterns.length).toBeGreaterThan(0);
    for (const k of DEFAULT_REDACT_KEYS) {
      for (const key of [k, `app.${k}`])
        expect(
          patterns.some((p) => p.test(key)),
          `collector misses ${key}`,
        ).toBe(true);
    }
  });
});
