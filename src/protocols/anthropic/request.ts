/**
 * An Anthropic Messages request (`anthropic-version: 2023-06-01`) → a Chat Completions request.
 * Validates what Anthropic itself would reject (so the client hears it in its own terms) and
 * builds the chat body field by field: nothing Anthropic-only is ever copied (`cache_control`,
 * `output_config`, `context_management`, `container`, `mcp_servers`, `service_tier`, `top_k`,
 * unknown fields), since OpenAI-compatible upstreams may reject fields they do not know.
 */
import { isObject, nonEmptyString, truncate, type Json } from '../json.js';
import { ANTHROPIC_LIMITS, InvalidRequest as Invalid } from './limits.js';
import { chatMessages } from './messages.js';

export type AnthropicToChatResult =
  | { ok: true; chat: Json; model: string; stream: boolean; sessionId: string | null }
  | { ok: false; message: string; param: string | null };

export interface AnthropicToChatOptions {
  /**
   * Whether `thinking` becomes `reasoning_effort` (default true). Pass false for upstreams that
   * reject the field (OpenAI answers 400 for it on non-reasoning models such as gpt-4o).
   */
  reasoningEffort?: boolean;
}

export function anthropicToChat(body: unknown, opts: AnthropicToChatOptions = {}): AnthropicToChatResult {
  try {
    return translate(body, opts.reasoningEffort !== false);
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, message: err.message, param: err.param };
    throw err;
  }
}

function translate(body: unknown, withReasoning: boolean): AnthropicToChatResult {
  if (!isObject(body)) throw new Invalid('The request body must be a JSON object.', null);
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw new Invalid('model: a non-empty string is required.', 'model');
  if (model.length > ANTHROPIC_LIMITS.modelChars) throw new Invalid(`model: at most ${ANTHROPIC_LIMITS.modelChars} characters.`, 'model');
  const maxTokens = body.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isSafeInteger(maxTokens) || maxTokens < 1) {
    throw new Invalid('max_tokens: a positive integer is required.', 'max_tokens');
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw new Invalid('stream: must be a boolean.', 'stream');
  const stream = body.stream === true;

  const messages = chatMessages(body.system, body.messages);

  // max_tokens, not max_completion_tokens: what OpenAI-compatible upstreams at large accept.
  const chat: Json = { model, messages, max_tokens: maxTokens };
  const temperature = unitNumber(body.temperature, 'temperature');
  if (temperature !== null) chat.temperature = temperature;
  const topP = unitNumber(body.top_p, 'top_p');
  if (topP !== null) chat.top_p = topP;
  if (body.top_k !== undefined && body.top_k !== null && !(Number.isSafeInteger(body.top_k) && (body.top_k as number) >= 0)) {
    throw new Invalid('top_k: must be a non-negative integer.', 'top_k');
  }
  const stop = stopSequences(body.stop_sequences);
  if (stop.length > 0) chat.stop = stop;
  addTools(body, chat);
  const sessionId = userFromMetadata(body.metadata, chat);
  const effort = reasoningEffort(body.thinking);
  if (effort !== null && withReasoning) chat.reasoning_effort = effort;
  if (stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return { ok: true, chat, model, stream, sessionId };
}

function unitNumber(v: unknown, name: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new Invalid(`${name}: a number from 0 to 1 is required.`, name);
  return v;
}

function stopSequences(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Invalid('stop_sequences: must be an array of strings.', 'stop_sequences');
  if (v.length > ANTHROPIC_LIMITS.stopSequences) throw new Invalid(`stop_sequences: at most ${ANTHROPIC_LIMITS.stopSequences}.`, 'stop_sequences');
  return v as string[];
}

function addTools(body: Json, chat: Json): void {
  const raw = body.tools;
  const tools: Json[] = [];
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) throw new Invalid('tools: must be an array.', 'tools');
    if (raw.length > ANTHROPIC_LIMITS.tools) throw new Invalid(`tools: at most ${ANTHROPIC_LIMITS.tools}.`, 'tools');
    raw.forEach((t, i) => {
      const p = `tools.${i}`;
      if (!isObject(t)) throw new Invalid(`${p}: must be an object.`, p);
      // Server tools (web_search_20250305, bash_20250124, …) run at Anthropic; no chat upstream can run them.
      if (t.type !== undefined && t.type !== null && t.type !== 'custom') return;
      const name = nonEmptyString(t.name);
      if (name === null) throw new Invalid(`${p}.name: a non-empty string is required.`, `${p}.name`);
      if (!isObject(t.input_schema)) throw new Invalid(`${p}.input_schema: must be an object.`, `${p}.input_schema`);
      if (t.description !== undefined && t.description !== null && typeof t.description !== 'string') {
        throw new Invalid(`${p}.description: must be a string.`, `${p}.description`);
      }
      // The top-level `$schema` only names the dialect (Claude Code sends draft 2020-12); some
      // OpenAI-compatible upstreams (Gemini's among them) reject the key, and nothing is lost without it.
      const parameters: Json = { ...t.input_schema };
      delete parameters.$schema;
      const fn: Json = { name };
      if (typeof t.description === 'string') fn.description = t.description;
      fn.parameters = parameters;
      tools.push({ type: 'function', function: fn });
    });
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) {
    if (tools.length > 0) chat.tools = tools;
    return;
  }
  if (!isObject(choice)) throw new Invalid('tool_choice: must be an object.', 'tool_choice');
  let mapped: unknown;
  if (choice.type === 'auto') mapped = 'auto';
  else if (choice.type === 'any') mapped = 'required';
  else if (choice.type === 'none') mapped = 'none';
  else if (choice.type === 'tool') {
    const name = nonEmptyString(choice.name);
    if (name === null) throw new Invalid('tool_choice.name: a non-empty string is required.', 'tool_choice.name');
    mapped = { type: 'function', function: { name } };
  } else throw new Invalid('tool_choice.type: must be "auto", "any", "tool" or "none".', 'tool_choice.type');
  // Chat refuses tool_choice / parallel_tool_calls without tools (all of them may have been server tools).
  if (tools.length === 0) return;
  chat.tools = tools;
  chat.tool_choice = mapped;
  if (choice.disable_parallel_tool_use === true && choice.type !== 'none') chat.parallel_tool_calls = false;
}

/**
 * `metadata.user_id` → chat `user` (capped), and the session id for routing affinity: Claude Code
 * sends user_id as a JSON string `{"device_id","account_uuid","session_id"}`; others send an opaque id.
 */
function userFromMetadata(v: unknown, chat: Json): string | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new Invalid('metadata: must be an object.', 'metadata');
  const id = v.user_id;
  if (id === undefined || id === null || id === '') return null;
  if (typeof id !== 'string') throw new Invalid('metadata.user_id: must be a string.', 'metadata.user_id');
  chat.user = truncate(id, ANTHROPIC_LIMITS.userChars);
  if (id.startsWith('{') && id.length <= 4096) {
    try {
      const parsed: unknown = JSON.parse(id);
      const session = isObject(parsed) ? nonEmptyString(parsed.session_id) : null;
      if (session !== null) return truncate(session, ANTHROPIC_LIMITS.sessionIdChars);
    } catch {
      // Not JSON after all: the string itself is the id.
    }
  }
  return truncate(id, ANTHROPIC_LIMITS.sessionIdChars);
}

/** Budget thresholds for `thinking: {type: "enabled"}` → chat `reasoning_effort`. */
export function effortForBudget(budget: number): 'low' | 'medium' | 'high' {
  return budget < 4096 ? 'low' : budget < 16_384 ? 'medium' : 'high';
}

function reasoningEffort(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new Invalid('thinking: must be an object.', 'thinking');
  if (v.type === 'disabled') return null;
  // Adaptive lets the model choose how long to think: the middle effort is the closest chat value.
  if (v.type === 'adaptive') return 'medium';
  if (v.type === 'enabled') {
    const budget = v.budget_tokens;
    if (typeof budget !== 'number' || !Number.isSafeInteger(budget) || budget < 1) {
      throw new Invalid('thinking.budget_tokens: a positive integer is required.', 'thinking.budget_tokens');
    }
    return effortForBudget(budget);
  }
  throw new Invalid('thinking.type: must be "enabled", "adaptive" or "disabled".', 'thinking.type');
}
