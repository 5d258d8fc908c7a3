import { createRequire } from 'node:module';
import {
  context,
  diag,
  SpanKind,
  SpanStatusCode,
  type AttributeValue,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { SeverityNumber, type LogRecord } from '@opentelemetry/api-logs';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  isWrapped,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import type { GenAiMetric, GenAiSlot } from './genai-metrics.js';
import { moduleExports } from './module-exports.js';
import { adoptAttributes, setSpan } from './otel-api.js';

/**
 * The `openai` client (4.19 to 6.x, any OpenAI-compatible baseURL), our own lean instrumentation
 * (docs/performance.md says why: upstream's instrumentation-openai cost ~125 µs per call in the
 * real-service profile, bench/genai-openai.mjs). It patches what upstream patches: `create` of
 * `Chat.Completions`, `Embeddings` and (v5+) `Responses`, and makes the same client span:
 * `{operation} {request model}`, kind CLIENT, a child of the active span and the parent of the
 * HTTP client span of the call, with upstream's attributes
 * (gen_ai.operation.name, gen_ai.request.model and request parameters, gen_ai.system for chat and
 * embeddings or gen_ai.provider.name for responses, server.address / server.port from the
 * baseURL, gen_ai.response.id / model / finish_reasons, gen_ai.usage.input_tokens /
 * output_tokens, error.type the error's class). Streams end at their last chunk (usage from the
 * final chunk when the request asked for it), or when the app stops iterating or the stream fails.
 *
 * gen_ai.client.operation.duration and gen_ai.client.token.usage are recorded through the
 * GenAiMetric it is handed (genai-metrics.ts: fast-metrics with exemplars), from slots bound once
 * per (request model, response model, server), with upstream's attributes.
 *
 * Content: log events only when `captureMessageContent` is on (then upstream's events, with the
 * content, through the logger provider genai.ts hands it, which redacts). Off, no event at all and
 * no prompt on the span (upstream puts the Responses API's `instructions` on its span whatever the
 * setting; we do only when capturing). The API key is never read.
 */

const require = createRequire(import.meta.url);

const VERSION = '0.1.0';
export const OPENAI_SCOPE = 'echoes-otel/openai';

export interface OpenAIInstrumentationConfig extends InstrumentationConfig {
  /** Prompts and completions as log events (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). */
  captureMessageContent?: boolean;
}

type AnyFn = (...args: unknown[]) => unknown;
type Operation = 'chat' | 'embeddings' | 'responses';

/** What one (operation, request model, baseURL) shares: span name, attributes, metric slots. */
interface Site {
  readonly name: string;
  /** Start attributes of the span and of both metrics (upstream's `commonAttrs`). */
  readonly common: Attributes;
  /** Duration and token slots by response model ('' when the response names none). */
  readonly slots: Map<string, Slots>;
}

interface Slots {
  readonly duration: GenAiSlot;
  readonly input: GenAiSlot;
  readonly output: GenAiSlot;
}

/** Bound on remembered sites and parsed baseURLs (a model name per request would grow them). */
const MAX_SITES = 256;

const PORT_OF_PROTOCOL: Record<string, number> = { 'https:': 443, 'http:': 80 };

/** server.address / server.port of a baseURL, as upstream's getAttrsFromBaseURL. */
const servers = new Map<string, Attributes>();
function serverOf(baseURL: unknown): Attributes {
  if (typeof baseURL !== 'string' || baseURL === '') return {};
  let s = servers.get(baseURL);
  if (s !== undefined) return s;
  s = {};
  try {
    const u = new URL(baseURL);
    s['server.address'] = u.hostname;
    const port = u.port ? Number(u.port) : PORT_OF_PROTOCOL[u.protocol];
    if (port !== undefined) s['server.port'] = port;
  } catch {
    // openai itself refuses a bad baseURL first; without it, no server attributes
  }
  if (servers.size >= MAX_SITES) servers.clear();
  servers.set(baseURL, s);
  return s;
}

interface Params {
  model?: unknown;
  stream?: unknown;
  messages?: unknown;
  frequency_penalty?: unknown;
  max_completion_tokens?: unknown;
  max_tokens?: unknown;
  max_output_tokens?: unknown;
  presence_penalty?: unknown;
  stop?: unknown;
  temperature?: unknown;
  top_p?: unknown;
  encoding_format?: unknown;
  instructions?: unknown;
}

function put(a: Attributes | undefined, key: string, value: unknown): Attributes {
  const out = a ?? {};
  out[key] = value as AttributeValue;
  return out;
}

/**
 * The request parameters upstream records, on top of the site's attributes (undefined: none, the
 * site's frozen attributes are the span's as they are). Module functions, not per-call closures:
 * the bundle's `keepNames` names every named closure it creates.
 */
function requestAttributes(op: Operation, p: Params, capture: boolean): Attributes | undefined {
  let a: Attributes | undefined;
  if (op === 'chat') {
    if (p.frequency_penalty != null)
      a = put(a, 'gen_ai.request.frequency_penalty', p.frequency_penalty);
    if (typeof p.max_completion_tokens === 'number')
      a = put(a, 'gen_ai.request.max_tokens', p.max_completion_tokens);
    else if (typeof p.max_tokens === 'number')
      a = put(a, 'gen_ai.request.max_tokens', p.max_tokens);
    if (typeof p.presence_penalty === 'number')
      a = put(a, 'gen_ai.request.presence_penalty', p.presence_penalty);
    if (p.stop != null)
      a = put(a, 'gen_ai.request.stop_sequences', Array.isArray(p.stop) ? p.stop : [p.stop]);
    if (p.temperature != null) a = put(a, 'gen_ai.request.temperature', p.temperature);
    if (p.top_p != null) a = put(a, 'gen_ai.request.top_p', p.top_p);
  } else if (op === 'embeddings') {
    if (p.encoding_format != null)
      a = put(a, 'gen_ai.request.encoding_formats', [p.encoding_format]);
  } else {
    if (capture && p.instructions != null) a = put(a, 'gen_ai.system_instructions', p.instructions);
    if (p.max_output_tokens != null) a = put(a, 'gen_ai.request.max_tokens', p.max_output_tokens);
    if (p.temperature != null) a = put(a, 'gen_ai.request.temperature', p.temperature);
    if (p.top_p != null) a = put(a, 'gen_ai.request.top_p', p.top_p);
  }
  return a;
}

/** A message's content as upstream's events carry it: parts joined (text parts only, for some). */
function contentText(content: unknown, onlyText: boolean): unknown {
  if (!Array.isArray(content)) return content;
  return (content as Array<{ type?: string; text?: string }>)
    .filter((part) => !onlyText || part.type === 'text')
    .map((part) => part.text)
    .join('');
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  input_tokens?: unknown;
  output_tokens?: unknown;
}

interface Choice {
  index?: number;
  finish_reason?: unknown;
  message?: { content?: unknown; tool_calls?: unknown[] };
  delta?: { content?: unknown; tool_calls?: ToolCallPart[] };
}

interface ToolCallPart {
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

interface ChatResult {
  id?: unknown;
  model?: unknown;
  choices?: Choice[];
  usage?: Usage | null;
}

interface ResponsesResult {
  id?: unknown;
  model?: unknown;
  conversation?: { id?: unknown } | null;
  output?: unknown[];
  usage?: Usage | null;
}

interface StreamLike {
  iterator?: () => AsyncIterator<unknown>;
}

/** Upstream's converters of Responses API items (a pure module), loaded at the first such call. */
interface Converters {
  ConvertResponseInputsToInputMessagesUseCase: new (capture: boolean) => {
    convert(params: unknown): unknown;
  };
  ConvertResponseOutputsToOutputMessagesUseCase: new (capture: boolean) => {
    convert(items: unknown[]): Array<{ finish_reason?: unknown }>;
  };
}
let converters: Converters | undefined;
function responseConverters(): Converters {
  return (converters ??=
    require('@opentelemetry/instrumentation-openai/build/src/responses.js') as Converters);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && v >= 0 ? v : undefined);

/**
 * One model call in flight. A class, not closures: the bundle keeps function names (esbuild
 * `keepNames`), which costs a property definition for every named closure created per call.
 */
class GenAiCall {
  private readonly t0 = performance.now();
  private done = false;
  responseModel: unknown;
  input: number | undefined;
  output: number | undefined;
  /** Streaming state: response id, and finish reasons by choice index. */
  id: unknown;
  finishReasons: unknown[] | undefined;
  /** Streamed choices' content and tool calls, kept only when capturing (for the choice events). */
  choices: Array<{ content?: string; toolCalls?: ToolCallPart[] } | undefined> | undefined;

  constructor(
    private readonly inst: OpenAIInstrumentation,
    readonly span: Span,
    private readonly site: Site,
    readonly op: Operation,
    readonly ctx: Context,
    readonly capture: boolean,
  ) {}

  /** A non-streamed result. */
  onResult(result: unknown): void {
    try {
      if (this.op === 'chat') this.chatResult(result as ChatResult);
      else if (this.op === 'embeddings') {
        const r = result as ChatResult;
        this.responseModel = r.model;
        this.span.setAttribute('gen_ai.response.model', r.model as AttributeValue);
        this.input = num(r.usage?.prompt_tokens);
        if (r.usage != null)
          this.span.setAttribute('gen_ai.usage.input_tokens', r.usage.prompt_tokens as number);
      } else this.responsesResult(result as ResponsesResult);
    } catch (err) {
      diag.debug(`echoes-otel: openai result not read (${String(err)})`);
    }
    this.end();
  }

  /** The response's id, model and token usage (chat and Responses name the usage fields apart). */
  private response(
    id: unknown,
    model: unknown,
    input: unknown,
    output: unknown,
    hasUsage: boolean,
  ): void {
    const span = this.span;
    span.setAttribute('gen_ai.response.id', id as AttributeValue);
    span.setAttribute('gen_ai.response.model', model as AttributeValue);
    this.responseModel = model;
    if (hasUsage) {
      span.setAttribute('gen_ai.usage.input_tokens', input as number);
      span.setAttribute('gen_ai.usage.output_tokens', output as number);
      this.input = num(input);
      this.output = num(output);
    }
  }

  private chatResult(r: ChatResult): void {
    const span = this.span;
    const choices = r.choices ?? [];
    span.setAttribute(
      'gen_ai.response.finish_reasons',
      choices.map((c) => c.finish_reason) as AttributeValue,
    );
    this.response(r.id, r.model, r.usage?.prompt_tokens, r.usage?.completion_tokens, !!r.usage);
    if (this.capture) {
      for (const c of choices) {
        const message: Record<string, unknown> = {};
        if (c.message?.content) message.content = c.message.content;
        if (c.message?.tool_calls) message.tool_calls = c.message.tool_calls;
        this.inst.event('gen_ai.choice', this.ctx, {
          finish_reason: c.finish_reason,
          index: c.index,
          message,
        });
      }
    }
  }

  private responsesResult(r: ResponsesResult): void {
    const span = this.span;
    if (r.conversation) span.setAttribute('gen_ai.conversation.id', r.conversation.id as string);
    this.response(r.id, r.model, r.usage?.input_tokens, r.usage?.output_tokens, !!r.usage);
    const outputs = new (responseConverters().ConvertResponseOutputsToOutputMessagesUseCase)(
      this.capture,
    ).convert(r.output ?? []);
    span.setAttribute('gen_ai.response.finish_reasons', [outputs[0]?.finish_reason] as string[]);
    if (this.capture) this.inst.responsesEvent('gen_ai.output.messages', outputs, this.ctx);
  }

  /** One streamed chunk (chat) or event (responses), as upstream reads it. */
  onChunk(chunk: unknown): void {
    try {
      if (this.op === 'chat') this.chatChunk(chunk as ChatResult);
      else
        this.responsesEvent(chunk as { type?: string; response?: ResponsesResult; item?: unknown });
    } catch (err) {
      diag.debug(`echoes-otel: openai stream chunk not read (${String(err)})`);
    }
  }

  private chatChunk(chunk: ChatResult): void {
    const first = chunk.choices?.[0];
    const idx = first?.index ?? 0;
    if (this.id === undefined && chunk.id) this.id = chunk.id;
    if (this.responseModel === undefined && chunk.model) this.responseModel = chunk.model;
    const reasons = (this.finishReasons ??= []);
    if (!reasons[idx] && first?.finish_reason) reasons[idx] = first.finish_reason;
    if (chunk.usage) {
      this.input = num(chunk.usage.prompt_tokens);
      this.output = num(chunk.usage.completion_tokens);
      this.span.setAttribute('gen_ai.usage.input_tokens', chunk.usage.prompt_tokens as number);
      this.span.setAttribute('gen_ai.usage.output_tokens', chunk.usage.completion_tokens as number);
    }
    if (!this.capture) return;
    const choices = (this.choices ??= []);
    const choice = (choices[idx] ??= {});
    const part = first?.delta?.content;
    if (typeof part === 'string' && part !== '') choice.content = (choice.content ?? '') + part;
    const tc = first?.delta?.tool_calls?.[0];
    if (tc) {
      const calls = (choice.toolCalls ??= []);
      if (tc.id) {
        const repr: ToolCallPart = { id: tc.id, type: tc.type };
        if (tc.type === 'function')
          repr.function = { name: tc.function?.name, arguments: tc.function?.arguments ?? '' };
        calls.push(repr);
      } else if (calls.length > 0) {
        const last = calls[calls.length - 1]!;
        if (last.function !== undefined) last.function.arguments += tc.function?.arguments ?? '';
      }
    }
  }

  private responsesEvent(e: { type?: string; response?: ResponsesResult; item?: unknown }): void {
    if (e.type === 'response.created' && e.response) {
      this.id = e.response.id;
      this.responseModel = e.response.model;
      this.span.setAttributes({
        'gen_ai.response.id': e.response.id as AttributeValue,
        'gen_ai.response.model': e.response.model as AttributeValue,
        'gen_ai.conversation.id': e.response.conversation?.id as AttributeValue,
      });
    } else if (e.type === 'response.output_item.done') {
      const output = new (responseConverters().ConvertResponseOutputsToOutputMessagesUseCase)(
        this.capture,
      ).convert([e.item]);
      this.span.setAttribute('gen_ai.response.finish_reasons', [
        output[0]?.finish_reason,
      ] as string[]);
      if (this.capture) this.inst.responsesEvent('gen_ai.output.messages', output, this.ctx);
    } else if (e.type === 'response.completed') {
      const usage = e.response?.usage;
      this.span.setAttributes({
        'gen_ai.usage.input_tokens': usage?.input_tokens as number,
        'gen_ai.usage.output_tokens': usage?.output_tokens as number,
      });
      this.input = num(usage?.input_tokens);
      this.output = num(usage?.output_tokens);
    }
  }

  /** The stream ended (or the app stopped reading it). */
  onStreamEnd(): void {
    if (this.done) return;
    if (this.op === 'chat') {
      try {
        const span = this.span;
        if (this.id !== undefined) span.setAttribute('gen_ai.response.id', this.id as string);
        if (this.responseModel !== undefined)
          span.setAttribute('gen_ai.response.model', this.responseModel as string);
        const reasons = this.finishReasons ?? [];
        span.setAttribute(
          'gen_ai.response.finish_reasons',
          reasons.filter((f) => f !== undefined) as string[],
        );
        if (this.capture && this.choices !== undefined) {
          for (const [idx, choice] of this.choices.entries()) {
            if (!choice) continue;
            const message: Record<string, unknown> = {};
            if (choice.content) message.content = choice.content;
            if (choice.toolCalls && choice.toolCalls.length > 0)
              message.tool_calls = choice.toolCalls;
            this.inst.event('gen_ai.choice', this.ctx, {
              finish_reason: reasons[idx],
              index: idx,
              message,
            });
          }
        }
      } catch (err) {
        diag.debug(`echoes-otel: openai stream end not read (${String(err)})`);
      }
    }
    this.end();
  }

  /** The call failed: upstream's status and error.type (the error's class, e.g. RateLimitError). */
  onError(err: unknown): void {
    if (this.done) return;
    this.done = true;
    try {
      const type = (err as { constructor?: { name?: unknown } } | null)?.constructor?.name;
      const message = (err as { message?: unknown } | null)?.message;
      this.span.setStatus({
        code: SpanStatusCode.ERROR,
        ...(typeof message === 'string' ? { message } : {}),
      });
      if (typeof type === 'string') this.span.setAttribute('error.type', type);
      this.span.end();
      this.inst.metric
        .duration({
          ...this.site.common,
          'error.type': typeof type === 'string' && type !== '' ? type : '_OTHER',
        })
        .record((performance.now() - this.t0) / 1000, this.span);
    } catch (e) {
      diag.debug(`echoes-otel: openai span end failed (${String(e)})`);
    }
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.span.end();
      const slots = this.inst.slotsOf(this.site, this.responseModel);
      slots.duration.record((performance.now() - this.t0) / 1000, this.span);
      if (this.input !== undefined) slots.input.record(this.input, this.span);
      if (this.output !== undefined) slots.output.record(this.output, this.span);
    } catch (e) {
      diag.debug(`echoes-otel: openai span end failed (${String(e)})`);
    }
  }
}

/** The stream's iterator, read through: each chunk to the call, its end to the span's end. */
class StreamTap implements AsyncIterator<unknown> {
  private readonly onNext: (r: IteratorResult<unknown>) => IteratorResult<unknown>;
  private readonly onFail: (err: unknown) => never;
  constructor(
    private readonly inner: AsyncIterator<unknown>,
    call: GenAiCall,
  ) {
    this.onNext = (r) => {
      if (r.done) call.onStreamEnd();
      else call.onChunk(r.value);
      return r;
    };
    this.onFail = (err) => {
      call.onError(err);
      throw err;
    };
    this.call = call;
  }
  private readonly call: GenAiCall;
  next(): Promise<IteratorResult<unknown>> {
    return this.inner.next().then(this.onNext, this.onFail);
  }
  return(value?: unknown): Promise<IteratorResult<unknown>> {
    // The app stopped reading (break, or an exception in its loop): what was read is reported.
    this.call.onStreamEnd();
    return this.inner.return
      ? this.inner.return(value)
      : Promise.resolve({ done: true, value } as IteratorResult<unknown>);
  }
  throw(err?: unknown): Promise<IteratorResult<unknown>> {
    this.call.onError(err);
    return this.inner.throw ? this.inner.throw(err) : Promise.reject(err);
  }
  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return this;
  }
}

interface OpenAIExports {
  OpenAI?: {
    Chat?: { Completions?: { prototype: { create: AnyFn } } };
    Embeddings?: { prototype: { create: AnyFn } };
    Responses?: { prototype: { create: AnyFn } };
  };
}

/** The resources to patch: [prototype, operation]. */
function targetsOf(exports: unknown): Array<[{ create: AnyFn }, Operation]> {
  const O = moduleExports<OpenAIExports>(exports)?.OpenAI;
  const out: Array<[{ create: AnyFn }, Operation]> = [];
  const chat = O?.Chat?.Completions?.prototype;
  if (typeof chat?.create === 'function') out.push([chat, 'chat']);
  const emb = O?.Embeddings?.prototype;
  if (typeof emb?.create === 'function') out.push([emb, 'embeddings']);
  const resp = O?.Responses?.prototype;
  if (typeof resp?.create === 'function') out.push([resp, 'responses']);
  return out;
}

export class OpenAIInstrumentation extends InstrumentationBase<OpenAIInstrumentationConfig> {
  private readonly sites = new Map<string, Site>();
  private capture = false;

  constructor(
    readonly metric: GenAiMetric,
    config: OpenAIInstrumentationConfig = {},
  ) {
    super(OPENAI_SCOPE, VERSION, config);
    this.capture = config.captureMessageContent === true;
  }

  override setConfig(config: OpenAIInstrumentationConfig = {}): void {
    super.setConfig(config);
    this.capture = config.captureMessageContent === true;
  }

  // `duplicates` pairs this with db-ioredis.ts's init: the InstrumentationBase module-definition
  // form every lean instrumentation of ours declares (package, versions, patch, unpatch).
  protected init() {
    return [
      new InstrumentationNodeModuleDefinition(
        'openai',
        ['>=4.19.0 <7'],
        (exports: unknown) => {
          for (const [proto, op] of targetsOf(exports)) {
            if (isWrapped(proto.create)) continue;
            this._wrap(proto, 'create', (original) => this.wrapCreate(original, op));
          }
          return exports;
        },
        (exports: unknown) => {
          for (const [proto] of targetsOf(exports))
            if (isWrapped(proto.create)) this._unwrap(proto, 'create');
        },
      ),
    ];
  }

  /** One resource's `create`, wrapped: a span per call, ended by its result, error or stream. */
  wrapCreate(original: AnyFn, op: Operation): AnyFn {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the wrapper's `this` is openai's
    const inst = this;
    return function create(this: { _client?: { baseURL?: unknown } }, ...args: unknown[]): unknown {
      let call: GenAiCall;
      let params: Params;
      try {
        if (!inst.isEnabled()) return original.apply(this, args);
        params = (args[0] ?? {}) as Params;
        call = inst.start(op, params, this?._client?.baseURL);
      } catch (err) {
        diag.debug(`echoes-otel: openai call not traced (${String(err)})`);
        return original.apply(this, args);
      }
      let apiPromise: PromiseLike<unknown>;
      try {
        apiPromise = context.with(call.ctx, original, this, ...args) as PromiseLike<unknown>;
      } catch (err) {
        call.onError(err);
        throw err;
      }
      if (apiPromise === null || typeof apiPromise?.then !== 'function') {
        call.onResult(apiPromise);
        return apiPromise;
      }
      // The app gets openai's own APIPromise (a Promise subclass with withResponse() and more);
      // ours is a side chain on it, as upstream's.
      if (params.stream) {
        apiPromise.then(
          (stream) => inst.tapStream(stream as StreamLike, call),
          (err: unknown) => call.onError(err),
        );
      } else {
        apiPromise.then(
          (result) => call.onResult(result),
          (err: unknown) => call.onError(err),
        );
      }
      return apiPromise;
    };
  }

  private tapStream(stream: StreamLike, call: GenAiCall): void {
    try {
      const iterator = stream?.iterator;
      if (typeof iterator !== 'function') {
        call.onStreamEnd();
        return;
      }
      // `iterator`, not Symbol.asyncIterator: Stream#tee() reads through it too.
      stream.iterator = function (this: unknown) {
        return new StreamTap(iterator.call(this), call);
      };
    } catch (err) {
      diag.debug(`echoes-otel: openai stream not traced (${String(err)})`);
      call.onStreamEnd();
    }
  }

  private start(op: Operation, params: Params, baseURL: unknown): GenAiCall {
    const site = this.siteOf(op, params.model, baseURL);
    const capture = this.capture;
    const extra = requestAttributes(op, params, capture);
    const span = this.tracer.startSpan(site.name, {
      kind: SpanKind.CLIENT,
      // site.common is shared by every call of the site: only a fresh object is handed over.
      attributes: extra === undefined ? site.common : adoptAttributes({ ...site.common, ...extra }),
    });
    const ctx = setSpan(context.active(), span);
    if (capture) {
      try {
        if (op === 'chat') this.messageEvents(params, ctx);
        else if (op === 'responses') {
          const inputs = new (responseConverters().ConvertResponseInputsToInputMessagesUseCase)(
            true,
          ).convert(params);
          this.responsesEvent('gen_ai.input.messages', inputs, ctx);
        }
      } catch (err) {
        diag.debug(`echoes-otel: openai request events not emitted (${String(err)})`);
      }
    }
    return new GenAiCall(this, span, site, op, ctx, capture);
  }

  private siteOf(op: Operation, model: unknown, baseURL: unknown): Site {
    const key = `${op}\0${String(model)}\0${String(baseURL)}`;
    let site = this.sites.get(key);
    if (site !== undefined) return site;
    const operation = op === 'embeddings' ? 'embeddings' : 'chat';
    const common: Attributes = {
      'gen_ai.operation.name': operation,
      'gen_ai.request.model': model as AttributeValue,
      [op === 'responses' ? 'gen_ai.provider.name' : 'gen_ai.system']: 'openai',
      ...serverOf(baseURL),
    };
    if (model === undefined || model === null) delete common['gen_ai.request.model'];
    site = {
      name: `${operation} ${String(model)}`,
      // Shared by every span of the site: the SDK copies span attributes, never keeps these.
      common: Object.freeze(common),
      slots: new Map(),
    };
    if (this.sites.size >= MAX_SITES) this.sites.clear();
    this.sites.set(key, site);
    return site;
  }

  /** The duration and token slots of a site and response model, bound on first use. */
  slotsOf(site: Site, responseModel: unknown): Slots {
    const key = typeof responseModel === 'string' ? responseModel : '';
    let s = site.slots.get(key);
    if (s !== undefined) return s;
    const attrs: Attributes =
      key === '' ? site.common : { ...site.common, 'gen_ai.response.model': key };
    s = {
      duration: this.metric.duration(attrs),
      input: this.metric.tokens({ ...attrs, 'gen_ai.token.type': 'input' }),
      output: this.metric.tokens({ ...attrs, 'gen_ai.token.type': 'output' }),
    };
    if (site.slots.size >= MAX_SITES) site.slots.clear();
    site.slots.set(key, s);
    return s;
  }

  /** A chat-completions event of upstream's (only ever called when capturing content). */
  event(name: string, ctx: Context, body: Record<string, unknown>): void {
    const record: LogRecord = {
      timestamp: Date.now(),
      context: ctx,
      severityNumber: SeverityNumber.INFO,
      attributes: { 'event.name': name, 'gen_ai.system': 'openai' },
      body: body as LogRecord['body'],
    };
    this.logger.emit(record);
  }

  /** A Responses API event of upstream's (only ever called when capturing content). */
  responsesEvent(attribute: string, messages: unknown, ctx: Context): void {
    this.logger.emit({
      timestamp: Date.now(),
      context: ctx,
      severityNumber: SeverityNumber.INFO,
      eventName: 'gen_ai.client.inference.operation.details',
      attributes: {
        'gen_ai.provider.name': 'openai',
        [attribute]: messages as AttributeValue,
      },
    });
  }

  /** The prompt's messages as upstream's events, with their content. */
  private messageEvents(params: Params, ctx: Context): void {
    const messages = Array.isArray(params.messages) ? params.messages : [];
    for (const msg of messages as Array<{
      role?: string;
      content?: unknown;
      tool_calls?: ToolCallPart[];
      tool_call_id?: unknown;
    }>) {
      switch (msg.role) {
        case 'system':
          this.event('gen_ai.system.message', ctx, { content: contentText(msg.content, false) });
          break;
        case 'user':
          this.event('gen_ai.user.message', ctx, { content: contentText(msg.content, true) });
          break;
        case 'assistant': {
          const body: Record<string, unknown> = {};
          if (msg.content) body.content = contentText(msg.content, true);
          body.tool_calls = msg.tool_calls?.map((tc) => {
            const repr: ToolCallPart = { id: tc.id, type: tc.type };
            if (tc.type === 'function')
              repr.function = { name: tc.function?.name, arguments: tc.function?.arguments };
            return repr;
          });
          this.event('gen_ai.assistant.message', ctx, body);
          break;
        }
        case 'tool':
          this.event('gen_ai.tool.message', ctx, {
            id: msg.tool_call_id,
            content: contentText(msg.content, false),
          });
          break;
        default:
          break;
      }
    }
  }
}
