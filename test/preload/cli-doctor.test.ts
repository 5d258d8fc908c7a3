import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { NODE_BINARIES } from '../helpers/node-versions.js';
import { CLI_MAIN, buildMissing } from '../fixtures/service/harness.js';
import { freePort } from '../helpers/backends.js';

/**
 * `echoes-otel doctor` and the CLI's network failures, run as the built bin. Each fake server
 * answers what the real component answers on its health path (shapes taken from the components'
 * docs: collector health_check, Prometheus /api/v1/status/buildinfo and /-/ready, Alertmanager
 * /api/v2/status and /-/ready (as the real one answers in test/integration/doctor.test.ts), Loki
 * and Tempo build info and /ready, Grafana /api/health, exporter-prometheus /metrics).
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const text = (
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
) => {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
};

const FAKES: Record<string, Handler> = {
  collector: (req, res) =>
    req.url === '/'
      ? json(res, 200, {
          status: 'Server available',
          upSince: '2026-11-25T12:00:00Z',
          uptime: '1m0s',
        })
      : text(res, 404, '404 page not found\n'),
  otlp: (req, res) => {
    req.resume();
    if (req.method === 'POST' && req.url === '/v1/traces') json(res, 200, { partialSuccess: {} });
    else text(res, 404, '404 page not found\n');
  },
  prometheus: (req, res) => {
    if (req.url === '/api/v1/status/buildinfo')
      json(res, 200, {
        status: 'success',
        data: { version: '3.5.0', revision: 'x', branch: 'HEAD' },
      });
    else if (req.url === '/-/ready') text(res, 200, 'Prometheus Server is Ready.\n');
    else text(res, 404, '404 page not found\n');
  },
  alertmanager: (req, res) => {
    if (req.url === '/api/v2/status')
      json(res, 200, {
        cluster: { peers: [], status: 'disabled' },
        uptime: '2026-12-03T09:54:09.611Z',
        versionInfo: { branch: 'HEAD', revision: 'v0.35.0', version: '0.35.0' },
      });
    else if (req.url === '/-/ready') text(res, 200, 'OK');
    else text(res, 404, '404 page not found\n');
  },
  loki: (req, res) => {
    if (req.url === '/loki/api/v1/status/buildinfo')
      json(res, 200, { version: '3.5.0', revision: 'x', branch: 'HEAD', goVersion: 'go1.24' });
    else if (req.url === '/ready') text(res, 200, 'ready\n');
    else text(res, 404, '404 page not found\n');
  },
  tempo: (req, res) => {
    if (req.url === '/api/status/buildinfo')
      json(res, 200, { version: '2.8.0', revision: 'x', branch: 'HEAD', goVersion: 'go1.24' });
    else if (req.url === '/ready') text(res, 200, 'ready\n');
    else text(res, 404, '404 page not found\n');
  },
  grafana: (req, res) =>
    req.url === '/api/health'
      ? json(res, 200, { database: 'ok', version: '12.0.0', commit: 'abc' })
      : text(res, 404, 'Not found'),
  metrics: (req, res) =>
    req.url === '/metrics'
      ? text(
          res,
          200,
          '# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{service_name="echoes-api"} 1\n',
        )
      : text(res, 404, 'not found'),
  // Something else entirely: a web server that answers every path with its own 404 page.
  nginx: (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html', server: 'nginx/1.27.0' });
    res.end(
      '<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center></body></html>',
    );
  },
  lokiStarting: (req, res) => {
    if (req.url === '/loki/api/v1/status/buildinfo') json(res, 200, { version: '3.5.0' });
    else if (req.url === '/ready')
      text(res, 503, 'Ingester not ready: waiting for 15s after being ready\n');
    else text(res, 404, '404 page not found\n');
  },
};

const urls: Record<string, string> = {};
const closers: Array<() => void> = [];
let closedPort = 0;
let silentPort = 0;
let garblePort = 0;

function listen(handler: Handler): Promise<string> {
  const s = createHttpServer(handler);
  closers.push(() => {
    s.closeAllConnections();
    s.close();
  });
  return new Promise((r) =>
    s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );
}

function tcp(onConn: (sock: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const s: TcpServer = createTcpServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    onConn(sock);
  });
  closers.push(() => {
    for (const k of sockets) k.destroy();
    s.close();
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
}

const noBuild = buildMissing();

beforeAll(async () => {
  if (noBuild) return;
  for (const [name, h] of Object.entries(FAKES)) urls[name] = await listen(h);
  closedPort = await freePort();
  silentPort = await tcp(() => undefined); // accepts, never answers
  garblePort = await tcp((sock) => sock.end('SSH-2.0-OpenSSH_9.6\r\n')); // not HTTP
});
afterAll(() => closers.forEach((c) => c()));

/** The CLI, SIGKILLed if it has not ended within 30 s. */
const run = (node: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runCli(node, args, env, 30_000);

interface Check {
  name: string;
  ok: boolean;
  state: string;
  summary: string;
  fix?: string;
}
async function doctor(
  node: string,
  flags: string[],
  timeout = '3s',
): Promise<{ code: number | null; checks: Record<string, Check> }> {
  // Generous, so a loaded machine does not turn a slow fake into a false timeout.
  const r = await run(node, ['doctor', '--format', 'json', '--timeout', timeout, ...flags]);
  expect(r.stderr).toBe('');
  const body = JSON.parse(r.stdout) as { checks: Check[] };
  return { code: r.code, checks: Object.fromEntries(body.checks.map((c) => [c.name, c])) };
}

const allUp = () => [
  '--collector',
  urls.collector!,
  '--otlp',
  urls.otlp!,
  '--prometheus',
  urls.prometheus!,
  '--alertmanager',
  urls.alertmanager!,
  '--loki',
  urls.loki!,
  '--tempo',
  urls.tempo!,
  '--grafana',
  urls.grafana!,
  '--metrics-url',
  `${urls.metrics}/metrics`,
];

describe.skipIf(noBuild)('echoes-otel (built bin)', () => {
  it('starts with a shebang so the npm bin runs', () => {
    expect(readFileSync(CLI_MAIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  describe.each(NODE_BINARIES)('$label', (node) => {
    it('doctor: every endpoint up', async () => {
      const { code, checks } = await doctor(node.path, allUp());
      expect(Object.values(checks).filter((c) => !c.ok)).toEqual([]);
      expect(code).toBe(0);
      expect(checks.prometheus!.summary).toBe('Prometheus 3.5.0, ready');
      expect(checks.alertmanager!.summary).toBe('Alertmanager 0.35.0, ready');
      expect(checks.loki!.summary).toBe('Loki 3.5.0, ready');
      expect(checks.tempo!.summary).toBe('Tempo 2.8.0, ready');
      expect(checks.grafana!.summary).toMatch(/Grafana 12\.0\.0, database ok/);
      expect(checks.collector!.summary).toMatch(/Server available/);
    });

    it('doctor: endpoints down, timing out, or not speaking HTTP', async () => {
      const closed = `http://127.0.0.1:${closedPort}`;
      const { code, checks } = await doctor(
        node.path,
        [
          ...allUp(),
          '--collector',
          closed,
          '--prometheus',
          `http://127.0.0.1:${silentPort}`,
          '--loki',
          `http://127.0.0.1:${garblePort}`,
        ],
        '1s',
      );
      expect(code).toBe(1);
      expect(checks.collector).toMatchObject({ ok: false, state: 'down' });
      expect(checks.collector!.summary).toContain(`nothing listening on 127.0.0.1:${closedPort}`);
      expect(checks.collector!.fix).toMatch(/docker compose up -d collector.*--collector/);
      expect(checks.prometheus).toMatchObject({ ok: false, state: 'timeout' });
      expect(checks.prometheus!.summary).toMatch(/did not answer within 1000 ms/);
      expect(checks.loki).toMatchObject({ ok: false, state: 'not-http' });
      expect(checks.tempo!.ok).toBe(true);
    });

    it('doctor: something else answering on the port, and up but not ready', async () => {
      const { code, checks } = await doctor(node.path, [
        ...allUp(),
        '--prometheus',
        urls.grafana!, // Grafana where Prometheus should be
        '--loki',
        urls.prometheus!, // Prometheus where Loki should be
        '--grafana',
        urls.nginx!, // a web server
        '--tempo',
        urls.lokiStarting!, // Loki still starting, where Tempo should be: wrong, not "not ready"
        '--alertmanager',
        urls.prometheus!, // Prometheus where Alertmanager should be
        '--otlp',
        urls.nginx!,
      ]);
      expect(code).toBe(1);
      for (const n of ['prometheus', 'alertmanager', 'loki', 'grafana', 'tempo', 'otlp']) {
        expect(checks[n], n).toMatchObject({ ok: false, state: 'wrong' });
        expect(checks[n]!.summary, n).toMatch(/^something else answers: HTTP \d+ on /);
        expect(checks[n]!.fix, n).toMatch(/another program answers on port \d+/);
      }
      expect(checks.grafana!.summary).toContain('(Server: nginx/1.27.0)');
      expect(checks.collector!.ok).toBe(true);

      const starting = await doctor(node.path, ['--only', 'loki', '--loki', urls.lokiStarting!]);
      expect(starting.checks.loki).toMatchObject({ ok: false, state: 'not-ready' });
      expect(starting.checks.loki!.summary).toMatch(
        /Loki 3\.5\.0 answers but \/ready says HTTP 503 "Ingester not ready/,
      );
    });

    it('doctor: text output names what is wrong and the fix', async () => {
      const r = await run(node.path, [
        'doctor',
        '--only',
        'collector,grafana',
        '--collector',
        `http://127.0.0.1:${closedPort}`,
        '--grafana',
        urls.grafana!,
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/FAIL\s+collector health_check/);
      expect(r.stdout).toMatch(/fix: start it with `docker compose up -d collector`/);
      expect(r.stdout).toMatch(/ok\s+Grafana/);
      expect(r.stdout).toMatch(/1 of 2 checks failed/);
    });

    it('unreachable or wrong hosts give one clear line and exit 1, never a stack trace', async () => {
      const closed = `http://127.0.0.1:${closedPort}`;
      const cases: Array<[string[], RegExp]> = [
        [
          ['report', '--prometheus', closed],
          new RegExp(
            `cannot query Prometheus at ${closed}/: nothing is listening on 127\\.0\\.0\\.1:${closedPort}`,
          ),
        ],
        [['report', '--prometheus', urls.grafana!], /not the Prometheus API/],
        [
          ['report', '--metrics-url', `${closed}/metrics`, '--window', '1s'],
          /nothing is listening .*Is the service running with --import echoes-otel\/register/,
        ],
        [
          ['report', '--metrics-url', `${urls.nginx}/metrics`, '--window', '1s'],
          /answered HTTP 404, not a metrics page/,
        ],
        [
          [
            'report',
            '--metrics-url',
            `http://127.0.0.1:${silentPort}/metrics`,
            '--window',
            '1s',
            '--timeout',
            '300ms',
          ],
          /did not answer in time/,
        ],
        [
          ['load', '--url', closed, '--duration', '1s'],
          /cannot reach the service at .*nothing is listening.*Start it with `npm start`/,
        ],
        [
          ['load', '--url', urls.nginx!, '--duration', '1s'],
          /answered HTTP 404 on \/healthz: is it the Echoes service\?/,
        ],
      ];
      for (const [args, message] of cases) {
        const t0 = Date.now();
        const r = await run(node.path, args);
        // --timeout bounds the wait for a silent endpoint (the default is 5 s)
        if (args.includes('--timeout')) expect(Date.now() - t0, args.join(' ')).toBeLessThan(4000);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr, args.join(' ')).toMatch(message);
        expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      }
    });

    it('bad input through the real bin exits 2', async () => {
      const r = await run(node.path, ['load', '--rate', 'lots']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^echoes-otel load: --rate "lots" must be a number/);
    });
  });
});
