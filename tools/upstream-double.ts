/**
 * An OpenAI-compatible upstream that can be told to fail in every way a real provider fails.
 * Tests, the demo and the benchmark all use it.
 *
 * Each provider is a path prefix: `http://host:port/<provider>/v1/chat/completions`. A script is
 * a queue of behaviours per provider; each request takes the next one (a behaviour with
 * `times: n` answers n requests), and an empty queue answers normally. Every request is recorded
 * (headers included).
 *
 * Routes under `/<provider>/v1/`: `chat/completions`, `completions`, `embeddings`, `models`
 * (OpenAI), `responses` (the Responses API, as a `native_responses` provider speaks it) and
 * `messages` (Anthropic's Messages API, anthropic-version 2023-06-01, as a `type: "anthropic"`
 * provider speaks it: a Message or its `event:`-named SSE stream — message_start, ping,
 * content_block_start/delta/stop per block, message_delta, message_stop — and errors in
 * Anthropic's `{"type":"error","error":{type,message}}` shape; the other routes answer errors in
 * OpenAI's shape). The Anthropic SDK's `baseURL` is `http://host:port/<provider>` (it appends
 * `/v1/messages`), that is `url(provider)` without its `/v1`.
 *
 * Google's Gemini API (generativelanguage v1beta, as a `type: "gemini"` provider speaks it, its
 * endpoint `http://host:port/<provider>/v1beta`, that is `url(provider)` with `v1beta` for `v1`):
 *   POST /<provider>/v1beta/models/<model>:generateContent            a GenerateContentResponse
 *        {candidates:[{content:{role:"model",parts},finishReason,index:0}],usageMetadata,modelVersion,responseId}
 *        (parts: `{text}`, then one `{functionCall:{name,args},thoughtSignature?}` per tool call)
 *   POST /<provider>/v1beta/models/<model>:streamGenerateContent?alt=sse   the same as data-only SSE
 *        (`data: <GenerateContentResponse>\r\n\r\n`, no `event:` lines, no [DONE]): one chunk per text
 *        piece then one per function call, each with cumulative usageMetadata, finishReason on the last
 *   POST /<provider>/v1beta/models/<model>:batchEmbedContents   {embeddings:[{values:[0.1,0.2,0.3,i]}]}, one per `requests[i]`
 * Errors there are Google's `{"error":{code,message,status}}` (see `geminiError`). `finishReason`
 * maps `length` → MAX_TOKENS, `content_filter` → SAFETY, `stop`/`tool_calls` → STOP, others as is.
 * The `@google/genai` SDK's `httpOptions: { baseUrl: url(provider) without /v1, apiVersion: 'v1beta' }`.
 *
 * Scriptable in-process (`createUpstreamDouble`) or over HTTP when run as a program:
 *   POST /_double/script/<provider>   body: a behaviour or a list of them (appended)
 *   POST /_double/default/<provider>  body: the behaviour when the script is empty
 *   GET  /_double/received/<provider> what that provider received
 *   GET  /_double/counts               how many requests each provider received
 *   POST /_double/reset               forget scripts and records
 *
 * A model slow to its first token: `stallAfterRole` holds a stream after its lifecycle frames, those a
 * provider sends before any content (chat: the role-only first chunk `delta:{role:"assistant",content:""}`;
 * `messages`: message_start and ping; `responses`: response.created and response.in_progress; Gemini:
 * only the headers), for some ms or for good (`true`: until the client leaves), with `: keep-alive`
 * SSE comments every `keepAliveMs` meanwhile; after a finite stall the stream goes on as it would have.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

export interface Behavior {
  /**
   * Answer this status; non-2xx answers carry an OpenAI-style error body unless `body` is given
   * (Anthropic's on the `messages` route, its `error.type` by status: 400 invalid_request_error,
   * 401 authentication_error, 403 permission_error, 404 not_found_error, 413 request_too_large,
   * 429 rate_limit_error, 500 api_error, 529 overloaded_error; other 4xx/5xx invalid_request_error/api_error;
   * Google's on the Gemini routes, its `error.status` by status: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED,
   * 403 PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE,
   * 504 DEADLINE_EXCEEDED; other 4xx/5xx FAILED_PRECONDITION/INTERNAL).
   */
  status?: number;
  /** A body to send as is (string) or as JSON (anything else). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as the `Retry-After` header. */
  retryAfter?: number | string;
  /** Read the request and never answer. */
  hang?: boolean;
  /** Destroy the connection without answering. */
  reset?: boolean;
  /** Destroy the connection without answering, for this share of the requests (0–1). */
  resetRate?: number;
  /** Wait this long before the first byte. */
  delayMs?: number;
  /** Wait this long between SSE events. */
  chunkDelayMs?: number;
  /** How many content pieces a stream carries (default 3). */
  chunks?: number;
  /** Pad each streamed content piece with this many extra characters (large streams). */
  padChunks?: number;
  /**
   * Streams only: after the lifecycle frames (chat: the role-only first chunk; `messages`:
   * message_start and ping; `responses`: response.created and response.in_progress; Gemini:
   * nothing but the headers), stall this long (ms) before the content, or for good with `true`
   * (the connection stays open until the client leaves).
   */
  stallAfterRole?: number | true;
  /** While stalled (`stallAfterRole`, `stallAfterChunks`), send an SSE comment (`: keep-alive`) this often (ms). */
  keepAliveMs?: number;
  /** Streams only: stall `ms` after this many events were written (a silence in the middle of a stream). */
  stallAfterChunks?: { after: number; ms: number };
  /** Destroy the connection after this many SSE events were written (on `messages`, `ping` counts as one). */
  dropAfterChunks?: number;
  /** Report usage (default true): in JSON answers, and in a stream's last chunk when asked for. Ignored by `messages` and Gemini: they always report it. */
  usage?: boolean;
  /** Answer with a tool call instead of text (`get_weather`, or the one given by `toolCall`). */
  toolCalls?: boolean;
  /** The tool call to answer with (implies `toolCalls`). */
  toolCall?: { name: string; arguments: string; id?: string };
  /** Several tool calls in one answer (implies `toolCalls`); streamed one after another. */
  toolCallList?: Array<{ name: string; arguments: string; id?: string }>;
  /**
   * The finish reason to end with instead of `stop` / `tool_calls` (e.g. `length`). On `messages`
   * it becomes the `stop_reason`: `length` → `max_tokens`, `stop` → `end_turn`, `tool_calls` →
   * `tool_use`, `content_filter` → `refusal`, anything else as is (`pause_turn`, `refusal`…).
   */
  finishReason?: string;
  /** Embeddings: answer floats whatever `encoding_format` asks (as some OpenAI-compatible providers do). */
  ignoreEncoding?: boolean;
  /** Answer 200 with an HTML page. */
  html?: boolean;
  /** Answer 200 with a body that is not JSON. */
  invalidJson?: boolean;
  /** Answer 302 to this location. */
  redirect?: string;
  /**
   * The reply text (default `Hello from <provider>`). On `messages` with a tool call, a `content`
   * given explicitly comes as a text block before the tool_use blocks (without it, only tool_use).
   */
  content?: string;
  /** How many requests this behaviour answers (default 1). */
  times?: number;
  /** Before a stream's first data event, send this many bytes of SSE comments (`every` ms apart, in pieces of `piece` bytes). */
  prelude?: { bytes: number; piece?: number; every?: number };
  /** Answer a stream 200 whose first data event is an error (on `messages`: `event: error`, an overloaded_error). */
  errorEvent?: boolean;
  /** End a stream cleanly after its content, without a finish reason and without `[DONE]`. */
  truncate?: boolean;
  /**
   * The usage object to report instead of the computed one. On `messages` only an Anthropic usage
   * object counts (one with `input_tokens` or `output_tokens`), laid over the computed one; its
   * `input_tokens` and cache counts go in message_start, its `output_tokens` in message_delta.
   * On Gemini only a usageMetadata counts (one with `promptTokenCount`), laid over the computed one
   * (`totalTokenCount` recomputed unless given; `thoughtsTokenCount`, `cachedContentTokenCount` as given),
   * on every chunk of a stream.
   */
  usageValue?: Record<string, unknown>;
  /** Report logprobs for the content (JSON and streams). */
  logprobs?: boolean;
  /** Report this `service_tier`. */
  serviceTier?: string;
  /**
   * `messages` only: answer a thinking block first (`{type:"thinking", thinking, signature:"sig_double_…"}`),
   * with this text, or a stock one for `true`; streamed as thinking_delta pieces then one signature_delta.
   */
  thinking?: boolean | string;
  /** Gemini only: the `thoughtSignature` put on each functionCall part (as Gemini 3 does; it must come back in the next request). */
  thoughtSignature?: string;
  /**
   * Gemini only: answer this error (its `status` unless `status` is given) in Google's richer form:
   * `details` carry a google.rpc.ErrorInfo `{reason, domain:"googleapis.com"}` when `reason` is given or
   * the status is 400 (reason API_KEY_INVALID), and a google.rpc.RetryInfo `{retryDelay}` when
   * `retryDelay` is given or the status is 429 (17s).
   */
  geminiError?: { status: number; reason?: string; retryDelay?: string };
}

export interface Received {
  provider: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The connection closed before the answer was complete (client or gateway went away). */
  closedEarly: boolean;
  /** The whole answer was written. */
  finished: boolean;
}

export interface UpstreamDouble {
  readonly port: number;
  /** Base URL of one provider, to use as `endpoint`: `http://127.0.0.1:<port>/<provider>/v1`. */
  url(provider: string): string;
  script(provider: string, ...behaviors: Behavior[]): void;
  /** How a provider answers when its script is empty (default: normally). */
  setDefault(provider: string, behavior: Behavior): void;
  received(provider: string): Received[];
  /** Sockets open right now. */
  openConnections(): number;
  reset(): void;
  close(): Promise<void>;
}

interface Queued {
  behavior: Behavior;
  left: number;
}

// `/<provider>/v1/…`, and Azure OpenAI's forms: `/<provider>/openai/v1/…` and `/<provider>/openai/deployments/<name>/…?api-version=…`.
const ROUTE = /^\/([^/]+)\/(?:v1|openai\/v1|openai\/deployments\/[^/]+)\/(chat\/completions|completions|embeddings|models|responses|messages)\/?$/;
// Gemini's model actions: `/<provider>/v1beta/models/<model>:<action>` (the query, e.g. `?alt=sse`, is cut off before).
const GEMINI_ROUTE = /^\/([^/]+)\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/;

export async function createUpstreamDouble(opts: { port?: number; host?: string; record?: boolean } = {}): Promise<UpstreamDouble> {
  const scripts = new Map<string, Queued[]>();
  const defaults = new Map<string, Behavior>();
  /** Requests per provider, kept even when not recording. */
  const counts = new Map<string, number>();
  const recording = opts.record !== false;
  const records = new Map<string, Received[]>();
  const sockets = new Set<Socket>();
  const host = opts.host ?? '127.0.0.1';

  const next = (provider: string): Behavior => {
    const queue = scripts.get(provider);
    const head = queue?.[0];
    if (!queue || !head) return defaults.get(provider) ?? {};
    head.left -= 1;
    if (head.left <= 0) queue.shift();
    return head.behavior;
  };
  const addScript = (provider: string, behaviors: Behavior[]): void => {
    const queue = scripts.get(provider) ?? [];
    for (const b of behaviors) queue.push({ behavior: b, left: b.times ?? 1 });
    scripts.set(provider, queue);
  };

  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const url = req.url ?? '/';
    if (url.startsWith('/_double/')) return control(req.method ?? 'GET', url, text, res);
    const route = url.split('?')[0] ?? '';
    const gemini = GEMINI_ROUTE.exec(route);
    // The Gemini routes come through as kind `gemini:<action>`, the model (from the path) as a fourth group.
    const match = gemini ? [gemini[0], gemini[1], `gemini:${gemini[3] ?? ''}`, decodeURIComponent(gemini[2] ?? '')] : ROUTE.exec(route);
    if (!match) return sendJson(res, 404, errorBody(`no route ${req.method} ${url}`));
    // Azure answers a deployment URL without api-version 404, as here.
    if (url.includes('/openai/deployments/') && !/[?&]api-version=[^&]+/.test(url)) return sendJson(res, 404, errorBody('Resource not found (no api-version)'));
    const provider = decodeURIComponent(match[1] ?? '');
    const kind = match[2] ?? '';
    counts.set(provider, (counts.get(provider) ?? 0) + 1);
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* recorded as text */
    }
    const record: Received = { provider, method: req.method ?? '', path: url, headers: { ...req.headers }, body, closedEarly: false, finished: false };
    if (recording) {
      const list = records.get(provider) ?? [];
      list.push(record);
      records.set(provider, list);
    }
    res.on('close', () => {
      if (!res.writableFinished) record.closedEarly = true;
    });
    res.on('finish', () => {
      record.finished = true;
    });
    await answer(next(provider), provider, kind, body, req, res, match[3]);
  }

  function control(method: string, url: string, text: string, res: ServerResponse): void {
    const [, , action, provider] = url.split('/');
    if (method === 'POST' && action === 'script' && provider) {
      const parsed = JSON.parse(text || '[]') as Behavior | Behavior[];
      addScript(decodeURIComponent(provider), Array.isArray(parsed) ? parsed : [parsed]);
      return sendJson(res, 200, { ok: true });
    }
    if (method === 'POST' && action === 'default' && provider) {
      defaults.set(decodeURIComponent(provider), JSON.parse(text || '{}') as Behavior);
      return sendJson(res, 200, { ok: true });
    }
    if (method === 'GET' && action === 'counts') return sendJson(res, 200, Object.fromEntries(counts));
    if (method === 'GET' && action === 'received' && provider) {
      return sendJson(res, 200, records.get(decodeURIComponent(provider)) ?? []);
    }
    if (method === 'POST' && action === 'reset') {
      scripts.clear();
      records.clear();
      defaults.clear();
      return sendJson(res, 200, { ok: true });
    }
    sendJson(res, 404, errorBody('unknown control'));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    url: (provider) => `http://${host}:${port}/${encodeURIComponent(provider)}/v1`,
    script: (provider, ...behaviors) => addScript(provider, behaviors),
    setDefault: (provider, behavior) => void defaults.set(provider, behavior),
    received: (provider) => records.get(provider) ?? [],
    openConnections: () => sockets.size,
    reset: () => {
      scripts.clear();
      records.clear();
      defaults.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(b: Behavior, provider: string, kind: string, body: unknown, req: IncomingMessage, res: ServerResponse, pathModel?: string): Promise<void> {
  if (b.hang) return;
  if (b.reset || (b.resetRate !== undefined && Math.random() < b.resetRate)) {
    req.socket.destroy();
    return;
  }
  if (b.delayMs) await sleep(b.delayMs);
  if (res.destroyed) return;
  const extra: Record<string, string> = { ...b.headers };
  if (b.retryAfter !== undefined) extra['retry-after'] = String(b.retryAfter);

  if (b.redirect) {
    res.writeHead(302, { location: b.redirect, 'content-type': 'application/json', ...extra });
    res.end(JSON.stringify(errorBody('moved')));
    return;
  }
  if (b.html) {
    res.writeHead(b.status ?? 200, { 'content-type': 'text/html', ...extra });
    res.end('<html><body><h1>Welcome to nginx!</h1></body></html>');
    return;
  }
  if (b.invalidJson) {
    res.writeHead(b.status ?? 200, { 'content-type': 'application/json', ...extra });
    res.end('{"id": "chatcmpl-broken", "choices": [');
    return;
  }
  const isGemini = kind.startsWith('gemini:');
  const status = b.status ?? (isGemini ? b.geminiError?.status : undefined) ?? 200;
  if (status < 200 || status >= 300 || b.body !== undefined) {
    const message = `upstream ${provider} says ${status}`;
    const payload = b.body ?? (isGemini ? geminiErrorBody(status, message, b.geminiError) : kind === 'messages' ? anthropicError(status, message) : errorBody(message));
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', ...extra });
    res.end(text);
    return;
  }

  const req_ = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const model = pathModel ?? (typeof req_.model === 'string' ? req_.model : 'unknown');
  if (isGemini) return geminiAnswer(kind.slice('gemini:'.length), req_, model, b, res, extra, provider);
  if (kind === 'models') return sendJson(res, 200, { object: 'list', data: [{ id: model, object: 'model', created: 0, owned_by: provider }] }, extra);
  if (kind === 'embeddings') return sendJson(res, 200, embeddings(req_, model, b), extra);
  if (kind === 'responses') return responses(req_, model, b, res, extra, provider);
  if (kind === 'messages') return messages(req_, model, b, res, extra, provider);

  const content = b.content ?? `Hello from ${provider}`;
  const promptTokens = Math.max(1, Math.ceil(JSON.stringify(req_.messages ?? req_.prompt ?? '').length / 4));
  const pieces = split(content, b.chunks ?? 3);
  const usage = b.usageValue ?? {
    prompt_tokens: promptTokens, completion_tokens: pieces.length, total_tokens: promptTokens + pieces.length,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
  const logprobsOf = (text: string): unknown => ({ content: [{ token: text, logprob: -0.25, bytes: [...Buffer.from(text)], top_logprobs: [] }], refusal: null });
  const tier = b.serviceTier !== undefined ? { service_tier: b.serviceTier } : {};
  const chat = kind === 'chat/completions';
  const id = `${chat ? 'chatcmpl' : 'cmpl'}-double-${Math.random().toString(36).slice(2, 10)}`;
  const created = Math.floor(Date.now() / 1000);

  if (req_.stream !== true) {
    const choice = chat
      ? {
        index: 0,
        message: withTools(b) ? { role: 'assistant', content: null, refusal: null, tool_calls: toolCallsOf(b) } : { role: 'assistant', content, refusal: null },
        logprobs: b.logprobs ? { content: pieces.flatMap((p) => (logprobsOf(p) as { content: unknown[] }).content), refusal: null } : null,
        finish_reason: b.finishReason ?? (withTools(b) ? 'tool_calls' : 'stop'),
      }
      : { index: 0, text: content, finish_reason: 'stop', logprobs: null };
    const out: Record<string, unknown> = { id, object: chat ? 'chat.completion' : 'text_completion', created, model, ...tier, choices: [choice] };
    if (b.usage !== false) out.usage = usage;
    return sendJson(res, 200, out, extra);
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...extra });
  const events: unknown[] = [];
  const chunk = (delta: unknown, finish: string | null, logprobs: unknown = null): unknown =>
    chat
      ? { id, object: 'chat.completion.chunk', created, model, ...tier, choices: [{ index: 0, delta, logprobs, finish_reason: finish }] }
      : { id, object: 'text_completion', created, model, choices: [{ index: 0, text: delta, finish_reason: finish, logprobs: null }] };
  if (chat) events.push(chunk({ role: 'assistant', content: '' }, null));
  if (withTools(b) && chat) {
    toolCallsOf(b).forEach((call, index) => {
      events.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }, null));
      for (const part of split(call.function.arguments, pieces.length)) events.push(chunk({ tool_calls: [{ index, function: { arguments: part } }] }, null));
    });
    events.push(chunk({}, b.finishReason ?? 'tool_calls'));
  } else {
    const pad = 'x'.repeat(b.padChunks ?? 0);
    for (const p of pieces) events.push(chunk(chat ? { content: p + pad } : p + pad, null, b.logprobs ? logprobsOf(p + pad) : null));
    if (!b.truncate) events.push(chunk(chat ? {} : '', b.finishReason ?? 'stop'));
  }
  if (b.errorEvent) events.unshift({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } });
  if (b.prelude) {
    await writePrelude(res, b.prelude);
    if (res.destroyed) return;
  }
  const opts = req_.stream_options as { include_usage?: unknown } | undefined;
  if (opts?.include_usage === true && b.usage !== false) {
    events.push({ id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model, choices: [], usage });
  }
  const last = b.truncate ? '' : 'data: [DONE]\n\n';
  if (!b.chunkDelayMs && b.dropAfterChunks === undefined && !b.padChunks && !stalls(b)) {
    // Nothing to time or cut: each event is its own write, without waiting for each to drain.
    for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
    res.end(last);
    return;
  }
  let written = 0;
  for (const e of events) {
    if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
      res.destroy();
      return;
    }
    if (written > 0 && b.chunkDelayMs) await sleep(b.chunkDelayMs);
    await stallAt(res, b, written, chat ? 1 : 0);
    if (res.destroyed) return;
    // Wait until the bytes are handed to the socket, so a drop right after loses none of them.
    await new Promise<void>((resolve) => res.write(`data: ${JSON.stringify(e)}\n\n`, () => resolve()));
    written += 1;
  }
  if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
    res.destroy();
    return;
  }
  res.end(last);
}

/** The Responses API, as a provider that speaks it answers (`native_responses`): a response object, or its event stream. */
async function responses(req: Record<string, unknown>, model: string, b: Behavior, res: ServerResponse, extra: Record<string, string>, provider: string): Promise<void> {
  const id = `resp_double${Math.random().toString(36).slice(2, 12)}`;
  const created = Math.floor(Date.now() / 1000);
  const content = b.content ?? `Hello from ${provider}`;
  const pieces = split(content, b.chunks ?? 3);
  const input = Math.max(1, Math.ceil(JSON.stringify(req.input ?? '').length / 4));
  const usage = { input_tokens: input, input_tokens_details: { cached_tokens: 0 }, output_tokens: pieces.length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + pieces.length };
  const call = withTools(b) ? toolCallsOf(b)[0]! : null;
  const item = call
    ? { id: 'fc_double_1', type: 'function_call', status: 'completed', call_id: call.id, name: call.function.name, arguments: call.function.arguments }
    : { id: 'msg_double_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: content, annotations: [], logprobs: [] }] };
  const response = (status: string, output: unknown[], u: unknown) => ({
    id, object: 'response', created_at: created, status, background: false, error: null, incomplete_details: null,
    instructions: req.instructions ?? null, max_output_tokens: req.max_output_tokens ?? null, model, output,
    parallel_tool_calls: true, previous_response_id: req.previous_response_id ?? null, reasoning: { effort: null, summary: null },
    store: req.store ?? true, temperature: 1, text: { format: { type: 'text' } }, tool_choice: 'auto', tools: req.tools ?? [], top_p: 1,
    truncation: 'disabled', usage: u, user: null, metadata: {},
  });
  if (req.stream !== true) return sendJson(res, 200, response('completed', [item], b.usage === false ? null : usage), extra);
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: response('in_progress', [], null) },
    { type: 'response.in_progress', response: response('in_progress', [], null) },
  ];
  if (call) {
    events.push({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
    for (const part of split(call.function.arguments, pieces.length)) events.push({ type: 'response.function_call_arguments.delta', item_id: item.id, output_index: 0, delta: part });
    events.push({ type: 'response.function_call_arguments.done', item_id: item.id, output_index: 0, arguments: call.function.arguments });
  } else {
    events.push({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    events.push({ type: 'response.content_part.added', item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
    for (const p of pieces) events.push({ type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: p, logprobs: [] });
    events.push({ type: 'response.output_text.done', item_id: item.id, output_index: 0, content_index: 0, text: content, logprobs: [] });
    events.push({ type: 'response.content_part.done', item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: content, annotations: [], logprobs: [] } });
  }
  events.push({ type: 'response.output_item.done', output_index: 0, item });
  if (!b.truncate) events.push({ type: 'response.completed', response: response('completed', [item], b.usage === false ? null : usage) });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...extra });
  let written = 0;
  for (const [n, e] of events.entries()) {
    if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
      res.destroy();
      return;
    }
    if (written > 0 && b.chunkDelayMs) await sleep(b.chunkDelayMs);
    await stallAt(res, b, written, 2);
    if (res.destroyed) return;
    await new Promise<void>((resolve) => res.write(`event: ${e.type as string}\ndata: ${JSON.stringify({ ...e, sequence_number: n })}\n\n`, () => resolve()));
    written += 1;
  }
  res.end();
}

const ANTHROPIC_STOP: Record<string, string> = { length: 'max_tokens', stop: 'end_turn', tool_calls: 'tool_use', content_filter: 'refusal' };
const ANTHROPIC_ERROR: Record<number, string> = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error',
};

function anthropicError(status: number, message: string): unknown {
  return { type: 'error', error: { type: ANTHROPIC_ERROR[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message } };
}

/**
 * Anthropic's Messages API (anthropic-version 2023-06-01), as a provider of `type: "anthropic"`
 * answers: a Message, or its event stream.
 */
async function messages(req: Record<string, unknown>, model: string, b: Behavior, res: ServerResponse, extra: Record<string, string>, provider: string): Promise<void> {
  const id = `msg_double${Math.random().toString(36).slice(2, 12)}`;
  const n = b.chunks ?? 3;
  const content = b.content ?? `Hello from ${provider}`;
  const pieces = split(content, n);
  const thinking = b.thinking ? (typeof b.thinking === 'string' ? b.thinking : 'Let me think about that.') : null;
  const thoughts = thinking === null ? [] : split(thinking, n);
  const calls = withTools(b) ? toolCallsOf(b) : [];
  const toolIds = b.toolCallList ? b.toolCallList.map((c, i) => c.id ?? `toolu_double_${i + 1}`) : [b.toolCall?.id ?? 'toolu_double_1'];
  const pad = 'x'.repeat(b.padChunks ?? 0);
  // Each block as the JSON answer has it, with the opening and the deltas that stream it.
  const blocks: Array<{ block: Record<string, unknown>; start: Record<string, unknown>; deltas: Array<Record<string, unknown>> }> = [];
  if (thinking !== null) {
    const signature = `sig_double_${Buffer.from(thinking).toString('base64url').slice(0, 16)}`;
    blocks.push({
      block: { type: 'thinking', thinking, signature },
      start: { type: 'thinking', thinking: '', signature: '' },
      deltas: [...thoughts.map((t) => ({ type: 'thinking_delta', thinking: t })), { type: 'signature_delta', signature }],
    });
  }
  if (!calls.length || b.content !== undefined) {
    blocks.push({ block: { type: 'text', text: content }, start: { type: 'text', text: '' }, deltas: pieces.map((p) => ({ type: 'text_delta', text: p + pad })) });
  }
  calls.forEach((c, i) => {
    let input: unknown = {};
    try {
      input = JSON.parse(c.function.arguments);
    } catch {
      /* not JSON: `{}` in the JSON answer, the text as is in a stream */
    }
    const head = { type: 'tool_use', id: toolIds[i] ?? c.id, name: c.function.name };
    blocks.push({ block: { ...head, input }, start: { ...head, input: {} }, deltas: split(c.function.arguments, n).map((p) => ({ type: 'input_json_delta', partial_json: p })) });
  });
  const stopReason = b.finishReason === undefined ? (calls.length ? 'tool_use' : 'end_turn') : (ANTHROPIC_STOP[b.finishReason] ?? b.finishReason);
  const inputTokens = Math.max(1, Math.ceil(JSON.stringify([req.system ?? '', req.messages ?? '', req.tools ?? '']).length / 4));
  const given = b.usageValue && ('input_tokens' in b.usageValue || 'output_tokens' in b.usageValue) ? b.usageValue : {};
  const usage: Record<string, unknown> = {
    input_tokens: inputTokens, output_tokens: pieces.length + thoughts.length + calls.length,
    cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...given,
  };
  const message = { id, type: 'message', role: 'assistant', model };
  if (req.stream !== true) {
    return sendJson(res, 200, { ...message, content: blocks.map((x) => x.block), stop_reason: stopReason, stop_sequence: null, usage }, extra);
  }

  const events: Array<Record<string, unknown>> = [
    { type: 'message_start', message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } },
    { type: 'ping' },
  ];
  blocks.forEach((x, index) => {
    events.push({ type: 'content_block_start', index, content_block: x.start });
    for (const delta of x.deltas) events.push({ type: 'content_block_delta', index, delta });
    events.push({ type: 'content_block_stop', index });
  });
  if (!b.truncate) {
    events.push({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
    events.push({ type: 'message_stop' });
  }
  if (b.errorEvent) events.unshift({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...extra });
  if (b.prelude) {
    await writePrelude(res, b.prelude);
    if (res.destroyed) return;
  }
  let written = 0;
  for (const e of events) {
    if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
      res.destroy();
      return;
    }
    if (written > 0 && b.chunkDelayMs) await sleep(b.chunkDelayMs);
    await stallAt(res, b, written, leadingLifecycle(events));
    if (res.destroyed) return;
    await new Promise<void>((resolve) => res.write(`event: ${e.type as string}\ndata: ${JSON.stringify(e)}\n\n`, () => resolve()));
    written += 1;
  }
  if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
    res.destroy();
    return;
  }
  res.end();
}

const GEMINI_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};
const GEMINI_FINISH: Record<string, string> = { length: 'MAX_TOKENS', content_filter: 'SAFETY', stop: 'STOP', tool_calls: 'STOP' };

/** Google's error body, `{"error":{code,message,status,details?}}`. */
function geminiErrorBody(status: number, message: string, given?: Behavior['geminiError']): unknown {
  const error: Record<string, unknown> = { code: status, message, status: GEMINI_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION') };
  const details: unknown[] = [];
  if (given && (given.reason !== undefined || status === 400)) {
    details.push({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: given.reason ?? 'API_KEY_INVALID', domain: 'googleapis.com' });
  }
  if (given && (given.retryDelay !== undefined || status === 429)) {
    details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: given.retryDelay ?? '17s' });
  }
  if (details.length) error.details = details;
  return { error };
}

/**
 * Google's Gemini API (generativelanguage v1beta), as a provider of `type: "gemini"` answers:
 * generateContent, its data-only SSE stream (streamGenerateContent?alt=sse), batchEmbedContents.
 */
async function geminiAnswer(action: string, req: Record<string, unknown>, model: string, b: Behavior, res: ServerResponse, extra: Record<string, string>, provider: string): Promise<void> {
  if (action === 'batchEmbedContents') {
    const requests = Array.isArray(req.requests) ? req.requests : [];
    return sendJson(res, 200, { embeddings: requests.map((_, i) => ({ values: [0.1, 0.2, 0.3, i] })) }, extra);
  }
  const responseId = `double${Math.random().toString(36).slice(2, 14)}`;
  const content = b.content ?? `Hello from ${provider}`;
  const calls = withTools(b) ? toolCallsOf(b) : [];
  const pad = 'x'.repeat(b.padChunks ?? 0);
  const pieces = !calls.length || b.content !== undefined ? split(content, b.chunks ?? 3) : [];
  const callParts = calls.map((c) => {
    let args: unknown = {};
    try {
      args = JSON.parse(c.function.arguments);
    } catch {
      /* not JSON: `{}` */
    }
    return { functionCall: { name: c.function.name, args }, ...(b.thoughtSignature !== undefined ? { thoughtSignature: b.thoughtSignature } : {}) };
  });
  const finishReason = b.finishReason === undefined ? 'STOP' : (GEMINI_FINISH[b.finishReason] ?? b.finishReason);
  const promptTokenCount = Math.max(1, Math.ceil(JSON.stringify([req.systemInstruction ?? '', req.contents ?? '', req.tools ?? '']).length / 4));
  const given = b.usageValue && 'promptTokenCount' in b.usageValue ? b.usageValue : undefined;
  const usageAt = (candidates: number): Record<string, unknown> => {
    const u: Record<string, unknown> = { promptTokenCount, candidatesTokenCount: candidates, ...given };
    const n = (k: string): number => (typeof u[k] === 'number' ? (u[k] as number) : 0);
    if (!given || !('totalTokenCount' in given)) u.totalTokenCount = n('promptTokenCount') + n('candidatesTokenCount') + n('thoughtsTokenCount') + n('toolUsePromptTokenCount');
    return { promptTokenCount: u.promptTokenCount, candidatesTokenCount: u.candidatesTokenCount, totalTokenCount: u.totalTokenCount, ...u };
  };
  const outputTokens = pieces.length + calls.length;
  const reply = (parts: unknown[], finish: string | null, candidates: number): Record<string, unknown> => ({
    candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
    usageMetadata: usageAt(candidates), modelVersion: model, responseId,
  });
  if (action === 'generateContent') {
    return sendJson(res, 200, reply([...(pieces.length ? [{ text: content }] : []), ...callParts], finishReason, outputTokens), extra);
  }

  // streamGenerateContent: one chunk per text piece, then one per function call; the last ends it.
  const parts: unknown[][] = [...pieces.map((p) => [{ text: p + pad }]), ...callParts.map((p) => [p])];
  const events: unknown[] = parts.map((p, i) => reply(p, !b.truncate && i === parts.length - 1 ? finishReason : null, i + 1));
  if (b.errorEvent) events.unshift({ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...extra });
  if (b.prelude) {
    await writePrelude(res, b.prelude);
    if (res.destroyed) return;
  }
  let written = 0;
  for (const e of events) {
    if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
      res.destroy();
      return;
    }
    if (written > 0 && b.chunkDelayMs) await sleep(b.chunkDelayMs);
    await stallAt(res, b, written, 0);
    if (res.destroyed) return;
    await new Promise<void>((resolve) => res.write(`data: ${JSON.stringify(e)}\r\n\r\n`, () => resolve()));
    written += 1;
  }
  if (b.dropAfterChunks !== undefined && written >= b.dropAfterChunks) {
    res.destroy();
    return;
  }
  res.end();
}

function stalls(b: Behavior): boolean {
  return b.stallAfterRole !== undefined || b.stallAfterChunks !== undefined;
}

/** `message_start` and the `ping`s right after it: what a Messages stream sends before its content. */
function leadingLifecycle(events: ReadonlyArray<unknown>): number {
  let n = 0;
  while (n < events.length && ['message_start', 'ping'].includes(String((events[n] as { type?: unknown }).type))) n++;
  return n;
}

/**
 * Before the event numbered `written`: the stall of `stallAfterRole` once the `lifecycle` frames
 * are out, or of `stallAfterChunks`, with keep-alive comments meanwhile; over when the client leaves
 * (both timers cleared then). The headers go out first, so a stall before any event is a stream open and silent.
 */
async function stallAt(res: ServerResponse, b: Behavior, written: number, lifecycle: number): Promise<void> {
  const ms = b.stallAfterRole !== undefined && written === lifecycle ? b.stallAfterRole
    : b.stallAfterChunks !== undefined && written === b.stallAfterChunks.after ? b.stallAfterChunks.ms : undefined;
  if (ms === undefined || res.destroyed) return;
  res.flushHeaders();
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      clearInterval(pinger);
      res.off('close', done);
      resolve();
    };
    const timer = ms === true ? undefined : setTimeout(done, ms);
    const pinger = b.keepAliveMs ? setInterval(() => void (res.destroyed || res.write(': keep-alive\n\n')), b.keepAliveMs) : undefined;
    res.once('close', done);
  });
}

/** SSE comments before a stream's first event (some proxies and providers send keep-alives). */
async function writePrelude(res: ServerResponse, prelude: NonNullable<Behavior['prelude']>): Promise<void> {
  const piece = prelude.piece ?? 16 * 1024;
  const line = `: ${'p'.repeat(Math.max(1, piece - 4))}\n\n`;
  let sent = 0;
  while (sent < prelude.bytes && !res.destroyed) {
    const ok = res.write(line);
    sent += line.length;
    if (prelude.every) await sleep(prelude.every);
    else if (!ok) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
  }
}

function embeddings(req: Record<string, unknown>, model: string, b: Behavior): unknown {
  const inputs = Array.isArray(req.input) ? req.input : [req.input];
  // Some OpenAI-compatible providers ignore encoding_format and always send floats.
  const base64 = req.encoding_format === 'base64' && !b.ignoreEncoding;
  const data = inputs.map((_, index) => {
    const vector = [0.1, 0.2, 0.3, index];
    // The openai client asks for base64 (little-endian float32) by default.
    const embedding = base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = Math.max(1, Math.ceil(JSON.stringify(req.input ?? '').length / 4));
  const out: Record<string, unknown> = { object: 'list', data, model };
  if (b.usage !== false) out.usage = { prompt_tokens: tokens, total_tokens: tokens };
  return out;
}

function withTools(b: Behavior): boolean {
  return Boolean(b.toolCalls || b.toolCall || b.toolCallList);
}

type ToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } };

function toolCallsOf(b: Behavior): ToolCall[] {
  if (b.toolCallList) return b.toolCallList.map((c, i) => ({ id: c.id ?? `call_double_${i + 1}`, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return [toolCall(b)];
}

function toolCall(b: Behavior): ToolCall {
  if (b.toolCall) return { id: b.toolCall.id ?? 'call_double_1', type: 'function', function: { name: b.toolCall.name, arguments: b.toolCall.arguments } };
  return { id: 'call_double_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } };
}

function split(text: string, n: number): string[] {
  const count = Math.max(1, Math.min(n, text.length || 1));
  const size = Math.ceil(text.length / count);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(text.slice(i * size, (i + 1) * size));
  return out;
}

function errorBody(message: string): unknown {
  return { error: { message, type: 'upstream_error', param: null, code: null } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '6011' }, host: { type: 'string', default: '127.0.0.1' }, 'no-record': { type: 'boolean', default: false } },
  });
  // --no-record: for load (the benchmark), where keeping every request would grow without bound.
  const double = await createUpstreamDouble({ port: Number(values.port), host: values.host ?? '127.0.0.1', record: !values['no-record'] });
  process.stdout.write(`upstream double listening on http://${values.host}:${double.port}\n`);
  const stop = (): void => void double.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
