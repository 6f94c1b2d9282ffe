/**
 * A `chat.completion` → an Anthropic Messages answer, plus the stop-reason and usage mappings
 * the stream shares. The answer names the model the client asked for, never the upstream's.
 */
import { count, isObject, nonEmptyString, type Json } from '../json.js';

/** Anthropic's stop reasons (2023-06-01); chat gives no way to produce `pause_turn` or `stop_sequence`. */
export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';

const STOP_REASONS = new Map<string, AnthropicStopReason>([
  ['stop', 'end_turn'],
  ['length', 'max_tokens'],
  ['tool_calls', 'tool_use'],
  ['function_call', 'tool_use'],
  ['content_filter', 'refusal'],
]);

/**
 * Chat `finish_reason` → Anthropic `stop_reason`. Chat's `stop` covers both a natural end and a
 * stop sequence (the matched sequence is not reported), so it is `end_turn`. Some upstreams end a
 * turn that calls tools with `stop`: when the answer has tool calls, a natural end is `tool_use`,
 * since Anthropic agents loop on that value.
 */
export function stopReasonFor(finishReason: unknown, hasToolUse: boolean): AnthropicStopReason {
  const mapped = typeof finishReason === 'string' ? STOP_REASONS.get(finishReason) : undefined;
  if (hasToolUse && (mapped === undefined || mapped === 'end_turn')) return 'tool_use';
  return mapped ?? 'end_turn';
}

/** Chat usage as the gateway reads it (`prompt_tokens` includes cached tokens). */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number | undefined } | null | undefined;
}

export interface AnthropicUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
}

/**
 * Chat usage → Anthropic usage, or null when `usage` is not a usage object. Anthropic counts
 * cached prompt tokens apart from `input_tokens`; chat includes them in `prompt_tokens`. Chat
 * reports no cache writes, so `cache_creation_input_tokens` is 0.
 */
export function anthropicUsage(usage: unknown): AnthropicUsage | null {
  if (!isObject(usage) || typeof usage.prompt_tokens !== 'number') return null;
  const prompt = count(usage.prompt_tokens);
  const details = usage.prompt_tokens_details;
  const cached = Math.min(prompt, isObject(details) ? count(details.cached_tokens) : 0);
  return {
    input_tokens: prompt - cached,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    output_tokens: count(usage.completion_tokens),
  };
}

export const NO_USAGE: Readonly<AnthropicUsage> = Object.freeze({
  input_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: 0,
});

/**
 * Tool arguments as the object Anthropic clients expect in `input`. Empty arguments are `{}`;
 * so is anything that is not a JSON object (a model's broken JSON): the client's own validation
 * of the tool input then reports the missing fields to the model, which is how Anthropic clients
 * recover, whereas a non-object `input` would break the client itself.
 */
export function toolInput(args: unknown): Json {
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** The text of a chat message `content`: a string, or (some upstreams) an array of text parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
}

/**
 * A `chat.completion` → an Anthropic message. Content: the text (or, when there is none, the
 * refusal) as one text block if not empty, then one `tool_use` block per tool call. An answer
 * with neither has `content: []`, as Anthropic itself sends for an empty turn (its SDKs accept it).
 * Only the first choice is read (Anthropic has no `n`). Reasoning text some upstreams add
 * (`reasoning_content`) is dropped: a thinking block needs a signature only Anthropic can make.
 */
export function chatToAnthropic(answer: unknown, opts: { model: string; id: string }): Json {
  const choices = isObject(answer) && Array.isArray(answer.choices) ? answer.choices : [];
  const choice: unknown = choices.find((c) => isObject(c) && c.index === 0) ?? choices[0];
  const message = isObject(choice) && isObject(choice.message) ? choice.message : {};
  const content: Json[] = [];
  const text = contentText(message.content) || contentText(message.refusal);
  if (text !== '') content.push({ type: 'text', text });
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  calls.forEach((call, i) => {
    if (!isObject(call) || !isObject(call.function)) return;
    const id = nonEmptyString(call.id) ?? `toolu_${opts.id}_${i}`;
    content.push({ type: 'tool_use', id, name: nonEmptyString(call.function.name) ?? '', input: toolInput(call.function.arguments) });
  });
  // The pre-tools `function_call` form, still sent by some upstreams.
  if (calls.length === 0 && isObject(message.function_call)) {
    const fc = message.function_call;
    content.push({ type: 'tool_use', id: `toolu_${opts.id}_0`, name: nonEmptyString(fc.name) ?? '', input: toolInput(fc.arguments) });
  }
  const hasToolUse = content.some((b) => b.type === 'tool_use');
  return {
    id: opts.id,
    type: 'message',
    role: 'assistant',
    model: opts.model,
    content,
    stop_reason: stopReasonFor(isObject(choice) ? choice.finish_reason : null, hasToolUse),
    stop_sequence: null,
    usage: anthropicUsage(isObject(answer) ? answer.usage : null) ?? { ...NO_USAGE },
  };
}
