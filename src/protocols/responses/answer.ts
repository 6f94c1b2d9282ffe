/**
 * A `chat.completion` → a Responses `response` object, plus what the stream shares: output item
 * builders, the usage and status mappings, and the response object around them. The response
 * names the model the client asked for and repeats the request's settings, as OpenAI does.
 */
import { count, isObject, nonEmptyString, type Json } from '../json.js';
import type { ResponsesRequest, ToolNames } from './request.js';

/** What a response is built around: the request, its id and when it was created (epoch seconds). */
export interface ResponseContext {
  request: ResponsesRequest;
  id: string;
  /** The public model the client asked for. */
  model: string;
  createdAt: number;
}

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Chat usage → Responses usage (cached and reasoning tokens kept), or null when there is none. */
export function responsesUsage(usage: unknown): ResponsesUsage | null {
  if (!isObject(usage) || typeof usage.prompt_tokens !== 'number') return null;
  const input = count(usage.prompt_tokens);
  const output = count(usage.completion_tokens);
  const pd = usage.prompt_tokens_details;
  const cd = usage.completion_tokens_details;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: Math.min(input, isObject(pd) ? count(pd.cached_tokens) : 0) },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: Math.min(output, isObject(cd) ? count(cd.reasoning_tokens) : 0) },
    total_tokens: input + output,
  };
}

export type ResponseStatus = 'completed' | 'incomplete' | 'failed' | 'in_progress';

/** Chat `finish_reason` → the response's status and, when incomplete, why. */
export function statusFor(finishReason: unknown): { status: ResponseStatus; incomplete_details: { reason: string } | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/**
 * Output item ids: 12 hex digits of the response's id after the item's prefix, then the item's
 * place (`msg_61dc6cd25ee9_0`): unique enough within a conversation, and short, as every event
 * of a stream repeats its item's id.
 */
export function itemId(prefix: 'msg' | 'fc' | 'ctc', responseId: string, index: number): string {
  return `${prefix}_${responseId.slice(5, 17)}_${index}`;
}

export function messageItem(id: string, text: string, status: 'completed' | 'in_progress' | 'incomplete' = 'completed'): Json {
  return { id, type: 'message', status, role: 'assistant', content: [outputText(text)] };
}

export function outputText(text: string): Json {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/** A call of the upstream as the client offered the tool: a `function_call` (with its namespace) or a `custom_tool_call`. */
export function callItem(tools: ToolNames, responseId: string, index: number, callId: string, chatName: string, args: string, status: 'completed' | 'in_progress' = 'completed'): Json {
  const t = tools.get(chatName);
  if (t?.kind === 'custom') {
    const item: Json = { id: itemId('ctc', responseId, index), type: 'custom_tool_call', status, call_id: callId, name: t.name, input: status === 'completed' ? customInput(args) : '' };
    if (t.namespace) item.namespace = t.namespace;
    return item;
  }
  const item: Json = { id: itemId('fc', responseId, index), type: 'function_call', status, arguments: args, call_id: callId, name: t?.name ?? chatName };
  if (t?.namespace) item.namespace = t.namespace;
  return item;
}

/** The text of a custom tool's call: the `input` string the function was given (the raw arguments when the upstream gave no such object). */
export function customInput(args: string): string {
  try {
    const v: unknown = JSON.parse(args);
    if (isObject(v) && typeof v.input === 'string') return v.input;
  } catch {
    // not JSON: the upstream wrote the input itself
  }
  return args;
}

/** The whole response object: the request's settings around the given status, output and usage. */
export function responseObject(ctx: ResponseContext, status: ResponseStatus, output: Json[], usage: ResponsesUsage | null, extra: { incomplete_details?: unknown; error?: unknown } = {}): Json {
  return {
    id: ctx.id,
    object: 'response',
    created_at: ctx.createdAt,
    status,
    background: false,
    error: extra.error ?? null,
    incomplete_details: extra.incomplete_details ?? null,
    model: ctx.model,
    output,
    usage,
    ...ctx.request.echo,
  };
}

/** A whole chat answer as a response; null when the JSON is not a chat completion (passed through as it is). */
export function chatToResponse(json: unknown, ctx: ResponseContext): Json | null {
  if (!isObject(json) || !Array.isArray(json.choices)) return null;
  const choice: unknown = json.choices.find((c) => isObject(c) && (c.index === 0 || c.index === undefined)) ?? json.choices[0];
  const message = isObject(choice) && isObject(choice.message) ? choice.message : {};
  const output: Json[] = [];
  const text = (typeof message.content === 'string' ? message.content : '') + (typeof message.refusal === 'string' ? message.refusal : '');
  const { status, incomplete_details } = statusFor(isObject(choice) ? choice.finish_reason : null);
  if (text !== '') output.push(messageItem(itemId('msg', ctx.id, 0), text, status === 'incomplete' ? 'incomplete' : 'completed'));
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  calls.forEach((c) => {
    if (!isObject(c)) return;
    const fn = isObject(c.function) ? c.function : {};
    // The call id a stream of the same answer would make up: after the item's output index.
    const callId = nonEmptyString(c.id) ?? `call_${ctx.id.slice(5)}_${output.length}`;
    output.push(callItem(ctx.request.tools, ctx.id, output.length, callId, typeof fn.name === 'string' ? fn.name : '', typeof fn.arguments === 'string' ? fn.arguments : ''));
  });
  return responseObject(ctx, status, output, responsesUsage(json.usage), { incomplete_details });
}
