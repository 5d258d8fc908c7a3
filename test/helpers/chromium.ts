/**
 * A real browser for the browser tests: Debian's `chromium`, driven by `playwright-core` (which
 * downloads no browser of its own). When it is missing and we are root with apt-get (CI on a fresh
 * machine, as here), it is installed with `apt-get update` then `apt-get install chromium`, the
 * output passed through so the wait is visible; otherwise the suite is skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// Debian's chromium first; Google Chrome where a hosted CI image ships it instead (GitHub's
// ubuntu runners: not root, so nothing is installed there).
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

function found(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

function run(cmd: string, args: string[]): boolean {
  process.stdout.write(`[chromium] ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 600_000,
  });
  return r.status === 0;
}

let cached: { path?: string; reason?: string } | undefined;

/** The Chromium executable, installing it with apt-get when missing; or why there is none. */
export function ensureChromium(): { path?: string; reason?: string } {
  if (cached) return cached;
  let path = found();
  if (path === undefined) {
    const root = process.getuid?.() === 0;
    const apt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
    if (!root || !apt) {
      cached = {
        reason: `chromium is not installed and cannot be (${root ? 'no apt-get' : 'not root'}): apt-get install chromium`,
      };
      return cached;
    }
    process.stdout.write(
      "[chromium] not installed: installing Debian's chromium (about a minute)\n",
    );
    if (
      run('apt-get', ['update']) &&
      run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'])
    )
      path = found();
    if (path === undefined) {
      cached = { reason: 'apt-get could not install chromium (see the output above)' };
      return cached;
    }
  }
  cached = { path };
  return cached;
}
