import { diag, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  isWrapped,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import { attachState, dbErrorType, type DbDurationMetric, type DurationSlot } from './db-client.js';
import { moduleExports } from './module-exports.js';
import { redisQueryText } from './db-query.js';
import { adoptAttributes, context, SpanKind, SpanStatusCode, trace } from './otel-api.js';

/**
 * Redis through `ioredis` (2.x to 6.x), our own lean instrumentation (docs/performance.md says why).
 * One patch, `Redis.prototype.sendCommand`, the function every command, pipeline and MULTI goes
 * through: a client span per command inside a traced operation (as upstream's, none without a
 * parent span: connection chatter and background polling stay out of traces), named by the
 * command, with `db.system.name` redis, `db.operation.name` (the command as ioredis names it;
 * `MULTI set` / `PIPELINE set` inside a transaction or pipeline, as upstream), `db.query.text`
 * with the key and no value (db-query.ts), `db.namespace` (the database index),
 * `server.address` / `server.port`, `error.type` on failure (the reply's error code, WRONGTYPE);
 * and `db.client.operation.duration` for every command, from a slot bound once per
 * (client, operation).
 */

// `duplicates` pairs this module with db-pg.ts: the same imports, the InstrumentationBase form
// upstream asks of each instrumentation, and the per-client state attached under a symbol and
// the per-call `finish` of one span and one duration slot; what differs (the patched function,
// how a call ends: callbacks, promises and submittables for pg, the command's promise for ioredis,
// the attributes) is most of each file. The shared part that is logic lives in db-client.ts.
const VERSION = '0.1.0';
export const IOREDIS_SCOPE = 'echoes-otel/ioredis';

type AnyFn = (...args: unknown[]) => unknown;

interface RedisLike {
  options?: { host?: unknown; port?: unknown; path?: unknown; db?: unknown };
  [STATE]?: ClientState;
}

interface CommandLike {
  name?: unknown;
  args?: unknown[];
  resolve?: AnyFn;
  reject?: AnyFn;
  inTransaction?: boolean;
  pipelineIndex?: number;
}

interface ClientState {
  readonly base: Attributes;
  readonly slots: Map<string, DurationSlot>;
}

const STATE = Symbol('echoes.ioredis.state');

function stateOf(client: RedisLike): ClientState {
  const s = client[STATE];
  if (s !== undefined) return s;
  const o = client.options ?? {};
  const base: Attributes = { 'db.system.name': 'redis' };
  const db = Number(o.db ?? 0);
  if (Number.isInteger(db) && db >= 0) base['db.namespace'] = String(db);
  if (typeof o.path !== 'string' || o.path === '') {
    if (typeof o.host === 'string' && o.host !== '') base['server.address'] = o.host;
    const port = Number(o.port);
    if (Number.isInteger(port) && port > 0) base['server.port'] = port;
  }
  return attachState(client, STATE, { base, slots: new Map() });
}

function slotOf(metric: DbDurationMetric, state: ClientState, operation: string): DurationSlot {
  let slot = state.slots.get(operation);
  if (slot === undefined) {
    slot = metric.bind({ ...state.base, 'db.operation.name': operation });
    state.slots.set(operation, slot);
  }
  return slot;
}

/** `set`, `MULTI set`, `PIPELINE set` (MULTI and EXEC themselves unprefixed), as upstream names them. */
export function redisOperationName(cmd: CommandLike): string {
  const name = String(cmd.name);
  if (name === 'multi' || name === 'exec') return name;
  if (cmd.inTransaction === true) return `MULTI ${name}`;
  if (cmd.pipelineIndex !== undefined && cmd.pipelineIndex !== null) return `PIPELINE ${name}`;
  return name;
}

/** The wrapper of `Redis.prototype.sendCommand` (exported for the unit tests). */
export function wrapSendCommand(
  original: AnyFn,
  getTracer: () => Tracer,
  metric: DbDurationMetric,
): AnyFn {
  return function sendCommand(this: RedisLike, ...rest: unknown[]): unknown {
    const cmd = rest[0] as CommandLike;
    if (
      cmd === null ||
      typeof cmd !== 'object' ||
      typeof cmd.resolve !== 'function' ||
      typeof cmd.reject !== 'function'
    ) {
      return original.apply(this, rest);
    }
    let span: Span | undefined;
    let state: ClientState;
    let operation: string;
    try {
      state = stateOf(this);
      operation = redisOperationName(cmd);
      const parent = context.active();
      if (trace.getSpan(parent) !== undefined) {
        const attributes: Attributes = {
          ...state.base,
          'db.operation.name': operation,
          'db.query.text': redisQueryText(String(cmd.name), cmd.args),
        };
        span = getTracer().startSpan(
          String(cmd.name),
          { kind: SpanKind.CLIENT, attributes: adoptAttributes(attributes) },
          parent,
        );
      }
    } catch (err) {
      diag.debug(`echoes-otel: ioredis command not traced (${String(err)})`);
      return original.apply(this, rest);
    }
    const call = new RedisCall(span, metric, state, operation);
    const resolve = cmd.resolve;
    const reject = cmd.reject;
    cmd.resolve = function (this: unknown, value: unknown) {
      call.finish(undefined);
      return resolve.call(this, value);
    };
    cmd.reject = function (this: unknown, err: unknown) {
      call.finish(err);
      return reject.call(this, err);
    };
    try {
      return original.apply(this, rest);
    } catch (err) {
      call.finish(err);
      throw err;
    }
  };
}

/**
 * One command in flight. A class, not closures: the bundle keeps function names (esbuild
 * `keepNames`), which costs a property definition for every named closure created per call.
 */
class RedisCall {
  private done = false;
  private readonly t0 = performance.now();
  constructor(
    private readonly span: Span | undefined,
    private readonly metric: DbDurationMetric,
    private readonly state: ClientState,
    private readonly operation: string,
  ) {}

  finish(err: unknown): void {
    if (this.done) return;
    this.done = true;
    try {
      const seconds = (performance.now() - this.t0) / 1000;
      const span = this.span;
      if (err === undefined || err === null) {
        span?.end();
        slotOf(this.metric, this.state, this.operation).record(seconds, span);
        return;
      }
      const type = dbErrorType(redisError(err));
      if (span !== undefined) {
        span.setAttribute('error.type', type);
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      this.metric
        .bind({ ...this.state.base, 'db.operation.name': this.operation, 'error.type': type })
        .record(seconds, span);
    } catch (e) {
      diag.debug(`echoes-otel: ioredis span end failed (${String(e)})`);
    }
  }
}

/** A ReplyError's code is its first word (`WRONGTYPE Operation against...`); never the rest. */
function redisError(err: unknown): unknown {
  if (
    err !== null &&
    typeof err === 'object' &&
    (err as { name?: unknown }).name === 'ReplyError'
  ) {
    const m = /^([A-Z][A-Z_]*)\b/.exec(String((err as { message?: unknown }).message ?? ''));
    if (m !== null) return { code: m[1] };
  }
  return err;
}

interface RedisClass {
  prototype: { sendCommand: AnyFn };
}

function redisClassOf(exports: unknown): RedisClass | undefined {
  const e = moduleExports<RedisClass>(exports);
  return typeof e?.prototype?.sendCommand === 'function' ? e : undefined;
}

export class IoredisInstrumentation extends InstrumentationBase<InstrumentationConfig> {
  constructor(
    private readonly metric: DbDurationMetric,
    config: InstrumentationConfig = {},
  ) {
    super(IOREDIS_SCOPE, VERSION, config);
  }

  protected init() {
    return [
      new InstrumentationNodeModuleDefinition(
        'ioredis',
        ['>=2.0.0 <7'],
        (exports: unknown) => {
          const C = redisClassOf(exports);
          if (C !== undefined && !isWrapped(C.prototype.sendCommand)) {
            this._wrap(
              C.prototype,
              'sendCommand',
              (original) =>
                wrapSendCommand(original, () => this.tracer, this.metric) as typeof original,
            );
          }
          return exports;
        },
        (exports: unknown) => {
          const C = redisClassOf(exports);
          if (C !== undefined && isWrapped(C.prototype.sendCommand))
            this._unwrap(C.prototype, 'sendCommand');
        },
      ),
    ];
  }
}
