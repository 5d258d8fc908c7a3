import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/**
 * Session history on disk (`data/memory/<id>.json`), the audit's hottest write path ("json.dump on
 * every session update"). Two modes, so the benchmark can compare them under the same load:
 *
 * - `batched` (default): write-behind. Updates land in memory; dirty sessions are flushed when
 *   `flushEvery` updates have accumulated or `flushIntervalMs` has passed since the first unflushed
 *   one, whichever comes first, and on `close()` (SIGTERM / SIGINT). A SIGKILL loses at most that
 *   window.
 * - `immediate`: the audit's "before": every update is written before the request answers.
 *
 * Both modes write the same way: a temp file in the same directory, fsync, then rename over the
 * target, so a crash at any instant leaves either the old or the new file, never a torn one.
 */

export type SessionWriteMode = 'batched' | 'immediate';

export interface SessionMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
  readonly model?: string;
  readonly at: string;
}

export interface Session {
  readonly id: string;
  createdAt: string;
  updatedAt: string;
  /** Total updates ever applied; a crash test compares it with what it sent. */
  updates: number;
  messages: SessionMessage[];
}

export interface SessionStoreOptions {
  readonly dir: string;
  readonly mode?: SessionWriteMode;
  /** Flush once this many updates are pending, across all sessions (batched mode). Default 100. */
  readonly flushEvery?: number;
  /** Flush at most this long after the first pending update (batched mode). Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /** Messages kept per session; older ones are dropped so memory and files stay bounded. */
  readonly maxMessages?: number;
  /** Sessions kept in memory; clean ones beyond this are dropped (they are on disk). */
  readonly maxSessionsInMemory?: number;
  /** Called when a background flush fails (the store keeps the data dirty and retries). */
  readonly onError?: (err: unknown) => void;
}

export interface SessionStats {
  /** Updates applied since start. */
  readonly updates: number;
  /** Session files written (each is one atomic write-and-rename). */
  readonly writes: number;
  /** Flush rounds. */
  readonly flushes: number;
  /** Updates waiting in memory. */
  readonly pending: number;
}

export interface SessionStore {
  readonly mode: SessionWriteMode;
  /** Append a message; resolves once the update is as durable as the mode promises. */
  append(id: string, message: SessionMessage): Promise<Session>;
  get(id: string): Promise<Session | undefined>;
  flush(): Promise<void>;
  /** Flush and stop the timer; later appends are still accepted and written immediately. */
  close(): Promise<void>;
  stats(): SessionStats;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Session ids become file names: only a safe, bounded alphabet is accepted. */
export function isValidSessionId(id: string): boolean {
  return ID_PATTERN.test(id);
}

let tmpSeq = 0;

/** Write `data` to `file` atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${++tmpSeq}.tmp`;
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writeFile(data, 'utf8');
    // Without fsync a power loss after rename can expose an empty file; SIGKILL alone would not.
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const dir = options.dir;
  const mode: SessionWriteMode = options.mode ?? 'batched';
  const flushEvery = Math.max(1, options.flushEvery ?? 100);
  const flushIntervalMs = Math.max(1, options.flushIntervalMs ?? 1000);
  const maxMessages = Math.max(1, options.maxMessages ?? 100);
  const maxInMemory = Math.max(1, options.maxSessionsInMemory ?? 1000);
  const onError = options.onError ?? (() => undefined);

  const sessions = new Map<string, Session>();
  const dirty = new Set<string>();
  let pending = 0;
  // Updates accepted but not yet on disk (pending plus those in a flush still running).
  let unflushed = 0;
  let updates = 0;
  let writes = 0;
  let flushes = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let dirReady: Promise<unknown> | undefined;
  // Flushes run one after another so two renames of the same file never race.
  let chain: Promise<void> = Promise.resolve();

  function ensureDir(): Promise<unknown> {
    dirReady ??= fsp
      .mkdir(dir, { recursive: true })
      .then(removeStaleTemps)
      .catch((err) => {
        dirReady = undefined;
        throw err;
      });
    return dirReady;
  }

  // A SIGKILL between write and rename leaves a temp file; the session file itself is intact.
  async function removeStaleTemps(): Promise<void> {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.endsWith('.tmp'))
        .map((n) => fsp.unlink(join(dir, n)).catch(() => undefined)),
    );
  }

  function fileOf(id: string): string {
    return join(dir, `${id}.json`);
  }

  async function load(id: string): Promise<Session | undefined> {
    const cached = sessions.get(id);
    if (cached) return cached;
    let text: string;
    try {
      text = await fsp.readFile(fileOf(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const again = sessions.get(id); // another request may have loaded it meanwhile
    if (again) return again;
    const parsed = JSON.parse(text) as Session;
    remember(parsed);
    return parsed;
  }

  function remember(session: Session): void {
    sessions.set(session.id, session);
    if (sessions.size <= maxInMemory) return;
    for (const [id] of sessions) {
      if (sessions.size <= maxInMemory) break;
      if (!dirty.has(id)) sessions.delete(id);
    }
  }

  async function writeSession(id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return;
    await ensureDir();
    await writeFileAtomic(fileOf(id), JSON.stringify(session));
    writes++;
  }

  function runFlush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const ids = [...dirty];
    const count = pending;
    dirty.clear();
    pending = 0;
    if (ids.length === 0) return chain;
    const round = chain.then(async () => {
      flushes++;
      const failed: string[] = [];
      for (const id of ids) {
        try {
          await writeSession(id);
        } catch (err) {
          failed.push(id);
          onError(err);
        }
      }
      // Keep failed sessions dirty so the next round retries them instead of losing them.
      for (const id of failed) dirty.add(id);
      if (failed.length > 0) {
        pending += failed.length;
        arm();
      }
      unflushed -= count - (failed.length > 0 ? failed.length : 0);
    });
    chain = round.catch(() => undefined);
    return round;
  }

  function arm(): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      runFlush().catch(onError);
    }, flushIntervalMs);
    // A pending flush must not keep a finished process alive; shutdown flushes explicitly.
    timer.unref();
  }

  async function append(id: string, message: SessionMessage): Promise<Session> {
    if (!isValidSessionId(id)) throw new Error(`invalid session id: ${JSON.stringify(id)}`);
    // Concurrent first appends all miss on disk; only the first one creates the session.
    let session = (await load(id)) ?? sessions.get(id);
    if (!session) {
      session = { id, createdAt: message.at, updatedAt: message.at, updates: 0, messages: [] };
      remember(session);
    }
    session.messages.push(message);
    if (session.messages.length > maxMessages) {
      session.messages.splice(0, session.messages.length - maxMessages);
    }
    session.updates++;
    session.updatedAt = message.at;
    updates++;
    dirty.add(id);
    pending++;
    unflushed++;
    if (mode === 'immediate' || closed) {
      await runFlush();
    } else {
      if (pending >= flushEvery) void runFlush().catch(onError);
      else arm();
      // Backpressure: when the disk is slower than the updates, wait rather than let the window a
      // crash can lose grow without bound (it stays under about two batches).
      if (unflushed >= 2 * flushEvery) await chain;
    }
    return session;
  }

  return {
    mode,
    append,
    get: load,
    flush: () => runFlush(),
    async close() {
      closed = true;
      await runFlush();
      await chain;
    },
    stats: () => ({ updates, writes, flushes, pending }),
  };
}
