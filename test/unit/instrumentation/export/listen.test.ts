import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listenOutsideCluster } from '../../../../instrumentation/export/listen.js';

const servers: Server[] = [];
const make = (): Server => {
  const s = createServer((c) => c.end('hi'));
  servers.push(s);
  return s;
};
const listening = (s: Server, host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    s.once('error', reject);
    listenOutsideCluster(s, host, port, () => resolve((s.address() as AddressInfo).port));
  });

afterEach(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('listenOutsideCluster', () => {
  it('binds an IP literal through the listen step, not listen()', async () => {
    const s = make();
    const listen = vi.spyOn(s, 'listen');
    const port = await listening(s, '127.0.0.1', 0);
    expect(listen).not.toHaveBeenCalled();
    expect(port).toBeGreaterThan(0);
    expect(s.listening).toBe(true);
    expect((s.address() as AddressInfo).address).toBe('127.0.0.1');
    const reply = await new Promise<string>((resolve, reject) => {
      let got = '';
      connect(port, '127.0.0.1')
        .setEncoding('utf8')
        .on('data', (d: string) => (got += d))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    expect(reply).toBe('hi');
  });

  it('reports a taken port as an error event, as listen() does', async () => {
    const first = make();
    const port = await listening(first, '127.0.0.1', 0);
    const second = make();
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      second.once('error', resolve);
      listenOutsideCluster(second, '127.0.0.1', port, () => resolve(new Error('listened')));
    });
    expect(err.code).toBe('EADDRINUSE');
    expect(second.listening).toBe(false);
  });

  it('takes listen() for a host name, in a cluster worker and without the listen step', async () => {
    const byName = make();
    const listenByName = vi.spyOn(byName, 'listen');
    await listening(byName, 'localhost', 0);
    expect(listenByName).toHaveBeenCalledWith({ host: 'localhost', port: 0 }, expect.any(Function));

    // Which way is taken is all these check: stand-ins that record the call.
    const fake = (withStep: boolean) => ({
      listen: vi.fn(),
      once: vi.fn(),
      ...(withStep ? { _listen2: vi.fn() } : {}),
    });
    const onListening = (): void => {};

    vi.stubEnv('NODE_UNIQUE_ID', '1');
    const worker = fake(true);
    listenOutsideCluster(worker as unknown as Server, '127.0.0.1', 0, onListening);
    expect(worker.listen).toHaveBeenCalledWith({ host: '127.0.0.1', port: 0 }, onListening);
    expect(worker._listen2).not.toHaveBeenCalled();
    vi.unstubAllEnvs();

    const primary = fake(true);
    listenOutsideCluster(primary as unknown as Server, '::1', 9464, onListening);
    expect(primary.listen).not.toHaveBeenCalled();
    expect(primary._listen2).toHaveBeenCalledWith('::1', 9464, 6, undefined, undefined, 0);
    expect(primary.once).toHaveBeenCalledWith('listening', onListening);

    const older = fake(false);
    listenOutsideCluster(older as unknown as Server, '127.0.0.1', 0, onListening);
    expect(older.listen).toHaveBeenCalledWith({ host: '127.0.0.1', port: 0 }, onListening);
  });
});
