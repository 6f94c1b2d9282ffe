import type { Progress } from '../protocols/format.js';
import type { SseEvent } from './sse.js';
import { textOnlyChunk } from './convert.js';
import { isObject, nonEmptyString, progressData } from '../protocols/json.js';

/** The SSE comment a chat stream carries when the model begins thinking (Anthropic's adapter writes it): it ends the wait. */
export const THINKING_COMMENT = ': thinking\n\n';
const THINKING = Buffer.from(': thinking');

/**
 * The first-token wait (SPEC §9) on a chat stream, the format every non-native upstream stream is
 * read in: a role-only chunk and comments are `lifecycle` (held back), text, a tool call,
 * reasoning or the end are `content`, an error event is `error`. Native streams are read by their
 * format (`NativePassThrough.progress`). Read only until the first content, so a few events per
 * stream at most are parsed.
 */
export type { Progress } from '../protocols/format.js';

/** Chat Completions chunks (and legacy completions): what every non-native upstream stream is read as. */
export function chatProgress(e: SseEvent): Progress {
  const data = e.data;
  // A comment is a keep-alive, but for the one that says the model began thinking (Anthropic's adapter).
  if (data === null) return e.includes(THINKING) ? 'content' : 'lifecycle';
  if (data === '[DONE]') return 'content';
  const text = textOnlyChunk(data);
  if (text !== null) return text === '' ? 'lifecycle' : 'content';
  // Data too large to read here, or not an object, carries something: content.
  const v = progressData(data);
  if (v === undefined) return 'content';
  if (v.error != null) return 'error';
  const choices = v.choices;
  if (!Array.isArray(choices) || choices.length === 0) return v.usage != null ? 'content' : 'lifecycle';
  for (const c of choices) {
    if (!isObject(c)) continue;
    if (c.finish_reason != null || nonEmptyString(c.text) !== null) return 'content';
    const d = c.delta;
    if (!isObject(d)) continue;
    if ([d.content, d.reasoning_content, d.reasoning, d.refusal].some((x) => nonEmptyString(x) !== null)) return 'content';
    if (Array.isArray(d.tool_calls) && d.tool_calls.length > 0) return 'content';
    if (isObject(d.function_call)) return 'content';
  }
  return 'lifecycle';
}
