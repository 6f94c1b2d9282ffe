import { randomUUID } from 'node:crypto';
import type { ClientFormat, ParseResult } from './format.js';
import type { Json } from './json.js';
import { openAiError } from './openai.js';
import { chatToResponse, type ResponseContext } from './responses/answer.js';
import { responsesToChat, type ResponsesRequest } from './responses/request.js';
import { ResponsesStream } from './responses/stream.js';
import { countedUsage, nativeBody, NativeResponsesStream, responsesProgress } from './responses/native.js';
import { isObject } from './json.js';

export { responsesToChat, RESPONSES_LIMITS } from './responses/request.js';
export type { ResponsesRequest, ToolName, ToolNames } from './responses/request.js';
export { chatToResponse, responsesUsage, responseObject } from './responses/answer.js';
export type { ResponseContext, ResponsesUsage } from './responses/answer.js';
export { ResponsesStream, MAX_STREAM_TOOL_CALLS } from './responses/stream.js';

/** What a finished response leaves behind: the response and the conversation up to it (items). */
export interface FinishedResponse {
  response: Json;
  /** The stored conversation before this request, this request's input, then the response's output. */
  conversation: Json[];
  request: ResponsesRequest;
}

export interface ResponsesFormatOptions {
  /** The conversation of the `previous_response_id`, already loaded (empty when none). */
  history?: readonly Json[];
  /** Called once with a response that completed (or ended incomplete), never with a failed one. */
  onFinished?: (r: FinishedResponse) => void;
  /** Epoch seconds, for `created_at`. */
  now?: () => number;
}

/** A new response id: `resp_` and 32 hex digits (unguessable: a response is read by its id). */
export function newResponseId(): string {
  return `resp_${randomUUID().replaceAll('-', '')}`;
}

/**
 * The OpenAI Responses API in front (`POST /v1/responses`), for one request: the request is
 * translated to chat (after the stored conversation it continues), answers and streams back to
 * a `response`, errors in OpenAI's shape. One object per request, since the answer needs to know
 * the request (its tools, its settings) and the conversation to store.
 */
export function responsesFormat(opts: ResponsesFormatOptions = {}): ClientFormat & { request(): ResponsesRequest | null } {
  const history = opts.history ?? [];
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  let request: ResponsesRequest | null = null;
  let raw: Json = {};
  const context = (ctx: { model: string; id: string }): ResponseContext => {
    if (request === null) throw new Error('responses format: answer before parse');
    return { request, id: ctx.id, model: ctx.model, createdAt: now() };
  };
  const finished = (response: Json): void => {
    if (request === null || !opts.onFinished) return;
    const output = Array.isArray(response.output) ? (response.output as Json[]) : [];
    opts.onFinished({ response, conversation: [...history, ...request.items, ...output], request });
  };
  return {
    name: 'responses',
    endpoint: '/chat/completions',
    request: () => request,
    parse(body): ParseResult {
      const r = responsesToChat(body, history);
      if (!r.ok) return r;
      request = r.request;
      raw = body as Json;
      return {
        ok: true, body: request.chat, model: request.model, stream: request.stream, clientWantsUsage: false,
        reasoningEffort: request.reasoningEffort, dropped: request.dropped,
      };
    },
    answer(json, ctx) {
      const response = chatToResponse(json, context(ctx));
      if (response !== null) finished(response);
      return response;
    },
    // The final response object is built only when it is to be kept.
    stream: (ctx) => new ResponsesStream(context(ctx), request?.store && opts.onFinished ? finished : null),
    error: openAiError,
    newId: newResponseId,
    native: {
      endpoint: '/responses',
      accepts: (p, clientStream) => p.native_responses && (clientStream ? p.stream_support : p.non_stream_support),
      progress: responsesProgress,
      body: () => nativeBody(raw, history),
      answer(json, ctx) {
        if (!isObject(json)) return { body: json, usage: null };
        json.model = ctx.model;
        if (json.status === 'completed' || json.status === 'incomplete') finished(json);
        return { body: json, usage: countedUsage(json.usage) };
      },
      stream: (ctx) => new NativeResponsesStream(ctx.model, finished),
    },
  };
}
