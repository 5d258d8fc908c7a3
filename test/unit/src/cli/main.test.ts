import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../../src/cli/main.js';

const cwd = mkdtempSync(join(tmpdir(), 'echoes-cli-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env,
    cwd,
    isTTY: false,
  });
  return { code, stdout, stderr };
}

// None of these reach the network: input is rejected before any request.
describe('echoes-otel bad input', () => {
  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['load', '--bogus'], /load: Unknown option '--bogus'/],
    [['load', '--rate', 'fast'], /--rate "fast" must be a number above 0/],
    [['load', '--rate', '0'], /--rate "0" must be a number above 0/],
    [['load', '--rate=-3'], /--rate "-3" must be a number above 0/],
    [['load', '--rate', '-3'], /^echoes-otel load: --rate "-3" must be a number above 0/],
    [['load', '--rate', '-1e3'], /--rate "-1e3" must be a number above 0/],
    [['report', '-x'], /^echoes-otel report: Unknown option '-x'/],
    [['load', '--duration', 'forever'], /--duration "forever" is not a duration/],
    [['load', '--duration', '0s'], /--duration "0s" is out of range/],
    [['load', '--url', 'not a url'], /--url "not a url" is not a URL/],
    [['load', '--url', 'ftp://127.0.0.1'], /must start with http/],
    [['load', '--failure-rate', '2'], /--failure-rate "2" must be a number from 0 to 1/],
    [['load', 'stray'], /unexpected argument "stray"/],
    [
      ['report', '--prometheus', 'localhost:9090'],
      /--prometheus "localhost:9090" must start with http/,
    ],
    [['report', '--window', '5 minutes'], /--window "5 minutes" is not a duration/],
    [['report', '--format', 'xml'], /--format must be one of text, markdown, json/],
    [
      ['report', '--prometheus', 'http://a', '--metrics-url', 'http://b'],
      /either --prometheus or --metrics-url/,
    ],
    [['report', '--job', 'x'], /--job only applies with --prometheus/],
    [['doctor', '--only', 'collector,mongo'], /unknown: mongo/],
    [['doctor', '--timeout', 'soon'], /--timeout "soon"/],
    [['report', '--timeout', '0s'], /--timeout "0s"/],
    [['doctor', '--grafana', '://'], /--grafana ":\/\/" is not a URL/],
    [['check-config', '--format', 'yaml'], /--format must be one of text, json/],
  ])('%j exits 2 with one clear line', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    // Unknown commands have no command of their own to name.
    const command = args[0] === 'frobnicate' ? '' : ` ${args[0]}`;
    expect(r.stderr).toMatch(new RegExp(`^echoes-otel${command}: `));
    expect(r.stderr).toMatch(new RegExp(`run \`echoes-otel${command} --help\` for usage`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('rejects an OTEL_EXPORTER_OTLP_ENDPOINT that is not a URL, naming the variable', async () => {
    const r = await cli(['doctor', '--only', 'otlp'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT "collector:4318" must start with http/);
  });

  it('prints the overview for --help, -h and no arguments', async () => {
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/usage: echoes-otel <command>/);
    }
  });

  it.each(['load', 'report', 'doctor', 'check-config'])(
    'prints only its own options for `%s -h` and `--help`',
    async (command) => {
      for (const flag of ['-h', '--help']) {
        const r = await cli([command, flag]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^usage: echoes-otel ${command} \\[options\\]`));
        expect(r.stdout).not.toMatch(/commands:/);
      }
      expect((await cli(['help', command])).stdout).toMatch(new RegExp(`echoes-otel ${command} `));
    },
  );

  it('prints the version for -V and --version', async () => {
    for (const flag of ['-V', '--version']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('names an unknown command with the same prefix', async () => {
    const r = await cli(['lode']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^echoes-otel: unknown command "lode"; commands: load, report/);
  });
});

describe('echoes-otel check-config', () => {
  it('prints the effective configuration with secrets masked and exits 0', async () => {
    const r = await cli(['check-config'], {
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20sk-live-123456',
      OTEL_SERVICE_NAME: 'svc-a',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/serviceName\s+svc-a/);
    expect(r.stdout).toMatch(/traces\.otlp\.headers\.authorization\s+\*\*\*\*/);
    expect(r.stdout).not.toContain('sk-live-123456');
  });
  it('exits 1 and names the variable, value and fallback on a bad value', async () => {
    const r = await cli(['check-config'], { OTEL_METRIC_EXPORT_INTERVAL: 'often' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/OTEL_METRIC_EXPORT_INTERVAL/);
    expect(r.stdout).toMatch(/often/);
    expect(r.stdout).toMatch(/1 error/);
  });
  it('reads config/config.yaml in the working directory and reports a malformed one', async () => {
    mkdirSync(join(cwd, 'config'), { recursive: true });
    writeFileSync(
      join(cwd, 'config', 'config.yaml'),
      'logging:\n  level: "WARNING"\n  file_rotation:\n    max_bytes: 2048\n    backup_count: 2\n',
    );
    const ok = await cli(['check-config', '--format', 'json']);
    const body = JSON.parse(ok.stdout);
    expect(body.config.logs.file.maxBytes).toBe(2048);
    expect(body.config.logs.file.backupCount).toBe(2);
    writeFileSync(join(cwd, 'config', 'config.yaml'), 'logging: [unclosed\n');
    const bad = await cli(['check-config', '--format', 'json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).problems.length).toBeGreaterThan(0);
    rmSync(join(cwd, 'config'), { recursive: true });
  });
});
