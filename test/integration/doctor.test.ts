import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/cli/doctor.js';
import { BINARIES, startAlertmanager, type AlertmanagerHandle } from '../helpers/backends.js';

/**
 * doctor's Alertmanager check against the real Alertmanager (built from its Go module by
 * scripts/backends.mjs, with the shipped alertmanager/alertmanager.yml): the fakes in
 * test/unit/src/cli/doctor.test.ts copy these answers.
 */

const skip = existsSync(BINARIES.alertmanager)
  ? undefined
  : 'not built: alertmanager (run: node scripts/backends.mjs ensure)';

describe.skipIf(skip)(
  `echoes-otel doctor (real Alertmanager)${skip ? `: skipped, ${skip}` : ''}`,
  () => {
    let am: AlertmanagerHandle | undefined;
    beforeAll(async () => {
      am = await startAlertmanager();
    });
    afterAll(async () => {
      await am?.stop();
    });

    it('recognises the real Alertmanager and its version', async () => {
      const r = await runCheck(
        { name: 'alertmanager', flag: '--alertmanager', url: new URL(am!.url) },
        5000,
      );
      expect(r).toMatchObject({ ok: true, state: 'up' });
      expect(r.summary).toMatch(/^Alertmanager 0\.\d+\.\d+, ready$/);
    });

    it('does not take the real Alertmanager for Prometheus', async () => {
      const r = await runCheck(
        { name: 'prometheus', flag: '--prometheus', url: new URL(am!.url) },
        5000,
      );
      expect(r).toMatchObject({ ok: false, state: 'wrong' });
    });
  },
);
