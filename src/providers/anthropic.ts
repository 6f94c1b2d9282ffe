/**
 * Providers of `type: "anthropic"` (SPEC §7): the internal Chat Completions form ⇄ the Anthropic
 * Messages API (`anthropic-version: 2023-06-01`), as pure functions: a chat request becomes a
 * Messages request, a Message becomes a `chat.completion`, and the Messages event stream becomes
 * chat chunks (`AnthropicChunks`), so everything after the upstream (relay, conversions,
 * accounting, other client formats) sees chat.
 */
import { count, isObject, nonEmptyString, type Json } from '../protocols/json.js';
import { argsObject, dataUrl, imageUrlOf, textOf } from './chat-parts.js';
import { THINKING_COMMENT } from '../stream/first-content.js';

export const ANTHROPIC_VERSION = '2023-06-01';
/** `max_tokens` when neither the client nor the provider's `default_max_tokens` says (Anthropic requires one). */
export const FALLBACK_MAX_TOKENS = 4096;

/** A chat request the Messages API cannot take: the message, and the chat field at fault. */
export class Untranslatable extends Error {
  constructor(message: string, readonly param: string | null) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Request: chat → Messages
// ---------------------------------------------------------------------------------------------

/**
 * The Messages body for a chat request. System (and developer) messages join the top-level
 * `system`; tool messages become `tool_result` blocks of a user turn; consecutive turns of one
 * role are merged (Anthropic alternates user and assistant); images become image blocks.
 */
export function chatToMessagesRequest(chat: Readonly<Json>, model: string, defaultMaxTokens: number | null): Json {
  const system: string[] = [];
  const turns: Array<{ role: 'user' | 'assistant'; content: Json[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: Json[]): void => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  const messages = Array.isArray(chat.messages) ? chat.messages : [];
  messages.forEach((m, i) => {
    if (!isObject(m)) return;
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content);
        if (text !== '') system.push(text);
        return;
      }
      case 'user':
        return push('user', userBlocks(m.content, at));
      case 'assistant': {
        const blocks: Json[] = [];
        const text = textOf(m.content) + (typeof m.refusal === 'string' ? m.refusal : '');
        if (text !== '') blocks.push({ type: 'text', text });
        if (Array.isArray(m.tool_calls)) {
          m.tool_calls.forEach((c, k) => {
            if (!isObject(c)) return;
            const fn = isObject(c.function) ? c.function : {};
            blocks.push({ type: 'tool_use', id: nonEmptyString(c.id) ?? `toolu_${i}_${k}`, name: typeof fn.name === 'string' ? fn.name : '', input: argsObject(fn.arguments) });
          });
        }
        return push('assistant', blocks);
      }
      case 'tool':
        return push('user', [{ type: 'tool_result', tool_use_id: typeof m.tool_call_id === 'string' ? m.tool_call_id : '', content: textOf(m.content) }]);
      default:
        throw new Untranslatable(`${at}.role: ${JSON.stringify(String(m.role)).slice(0, 40)} has no Messages counterpart.`, `${at}.role`);
    }
  });
  if (turns.length === 0) throw new Untranslatable('messages: at least one user or assistant message is required.', 'messages');

  const out: Json = { model, max_tokens: maxTokens(chat, defaultMaxTokens), messages: turns };
  if (system.length > 0) out.system = system.join('\n\n');
  if (typeof chat.temperature === 'number') out.temperature = Math.min(1, Math.max(0, chat.temperature));
  if (typeof chat.top_p === 'number') out.top_p = chat.top_p;
  const stop = typeof chat.stop === 'string' ? [chat.stop] : Array.isArray(chat.stop) ? chat.stop.filter((s) => typeof s === 'string') : [];
  if (stop.length > 0) out.stop_sequences = stop;
  const tools = Array.isArray(chat.tools) ? chat.tools.flatMap((t) => (isObject(t) && t.type === 'function' && isObject(t.function) ? [toolOf(t.function)] : [])) : [];
  if (tools.length > 0) {
    out.tools = tools;
    const choice = toolChoice(chat.tool_choice, chat.parallel_tool_calls);
    if (choice !== null) out.tool_choice = choice;
  }
  if (typeof chat.user === 'string' && chat.user !== '') out.metadata = { user_id: chat.user };
  if (chat.stream === true) out.stream = true;
  return out;
}

function maxTokens(chat: Readonly<Json>, defaultMaxTokens: number | null): number {
  for (const v of [chat.max_completion_tokens, chat.max_tokens]) if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  return defaultMaxTokens ?? FALLBACK_MAX_TOKENS;
}

function userBlocks(content: unknown, at: string): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((p, j): Json[] => {
    if (!isObject(p)) return [];
    if (p.type === 'text' && typeof p.text === 'string') return p.text === '' ? [] : [{ type: 'text', text: p.text }];
    if (p.type === 'image_url') {
      const url = imageUrlOf(p);
      if (url === null) return [];
      const d = dataUrl(url);
      return [{ type: 'image', source: d ? { type: 'base64', media_type: d.mediaType, data: d.data } : { type: 'url', url } }];
    }
    throw new Untranslatable(`${at}.content[${j}].type: ${JSON.stringify(String(p.type)).slice(0, 40)} parts cannot be sent to an Anthropic provider.`, `${at}.content`);
  });
}

function toolOf(fn: Json): Json {
  const tool: Json = { name: typeof fn.name === 'string' ? fn.name : '' };
  if (typeof fn.description === 'string') tool.description = fn.description;
  tool.input_schema = isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} };
  return tool;
}

function toolChoice(choice: unknown, parallel: unknown): Json | null {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...noParallel };
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') return { type: 'tool', name: choice.function.name, ...noParallel };
  if (choice === 'auto' || parallel === false) return { type: 'auto', ...noParallel };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Answer: Message → chat.completion
// ---------------------------------------------------------------------------------------------

const FINISH: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

export function finishReasonFor(stopReason: unknown): string {
  return typeof stopReason === 'string' && Object.hasOwn(FINISH, stopReason) ? FINISH[stopReason]! : 'stop';
}

/**
 * Anthropic usage → chat usage: the prompt counts every input token (fresh, read from the cache
 * and written to it), as chat's `prompt_tokens` does; cache reads are `cached_tokens`.
 */
export function chatUsageOf(usage: unknown, outputTokens?: number): Json | null {
  if (!isObject(usage)) return null;
  const cacheRead = count(usage.cache_read_input_tokens);
  const cacheWrite = count(usage.cache_creation_input_tokens);
  const prompt = count(usage.input_tokens) + cacheRead + cacheWrite;
  const completion = outputTokens ?? count(usage.output_tokens);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead, cache_creation_tokens: cacheWrite },
  };
}

/** A Message as a `chat.completion`; null when the JSON is not a Message (a failed try). */
export function messageToChat(json: unknown, created: number): Json | null {
  if (!isObject(json) || json.type !== 'message' || !Array.isArray(json.content)) return null;
  let text = '';
  const calls: Json[] = [];
  for (const b of json.content) {
    if (!isObject(b)) continue;
    if (b.type === 'text' && typeof b.text === 'string') text += b.text;
    else if (b.type === 'tool_use') {
      calls.push({ id: typeof b.id === 'string' ? b.id : '', type: 'function', function: { name: typeof b.name === 'string' ? b.name : '', arguments: JSON.stringify(b.input ?? {}) } });
    }
  }
  const message: Json = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text, refusal: null };
  if (calls.length > 0) message.tool_calls = calls;
  const out: Json = {
    id: typeof json.id === 'string' ? json.id : '',
    object: 'chat.completion',
    created,
    model: typeof json.model === 'string' ? json.model : '',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonFor(json.stop_reason) }],
  };
  const usage = chatUsageOf(json.usage);
  if (usage) out.usage = usage;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stream: Messages events → chat chunks
// ---------------------------------------------------------------------------------------------

/**
 * One stream's state: each Messages event in, the chat chunks it gives out (as SSE `data:`
 * lines). Text pieces come out in the canonical chunk form the gateway reads without a parse.
 * `message_stop` gives the usage chunk and `[DONE]`; an `error` event gives a chat error event.
 */

export class AnthropicChunks {
  private id = '';
  private model = '';
  private usage: Json = {};
  private readonly toolIndex = new Map<number, number>();
  private finish: string | null = null;
  private ended = false;
  private thinking = false;

  constructor(private readonly created: number) {}

  /** The chat SSE text for one event (`type` is its `event:` name or its data's `type`). */
  event(data: string | null): string {
    if (data === null || this.ended) return '';
    let e: unknown;
    try {
      e = JSON.parse(data);
    } catch {
      return '';
    }
    if (!isObject(e)) return '';
    switch (e.type) {
      case 'message_start': {
        const m = isObject(e.message) ? e.message : {};
        this.id = typeof m.id === 'string' ? m.id : '';
        this.model = typeof m.model === 'string' ? m.model : '';
        if (isObject(m.usage)) this.usage = { ...m.usage };
        return this.chunk({ role: 'assistant', content: '' }, null);
      }
      case 'content_block_start': {
        const b = isObject(e.content_block) ? e.content_block : {};
        if (b.type === 'tool_use' && typeof e.index === 'number') {
          const index = this.toolIndex.size;
          this.toolIndex.set(e.index, index);
          return this.chunk({ tool_calls: [{ index, id: typeof b.id === 'string' ? b.id : '', type: 'function', function: { name: typeof b.name === 'string' ? b.name : '', arguments: '' } }] }, null);
        }
        if (b.type === 'text' && typeof b.text === 'string' && b.text !== '') return this.text(b.text);
        return '';
      }
      case 'content_block_delta': {
        const d = isObject(e.delta) ? e.delta : {};
        if (d.type === 'text_delta' && typeof d.text === 'string') return this.text(d.text);
        // Thinking is no chat content, but it is the model at work: one comment says so, so the
        // first-token wait (SPEC §9) ends here rather than failing a model that thinks long.
        if (d.type === 'thinking_delta' && !this.thinking) {
          this.thinking = true;
          return THINKING_COMMENT;
        }
        if (d.type === 'input_json_delta' && typeof d.partial_json === 'string' && typeof e.index === 'number') {
          const index = this.toolIndex.get(e.index);
          if (index === undefined || d.partial_json === '') return '';
          return this.chunk({ tool_calls: [{ index, function: { arguments: d.partial_json } }] }, null);
        }
        return '';
      }
      case 'message_delta': {
        const d = isObject(e.delta) ? e.delta : {};
        if (isObject(e.usage)) for (const [k, v] of Object.entries(e.usage)) if (typeof v === 'number') this.usage[k] = v;
        if (d.stop_reason !== undefined && d.stop_reason !== null) {
          this.finish = finishReasonFor(d.stop_reason);
          return this.chunk({}, this.finish);
        }
        return '';
      }
      case 'message_stop': {
        this.ended = true;
        const usage = chatUsageOf(this.usage);
        const tail = usage ? `data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage })}\n\n` : '';
        return `${this.finish === null ? this.chunk({}, 'stop') : ''}${tail}data: [DONE]\n\n`;
      }
      case 'error': {
        this.ended = true;
        const err = isObject(e.error) ? e.error : {};
        return `data: ${JSON.stringify({ error: { message: typeof err.message === 'string' ? err.message : 'The provider reported an error.', type: typeof err.type === 'string' ? err.type : 'api_error', param: null, code: null } })}\n\n`;
      }
      default:
        // ping, thinking block starts, signatures: nothing a chat client takes.
        return '';
    }
  }

  private text(piece: string): string {
    return this.chunk({ content: piece }, null);
  }

  private chunk(delta: Json, finish: string | null): string {
    return `data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  }
}
