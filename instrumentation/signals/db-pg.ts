import { diag, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import { attachState, dbErrorType, type DbDurationMetric, type DurationSlot } from './db-client.js';
import { moduleExports } from './module-exports.js';
import { describeSql, type SqlDescription } from './db-query.js';
import { context, SpanKind, SpanStatusCode, trace } from './otel-api.js';

/**
 * PostgreSQL through `pg` (8.x), our own lean instrumentation (docs/performance.md says why:
 * upstream's instrumentation-pg measured about twice the per-query cost, bench/libraries.mjs).
 * One patch, `Client.prototype.query` (`pool.query` runs through it too), gives one client span
 * per query with the stable database conventions: `db.system.name` postgresql, `db.namespace`,
 * `db.operation.name` / `db.collection.name` and `db.query.text` with no literal values
 * (db-query.ts, remembered per statement text), `server.address` / `server.port`, and on failure
 * `error.type` (the SQLSTATE) and `db.response.status_code`; and `db.client.operation.duration`
 * from a slot bound once per (client, operation, collection). Callbacks, promises and submittables
 * (`pg.Query`, cursors, streams) are all ended; a callback runs in its caller's context. No span
 * for connects or the pool's checkouts (upstream's `pg-pool.connect` span doubled the spans of
 * every `pool.query`), and no connection-pool metrics.
 */

const VERSION = '0.1.0';
export const PG_SCOPE = 'echoes-otel/pg';

type AnyFn = (...args: unknown[]) => unknown;

interface PgClientLike {
  database?: unknown;
  connectionParameters?: { host?: unknown; port?: unknown; database?: unknown };
  [STATE]?: ClientState;
}

interface Submittable {
  submit: AnyFn;
  text?: unknown;
  callback?: unknown;
  once?: (event: string, fn: AnyFn) => unknown;
}

interface ClientState {
  /** The span attributes every query of this client shares. */
  readonly base: Attributes;
  /** What each statement's spans and metric share, by its description (db-query.ts). */
  readonly statements: Map<SqlDescription | undefined, Statement>;
}

/** Per client and statement, built on its first query: the span name, attributes, metric slot. */
interface Statement {
  readonly name: string;
  readonly attributes: Attributes;
  readonly slot: DurationSlot;
  readonly d: SqlDescription | undefined;
}

/** Bound on the statements remembered per client (describeSql's cache is bounded the same way). */
const MAX_STATEMENTS = 512;

const STATE = Symbol('echoes.pg.state');

function stateOf(client: PgClientLike): ClientState {
  const s = client[STATE];
  if (s !== undefined) return s;
  const params = client.connectionParameters ?? {};
  const base: Attributes = { 'db.system.name': 'postgresql' };
  const db = client.database ?? params.database;
  if (typeof db === 'string' && db !== '') base['db.namespace'] = db;
  // A unix socket directory is a path, not an address: server.address is for network peers.
  if (typeof params.host === 'string' && params.host !== '' && !params.host.startsWith('/'))
    base['server.address'] = params.host;
  const port = Number(params.port);
  if (Number.isInteger(port) && port > 0) base['server.port'] = port;
  return attachState(client, STATE, { base, statements: new Map() });
}

/** The query text of `client.query`'s first argument (a string, a config or a submittable). */
function textOf(config: unknown): string | undefined {
  if (typeof config === 'string') return config;
  const t = (config as { text?: unknown } | null | undefined)?.text;
  return typeof t === 'string' ? t : undefined;
}

/** `{operation} {collection}`, else the operation, else the system (stable span name). */
function spanName(d: SqlDescription | undefined, base: Attributes): string {
  if (d?.operation === undefined) return 'postgresql';
  if (d.collection !== undefined) return `${d.operation} ${d.collection}`;
  const ns = base['db.namespace'];
  return typeof ns === 'string' ? `${d.operation} ${ns}` : d.operation;
}

function statementOf(
  metric: DbDurationMetric,
  state: ClientState,
  d: SqlDescription | undefined,
): Statement {
  let st = state.statements.get(d);
  if (st !== undefined) return st;
  // The span's attributes are the metric's and the sanitized text.
  const forMetric = metricAttributes(state.base, d);
  const attributes: Attributes =
    d === undefined ? forMetric : { ...forMetric, 'db.query.text': d.text };
  st = {
    name: spanName(d, state.base),
    // Shared by every span of the statement: the SDK copies span attributes, never keeps these.
    attributes: Object.freeze(attributes),
    slot: metric.bind(forMetric),
    d,
  };
  if (state.statements.size >= MAX_STATEMENTS) state.statements.clear();
  state.statements.set(d, st);
  return st;
}

function metricAttributes(base: Attributes, d: SqlDescription | undefined): Attributes {
  const a: Attributes = { ...base };
  if (d?.operation !== undefined) a['db.operation.name'] = d.operation;
  if (d?.collection !== undefined) a['db.collection.name'] = d.collection;
  return a;
}

/**
 * The wrapper of `Client.prototype.query` (exported for the unit tests). `getTracer` is read per
 * call: the SDK may hand the instrumentation another provider after it patched.
 */
export function wrapQuery(
  original: AnyFn,
  getTracer: () => Tracer,
  metric: DbDurationMetric,
): AnyFn {
  return function query(
    this: PgClientLike,
    config: unknown,
    values?: unknown,
    callback?: unknown,
  ): unknown {
    let call: PgCall;
    try {
      if (config === null || config === undefined)
        return original.call(this, config, values, callback);
      const parent = context.active();
      const state = stateOf(this);
      const text = textOf(config);
      const st = statementOf(metric, state, text === undefined ? undefined : describeSql(text));
      const span = getTracer().startSpan(
        st.name,
        { kind: SpanKind.CLIENT, attributes: st.attributes },
        parent,
      );
      // A callback runs in the caller's context (as upstream's): only worth binding in a trace.
      call = new PgCall(span, metric, state, st, trace.getSpan(parent) ? parent : undefined);
    } catch (err) {
      diag.debug(`echoes-otel: pg query not traced (${String(err)})`);
      return original.call(this, config, values, callback);
    }
    // Whichever completion the call uses gets the span's end.
    const submittable =
      typeof (config as Submittable).submit === 'function' ? (config as Submittable) : undefined;
    if (typeof callback === 'function') callback = call.wrap(callback as AnyFn);
    else if (typeof values === 'function') values = call.wrap(values as AnyFn);
    else if (submittable === undefined && typeof (config as Submittable).callback === 'function') {
      // A config object carrying its callback: a copy, the app's object stays as it was.
      config = {
        ...(config as object),
        callback: call.wrap((config as Submittable).callback as AnyFn),
      };
    } else if (submittable !== undefined) {
      if (typeof submittable.callback === 'function') {
        submittable.callback = call.wrap(submittable.callback as AnyFn);
      } else if (typeof submittable.once === 'function') {
        // pg.Query, pg-cursor, pg-query-stream: events, no promise.
        submittable.once('end', () => call.finish(undefined));
        submittable.once('error', (err: unknown) => call.finish(err));
      }
    }
    let result: unknown;
    try {
      result = original.call(this, config, values, callback);
    } catch (err) {
      call.finish(err);
      throw err;
    }
    if (
      submittable === undefined &&
      result !== null &&
      typeof (result as PromiseLike<unknown>)?.then === 'function'
    ) {
      // The app gets the chained promise: same value, same rejection (still unhandled if it
      // does not handle it), and the span ends before its continuation runs.
      return (result as PromiseLike<unknown>).then(
        (res) => {
          call.finish(undefined);
          return res;
        },
        (err: unknown) => {
          call.finish(err);
          throw err;
        },
      );
    }
    if (
      submittable !== undefined &&
      typeof submittable.once !== 'function' &&
      !submittable.callback
    )
      call.finish(undefined);
    return result;
  };
}

/**
 * One query in flight. A class, not closures: the bundle keeps function names (esbuild
 * `keepNames`), which costs a property definition for every named closure created per call.
 */
class PgCall {
  private done = false;
  private readonly t0 = performance.now();
  constructor(
    private readonly span: Span,
    private readonly metric: DbDurationMetric,
    private readonly state: ClientState,
    private readonly st: Statement,
    /** The caller's context, when it is worth binding a callback to. */
    private readonly parent: Context | undefined,
  ) {}

  finish(err: unknown): void {
    if (this.done) return;
    this.done = true;
    try {
      end(this.span, err, (performance.now() - this.t0) / 1000, this.metric, this.state, this.st);
    } catch (e) {
      diag.debug(`echoes-otel: pg span end failed (${String(e)})`);
    }
  }

  /**
   * The app's callback, ending the span first and run in the caller's context: one wrapper, not a
   * `context.bind` wrapper inside ours (bind defines `length` on each wrapper it makes, per query).
   */
  wrap(cb: AnyFn): AnyFn {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the callback's own `this` is pg's
    const call = this;
    return function (this: unknown, err: unknown, res: unknown) {
      call.finish(err);
      const parent = call.parent;
      return parent === undefined
        ? cb.call(this, err, res)
        : context.with(parent, cb, this, err, res);
    };
  }
}

function end(
  span: Span,
  err: unknown,
  seconds: number,
  metric: DbDurationMetric,
  state: ClientState,
  st: Statement,
): void {
  if (err === undefined || err === null) {
    span.end();
    st.slot.record(seconds, span);
    return;
  }
  const type = dbErrorType(err);
  span.setAttribute('error.type', type);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
  // No message: Postgres quotes the offending value in many of them.
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
  // Errors are rare: their attribute sets are bound each time (fast-metrics finds the slot).
  metric.bind({ ...metricAttributes(state.base, st.d), 'error.type': type }).record(seconds, span);
}

interface PgClass {
  prototype: { query: AnyFn };
}

function clientClassOf(exports: unknown): PgClass | undefined {
  const e = moduleExports<PgClass>(exports);
  return typeof e?.prototype?.query === 'function' ? e : undefined;
}

export class PgInstrumentation extends InstrumentationBase<InstrumentationConfig> {
  constructor(
    private readonly metric: DbDurationMetric,
    config: InstrumentationConfig = {},
  ) {
    super(PG_SCOPE, VERSION, config);
  }

  protected init() {
    const versions = ['>=8.0.3 <9'];
    const patchClass = (exports: unknown): unknown => {
      this.patchClient(clientClassOf(exports));
      return exports;
    };
    const unpatchClass = (exports: unknown): void => {
      const C = clientClassOf(exports);
      if (C !== undefined && isWrapped(C.prototype.query)) this._unwrap(C.prototype, 'query');
    };
    return [
      new InstrumentationNodeModuleDefinition(
        'pg',
        versions,
        (exports: unknown) => {
          this.patchClient(clientClassOf(moduleExports<{ Client?: unknown }>(exports)?.Client));
          return exports;
        },
        (exports: unknown) => unpatchClass(moduleExports<{ Client?: unknown }>(exports)?.Client),
        [
          new InstrumentationNodeModuleFile('pg/lib/client.js', versions, patchClass, unpatchClass),
          new InstrumentationNodeModuleFile(
            'pg/lib/native/client.js',
            versions,
            patchClass,
            unpatchClass,
          ),
        ],
      ),
    ];
  }

  private patchClient(C: PgClass | undefined): void {
    if (C === undefined || isWrapped(C.prototype.query)) return;
    this._wrap(
      C.prototype,
      'query',
      (original) => wrapQuery(original, () => this.tracer, this.metric) as typeof original,
    );
  }
}
