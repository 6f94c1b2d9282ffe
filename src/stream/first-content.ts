import type { SseEvent } from './sse.js';
import { textOnlyChunk } from './convert.js';

const THINKING = Buffer.from(': thinking');

/**
 * What an event of a stream that has sent nothing yet means for the first-token wait (SPEC §9):
 * `lifecycle` frames (a role-only chunk, `message_start`, `ping`, `response.created`, comments)
 * are held back; `content` (text, a tool call, reasoning, or the stream's end) lets the stream
 * through; an `error` makes the try fail. Read only until the first content, so a few events per
 * stream at most are parsed here.
 */
export type Progress = 'lifecycle' | 'content' | 'error';

/** A parsed event's data is read only up to this size; larger data is content (it carries something). */
const MAX_PARSED = 256 * 1024;

/** Chat Completions chunks (and legacy completions): what every non-native upstream stream is read as. */
export function chatProgress(e: SseEvent): Progress {
  const data = e.data;
  // A comment is a keep-alive, but for the one that says the model began thinking (Anthropic's adapter).
  if (data === null) return e.includes(THINKING) ? 'content' : 'lifecycle';
  if (data === '[DONE]' || data.length > MAX_PARSED) return 'content';
  const text = textOnlyChunk(data);
  if (text !== null) return text === '' ? 'lifecycle' : 'content';
  const v = parse(data);
  if (v === undefined) return 'content';
  if (v.error != null) return 'error';
  const choices = v.choices;
  if (!Array.isArray(choices) || choices.length === 0) return v.usage != null ? 'content' : 'lifecycle';
  for (const c of choices) {
    if (!isObject(c)) continue;
    if (c.finish_reason != null || nonEmpty(c.text)) return 'content';
    const d = c.delta;
    if (!isObject(d)) continue;
    if (nonEmpty(d.content) || nonEmpty(d.reasoning_content) || nonEmpty(d.reasoning) || nonEmpty(d.refusal)) return 'content';
    if (Array.isArray(d.tool_calls) && d.tool_calls.length > 0) return 'content';
    if (isObject(d.function_call)) return 'content';
  }
  return 'lifecycle';
}

/** Anthropic Messages events (a native `/v1/messages` stream). */
export function messagesProgress(e: SseEvent): Progress {
  const type = e.event ?? typeOf(e.data);
  if (type === null) return e.hasData ? 'content' : 'lifecycle';
  if (type === 'error') return 'error';
  if (type === 'message_start' || type === 'ping') return 'lifecycle';
  if (type === 'content_block_start') {
    // An empty text or thinking block is opened before its first delta; a tool call names itself here.
    const block = parse(e.data ?? '')?.content_block;
    if (isObject(block) && (block.type === 'text' || block.type === 'thinking') && !nonEmpty(block.text) && !nonEmpty(block.thinking)) return 'lifecycle';
  }
  return 'content';
}

const RESPONSES_LIFECYCLE: ReadonlySet<string> = new Set([
  'response.created', 'response.in_progress', 'response.queued', 'response.content_part.added', 'response.reasoning_summary_part.added',
]);

/** Responses API events (a native `/v1/responses` stream). */
export function responsesProgress(e: SseEvent): Progress {
  const v = e.data === null ? undefined : parse(e.data);
  const type = typeof v?.type === 'string' ? v.type : e.event;
  if (type === null || type === undefined) return e.hasData ? 'content' : 'lifecycle';
  if (type === 'error' || type === 'response.failed') return 'error';
  if (RESPONSES_LIFECYCLE.has(type)) return 'lifecycle';
  if (type === 'response.output_item.added') {
    // A message or reasoning item is announced before its text; a function call names itself here.
    const item = v?.item;
    return isObject(item) && (item.type === 'message' || item.type === 'reasoning') ? 'lifecycle' : 'content';
  }
  return 'content';
}

function typeOf(data: string | null): string | null {
  if (data === null) return null;
  const v = parse(data);
  return typeof v?.type === 'string' ? v.type : null;
}

function parse(data: string): Record<string, unknown> | undefined {
  if (data.length > MAX_PARSED) return undefined;
  try {
    const v: unknown = JSON.parse(data);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v.length > 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How the first content of an upstream stream is recognised: by the format it streams in. */
export function progressOf(nativeEndpoint: '/messages' | '/responses' | null): (e: SseEvent) => Progress {
  return nativeEndpoint === '/messages' ? messagesProgress : nativeEndpoint === '/responses' ? responsesProgress : chatProgress;
}
