import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_NAMES, runCheck, type Target } from '../../../../src/cli/doctor.js';
import { freePort } from '../../../helpers/backends.js';

/**
 * The Alertmanager check against loopback fakes that answer what Alertmanager v0.35.0 answers
 * (GET /api/v2/status: JSON with `versionInfo`; /-/ready: 200 "OK" once its config is loaded);
 * test/integration/doctor.test.ts runs the same check against the real binary.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const send = (res: ServerResponse, status: number, type: string, body: string) => {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
};
const STATUS = JSON.stringify({
  cluster: { peers: [], status: 'disabled' },
  config: { original: 'route:\n  receiver: default\n' },
  uptime: '2026-12-03T09:54:09.611Z',
  versionInfo: { branch: 'HEAD', revision: 'v0.35.0', version: '0.35.0' },
});
const alertmanager =
  (readyStatus: number): Handler =>
  (req, res) => {
    if (req.url === '/api/v2/status') send(res, 200, 'application/json', STATUS);
    else if (req.url === '/-/ready')
      send(res, readyStatus, 'text/plain; charset=utf-8', readyStatus === 200 ? 'OK' : 'Not ready');
    else send(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
  };
// Prometheus where Alertmanager should be: it has /-/ready too, but no API v2.
const prometheus: Handler = (req, res) => {
  if (req.url === '/-/ready') send(res, 200, 'text/plain', 'Prometheus Server is Ready.\n');
  else send(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
};

const urls: Record<string, URL> = {};
const closers: Array<() => void> = [];

function listen(handler: Handler): Promise<URL> {
  const s = createServer(handler);
  closers.push(() => {
    s.closeAllConnections();
    s.close();
  });
  return new Promise((r) =>
    s.listen(0, '127.0.0.1', () =>
      r(new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
    ),
  );
}

beforeAll(async () => {
  urls.up = await listen(alertmanager(200));
  urls.starting = await listen(alertmanager(503));
  urls.prometheus = await listen(prometheus);
  urls.closed = new URL(`http://127.0.0.1:${await freePort()}`);
});
afterAll(() => closers.forEach((c) => c()));

const check = (url: URL) =>
  runCheck({ name: 'alertmanager', flag: '--alertmanager', url } satisfies Target, 3000);

describe('runCheck (alertmanager)', () => {
  it('is one of the checks doctor runs by default', () => {
    expect(CHECK_NAMES).toContain('alertmanager');
  });

  it('reports a ready Alertmanager with its version', async () => {
    const r = await check(urls.up!);
    expect(r).toMatchObject({ name: 'alertmanager', title: 'Alertmanager', ok: true, state: 'up' });
    expect(r.summary).toBe('Alertmanager 0.35.0, ready');
    expect(r.fix).toBeUndefined();
  });

  it('says not ready when /-/ready refuses, and what to do', async () => {
    const r = await check(urls.starting!);
    expect(r).toMatchObject({ ok: false, state: 'not-ready' });
    expect(r.summary).toBe('Alertmanager 0.35.0 answers but /-/ready says HTTP 503 "Not ready"');
    expect(r.fix).toMatch(/wait for it to finish starting/);
  });

  it('tells another server on the port from Alertmanager, even one with /-/ready', async () => {
    const r = await check(urls.prometheus!);
    expect(r).toMatchObject({ ok: false, state: 'wrong' });
    expect(r.summary).toMatch(/^something else answers: HTTP 404 on \/api\/v2\/status/);
    expect(r.fix).toMatch(/another program answers on port \d+.*--alertmanager/);
  });

  it('names the compose service to start when nothing listens', async () => {
    const r = await check(urls.closed!);
    expect(r).toMatchObject({ ok: false, state: 'down' });
    expect(r.fix).toMatch(/docker compose up -d alertmanager.*--alertmanager/);
  });
});
