import type { Progress } from '../protocols/format.js';
import type { SseEvent } from './sse.js';
import { textOnlyChunk } from './convert.js';

const THINKING = Buffer.from(': thinking');

/**
 * The first-token wait (SPEC §9) on a chat stream, the format every non-native upstream stream is
 * read in: a role-only chunk and comments are `lifecycle` (held back), text, a tool call,
 * reasoning or the end are `content`, an error event is `error`. Native streams are read by their
 * format (`NativePassThrough.progress`). Read only until the first content, so a few events per
 * stream at most are parsed.
 */
export type { Progress } from '../protocols/format.js';

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

