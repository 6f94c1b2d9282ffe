/**
 * An OpenAI Responses request → a Chat Completions request, for providers that speak only chat.
 * Validates what the Responses API itself would reject (the client hears it in its own terms)
 * and builds the chat body field by field: nothing Responses-only is copied (`store`, `include`,
 * `metadata`, `client_metadata`, `prompt_cache_key`, `truncation`, unknown fields), since
 * OpenAI-compatible upstreams may reject fields they do not know.
 *
 * Tools: `function` tools pass as chat functions; a freeform `custom` tool (Codex's
 * `apply_patch`) becomes a function with one string parameter `input`; the functions (and custom
 * tools) of a `namespace` tool are flattened to `<namespace>__<name>`; hosted tools a chat provider cannot
 * run (`web_search`, `tool_search`, `file_search`…) are dropped and named in `dropped`. The
 * `ToolNames` map turns the upstream's calls back into what the client offered.
 */
import { isObject, nonEmptyString, type Json } from '../json.js';

/** Bounds on what a client controls; past them the request is refused, never trimmed. */
export const RESPONSES_LIMITS = Object.freeze({
  items: 100_000,
  parts: 100_000,
  tools: 1_000,
  modelChars: 256,
  /** A grammar offered with a custom tool, copied into its parameter's description. */
  grammarChars: 16_384,
});

/** The role of a chat function the upstream may call: a client function (maybe namespaced) or a custom tool. */
export interface ToolName {
  kind: 'function' | 'custom';
  name: string;
  namespace: string | null;
}

export type ToolNames = ReadonlyMap<string, ToolName>;

export interface ResponsesRequest {
  model: string;
  stream: boolean;
  /** `store` (default true): keep the response and its conversation. */
  store: boolean;
  previousResponseId: string | null;
  /** The chat body. */
  chat: Json;
  /** This request's input as items (a string input is one user message), for the stored conversation. */
  items: Json[];
  /** Chat function name → what the client offered. */
  tools: ToolNames;
  /** Hosted tool types (and input items) dropped for a chat provider. */
  dropped: string[];
  reasoningEffort: string | null;
  /** The request's settings a response object repeats (`instructions`, `tools`, `temperature`…). */
  echo: Json;
}

export type ResponsesToChatResult = { ok: true; request: ResponsesRequest } | { ok: false; message: string; param: string | null };

export class InvalidRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
  }
}

/** Item types a chat provider has no counterpart for: skipped in the conversation (hosted tools' calls, reasoning). */
const SKIPPED_ITEMS = new Set([
  'reasoning', 'web_search_call', 'file_search_call', 'computer_call', 'computer_call_output', 'code_interpreter_call',
  'image_generation_call', 'local_shell_call', 'local_shell_call_output', 'mcp_list_tools', 'mcp_approval_request',
  'mcp_approval_response', 'mcp_call', 'tool_search_call', 'tool_search_output', 'compaction',
  'shell_call', 'shell_call_output', 'apply_patch_call', 'apply_patch_call_output',
]);

/** A chat function name: what OpenAI-compatible upstreams accept. */
const CHAT_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * `history`: the stored conversation a `previous_response_id` points to (items), put before
 * this request's input (after `instructions`, which are never carried over, as OpenAI does).
 */
export function responsesToChat(body: unknown, history: readonly Json[] = []): ResponsesToChatResult {
  try {
    return { ok: true, request: translate(body, history) };
  } catch (err) {
    if (err instanceof InvalidRequest) return { ok: false, message: err.message, param: err.param };
    throw err;
  }
}

function translate(body: unknown, history: readonly Json[]): ResponsesRequest {
  if (!isObject(body)) throw new InvalidRequest('The request body must be a JSON object.', null);
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw new InvalidRequest('model: a non-empty string is required.', 'model');
  if (model.length > RESPONSES_LIMITS.modelChars) throw new InvalidRequest(`model: at most ${RESPONSES_LIMITS.modelChars} characters.`, 'model');
  const stream = optionalBoolean(body.stream, 'stream') ?? false;
  const store = optionalBoolean(body.store, 'store') ?? true;
  if (body.background === true) throw new InvalidRequest('background: background responses are not supported by this gateway.', 'background');
  if (body.conversation !== undefined && body.conversation !== null) {
    throw new InvalidRequest('conversation: conversations are not supported by this gateway; use previous_response_id.', 'conversation');
  }
  if (body.prompt !== undefined && body.prompt !== null) throw new InvalidRequest('prompt: prompt templates are not supported by this gateway.', 'prompt');
  const previous = body.previous_response_id;
  if (previous !== undefined && previous !== null && (typeof previous !== 'string' || previous === '')) {
    throw new InvalidRequest('previous_response_id: must be a string.', 'previous_response_id');
  }
  const instructions = body.instructions;
  if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
    throw new InvalidRequest('instructions: must be a string.', 'instructions');
  }

  const items = inputItems(body.input);
  const { tools, names, dropped } = chatTools(body.tools);
  const messages: Json[] = [];
  if (typeof instructions === 'string' && instructions !== '') messages.push({ role: 'system', content: instructions });
  const conversation = new Conversation(messages, names, dropped);
  // A stored conversation may hold output items of a native provider that chat has no counterpart for: skipped.
  history.forEach((item, i) => conversation.add(item, `previous_response_id(${i})`, true));
  items.forEach((item, i) => conversation.add(item, `input[${i}]`));
  conversation.flush();
  if (messages.length === 0) throw new InvalidRequest('input: the request has no input.', 'input');

  const chat: Json = { model, messages };
  if (tools.length > 0) {
    chat.tools = tools;
    const choice = toolChoice(body.tool_choice, names);
    if (choice !== null) chat.tool_choice = choice;
    const parallel = optionalBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
    if (parallel !== null) chat.parallel_tool_calls = parallel;
  }
  const maxTokens = body.max_output_tokens;
  if (maxTokens !== undefined && maxTokens !== null) {
    if (typeof maxTokens !== 'number' || !Number.isSafeInteger(maxTokens) || maxTokens < 1) {
      throw new InvalidRequest('max_output_tokens: a positive integer is required.', 'max_output_tokens');
    }
    // max_tokens, not max_completion_tokens: what OpenAI-compatible upstreams at large accept.
    chat.max_tokens = maxTokens;
  }
  const temperature = rangedNumber(body.temperature, 'temperature', 2);
  if (temperature !== null) chat.temperature = temperature;
  const topP = rangedNumber(body.top_p, 'top_p', 1);
  if (topP !== null) chat.top_p = topP;
  const format = responseFormat(body.text);
  if (format !== null) chat.response_format = format;
  if (typeof body.user === 'string' && body.user !== '') chat.user = body.user;
  if (stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  const reasoning = body.reasoning;
  if (reasoning !== undefined && reasoning !== null && !isObject(reasoning)) throw new InvalidRequest('reasoning: must be an object.', 'reasoning');
  const effort = isObject(reasoning) ? nonEmptyString(reasoning.effort) : null;

  return {
    model, stream, store,
    previousResponseId: typeof previous === 'string' ? previous : null,
    chat, items, tools: names, dropped, reasoningEffort: effort,
    echo: {
      instructions: typeof instructions === 'string' ? instructions : null,
      max_output_tokens: typeof maxTokens === 'number' ? maxTokens : null,
      metadata: isObject(body.metadata) ? body.metadata : {},
      parallel_tool_calls: body.parallel_tool_calls !== false,
      previous_response_id: typeof previous === 'string' ? previous : null,
      reasoning: { effort, summary: isObject(reasoning) ? (reasoning.summary ?? null) : null },
      store,
      temperature: temperature ?? 1,
      text: isObject(body.text) ? body.text : { format: { type: 'text' } },
      tool_choice: body.tool_choice ?? 'auto',
      tools: Array.isArray(body.tools) ? body.tools : [],
      top_p: topP ?? 1,
      truncation: typeof body.truncation === 'string' ? body.truncation : 'disabled',
      user: typeof body.user === 'string' ? body.user : null,
      ...(typeof body.prompt_cache_key === 'string' ? { prompt_cache_key: body.prompt_cache_key } : {}),
    },
  };
}

function optionalBoolean(v: unknown, name: string): boolean | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') throw new InvalidRequest(`${name}: must be a boolean.`, name);
  return v;
}

function rangedNumber(v: unknown, name: string, max: number): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) throw new InvalidRequest(`${name}: a number from 0 to ${max} is required.`, name);
  return v;
}

/** `input`: a string (one user message) or a list of items. */
function inputItems(input: unknown): Json[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  if (!Array.isArray(input)) throw new InvalidRequest('input: a string or an array of items is required.', 'input');
  if (input.length > RESPONSES_LIMITS.items) throw new InvalidRequest(`input: at most ${RESPONSES_LIMITS.items} items.`, 'input');
  return input.map((item, i) => {
    if (!isObject(item)) throw new InvalidRequest(`input[${i}]: must be an object.`, `input[${i}]`);
    return item;
  });
}

/** Builds chat messages from items: an assistant message and the function calls after it become one chat message. */
class Conversation {
  private pending: Json | null = null;
  private parts = 0;

  constructor(
    private readonly out: Json[],
    private readonly names: ToolNames,
    private readonly dropped: string[],
  ) {}

  /** `stored`: the item comes from a stored conversation, where an item of an unknown type is skipped, not refused. */
  add(item: Json, at: string, stored = false): void {
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    switch (type) {
      case 'message':
        return this.message(item, at);
      case 'function_call':
        return this.call(item, at, nonEmptyString(item.arguments) ?? '{}', chatName(item, this.names));
      case 'custom_tool_call': {
        if (typeof item.input !== 'string') throw new InvalidRequest(`${at}.input: a string is required.`, `${at}.input`);
        return this.call(item, at, JSON.stringify({ input: item.input }), chatName(item, this.names));
      }
      case 'function_call_output':
      case 'custom_tool_call_output': {
        this.flush();
        const callId = nonEmptyString(item.call_id);
        if (callId === null) throw new InvalidRequest(`${at}.call_id: a non-empty string is required.`, `${at}.call_id`);
        this.out.push({ role: 'tool', tool_call_id: callId, content: this.outputText(item.output, `${at}.output`) });
        return;
      }
      case 'item_reference':
        throw new InvalidRequest(`${at}: item_reference is not supported by this gateway; send the item itself.`, `${at}.type`);
      default:
        if (typeof type === 'string' && SKIPPED_ITEMS.has(type)) {
          if (type !== 'reasoning' && !this.dropped.includes(type)) this.dropped.push(type);
          return;
        }
        if (stored) return;
        throw new InvalidRequest(`${at}.type: unknown input item type ${JSON.stringify(String(type)).slice(0, 80)}.`, `${at}.type`);
    }
  }

  flush(): void {
    if (this.pending !== null) this.out.push(this.pending);
    this.pending = null;
  }

  private message(item: Json, at: string): void {
    const role = item.role;
    if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') {
      throw new InvalidRequest(`${at}.role: one of user, system, developer, assistant is required.`, `${at}.role`);
    }
    this.flush();
    if (role === 'assistant') {
      this.pending = { role: 'assistant', content: this.text(item.content, `${at}.content`) };
      return;
    }
    // `developer` is `system` for chat upstreams at large (many do not know the role).
    if (role === 'user') this.out.push({ role, content: this.userContent(item.content, `${at}.content`) });
    else this.out.push({ role: 'system', content: this.text(item.content, `${at}.content`) });
  }

  private call(item: Json, at: string, args: string, name: string): void {
    const callId = nonEmptyString(item.call_id);
    if (callId === null) throw new InvalidRequest(`${at}.call_id: a non-empty string is required.`, `${at}.call_id`);
    if (this.pending === null) this.pending = { role: 'assistant', content: null };
    const calls = (this.pending.tool_calls ??= []) as Json[];
    calls.push({ id: callId, type: 'function', function: { name, arguments: args } });
  }

  /** Content that must be text (system, developer, assistant): the text parts joined. */
  private text(content: unknown, at: string): string {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) throw new InvalidRequest(`${at}: a string or an array of parts is required.`, at);
    this.count(content.length, at);
    return content.map((p, i) => {
      if (!isObject(p)) throw new InvalidRequest(`${at}[${i}]: must be an object.`, `${at}[${i}]`);
      if (p.type === 'input_text' || p.type === 'output_text') return typeof p.text === 'string' ? p.text : '';
      if (p.type === 'refusal') return typeof p.refusal === 'string' ? p.refusal : '';
      throw new InvalidRequest(`${at}[${i}].type: only text parts are allowed here.`, `${at}[${i}].type`);
    }).join('');
  }

  private userContent(content: unknown, at: string): unknown {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) throw new InvalidRequest(`${at}: a string or an array of parts is required.`, at);
    this.count(content.length, at);
    return content.map((p, i) => this.userPart(p, `${at}[${i}]`));
  }

  private userPart(p: unknown, at: string): Json {
    if (!isObject(p)) throw new InvalidRequest(`${at}: must be an object.`, at);
    switch (p.type) {
      case 'input_text':
      case 'output_text':
        if (typeof p.text !== 'string') throw new InvalidRequest(`${at}.text: a string is required.`, `${at}.text`);
        return { type: 'text', text: p.text };
      case 'input_image': {
        const url = nonEmptyString(p.image_url);
        if (url === null) throw new InvalidRequest(`${at}.image_url: images by file_id are not supported by this gateway; send a URL or a data URL.`, `${at}.image_url`);
        const detail = nonEmptyString(p.detail);
        return { type: 'image_url', image_url: detail !== null && detail !== 'auto' ? { url, detail } : { url } };
      }
      case 'input_file': {
        const file: Json = {};
        if (typeof p.file_data === 'string') file.file_data = p.file_data;
        if (typeof p.file_id === 'string') file.file_id = p.file_id;
        if (typeof p.filename === 'string') file.filename = p.filename;
        if (file.file_data === undefined && file.file_id === undefined) {
          throw new InvalidRequest(`${at}: file_data or file_id is required (file_url is not supported).`, at);
        }
        return { type: 'file', file };
      }
      default:
        throw new InvalidRequest(`${at}.type: unknown content part type.`, `${at}.type`);
    }
  }

  /** A tool's output: a string, or parts whose text is joined (images become `[image]`: chat tool messages are text). */
  private outputText(output: unknown, at: string): string {
    if (typeof output === 'string') return output;
    if (!Array.isArray(output)) throw new InvalidRequest(`${at}: a string or an array of parts is required.`, at);
    this.count(output.length, at);
    return output.map((p) => {
      if (!isObject(p)) return '';
      if (typeof p.text === 'string') return p.text;
      return p.type === 'input_image' ? '[image]' : '';
    }).join('');
  }

  private count(n: number, at: string): void {
    this.parts += n;
    if (this.parts > RESPONSES_LIMITS.parts) throw new InvalidRequest(`${at}: at most ${RESPONSES_LIMITS.parts} content parts in all.`, at);
  }
}

/** The chat function name of a call in the input (namespaced calls carry `namespace`). */
function chatName(item: Json, names: ToolNames): string {
  const name = typeof item.name === 'string' ? item.name : '';
  const ns = nonEmptyString(item.namespace);
  if (ns === null) return name;
  for (const [chat, t] of names) if (t.namespace === ns && t.name === name) return chat;
  return flatName(ns, name);
}

function flatName(namespace: string, name: string): string {
  return `${namespace}__${name}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
}

interface ChatTools {
  tools: Json[];
  names: Map<string, ToolName>;
  dropped: string[];
}

function chatTools(tools: unknown): ChatTools {
  const out: ChatTools = { tools: [], names: new Map(), dropped: [] };
  if (tools === undefined || tools === null) return out;
  if (!Array.isArray(tools)) throw new InvalidRequest('tools: must be an array.', 'tools');
  if (tools.length > RESPONSES_LIMITS.tools) throw new InvalidRequest(`tools: at most ${RESPONSES_LIMITS.tools}.`, 'tools');
  const add = (chatTool: Json, chat: string, name: ToolName, at: string): void => {
    if (!CHAT_NAME.test(chat)) throw new InvalidRequest(`${at}.name: letters, digits, _ and - only, at most 64.`, `${at}.name`);
    if (out.names.has(chat)) throw new InvalidRequest(`${at}.name: ${chat} is offered twice.`, `${at}.name`);
    out.names.set(chat, name);
    out.tools.push(chatTool);
  };
  tools.forEach((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t)) throw new InvalidRequest(`${at}: must be an object.`, at);
    switch (t.type) {
      case 'function': {
        const name = requiredName(t, at);
        add({ type: 'function', function: functionDef(t, name, at) }, name, { kind: 'function', name, namespace: null }, at);
        return;
      }
      case 'custom': {
        const name = requiredName(t, at);
        add({ type: 'function', function: customDef(t, name) }, name, { kind: 'custom', name, namespace: null }, at);
        return;
      }
      case 'namespace': {
        const ns = requiredName(t, at);
        const inner = Array.isArray(t.tools) ? t.tools : [];
        inner.forEach((f, j) => {
          const fat = `${at}.tools[${j}]`;
          // A namespace holds functions and freeform (custom) tools, as top-level tools are offered.
          if (!isObject(f) || (f.type !== 'function' && f.type !== 'custom')) return;
          const name = requiredName(f, fat);
          const chat = flatName(ns, name);
          const kind = f.type === 'custom' ? 'custom' : 'function';
          add({ type: 'function', function: kind === 'custom' ? customDef(f, chat) : functionDef(f, chat, fat) }, chat, { kind, name, namespace: ns }, fat);
        });
        return;
      }
      default: {
        if (typeof t.type !== 'string') throw new InvalidRequest(`${at}.type: a string is required.`, `${at}.type`);
        // Hosted tools (web_search, tool_search, file_search…): no chat provider can run them.
        const hosted = t.type.slice(0, 64);
        if (!out.dropped.includes(hosted)) out.dropped.push(hosted);
      }
    }
  });
  return out;
}

function requiredName(t: Json, at: string): string {
  const name = nonEmptyString(t.name);
  if (name === null) throw new InvalidRequest(`${at}.name: a non-empty string is required.`, `${at}.name`);
  return name;
}

function functionDef(t: Json, name: string, at: string): Json {
  const def: Json = { name };
  if (typeof t.description === 'string') def.description = t.description;
  if (t.parameters !== undefined && t.parameters !== null && !isObject(t.parameters)) {
    throw new InvalidRequest(`${at}.parameters: must be a JSON schema object.`, `${at}.parameters`);
  }
  def.parameters = isObject(t.parameters) ? t.parameters : { type: 'object', properties: {} };
  if (typeof t.strict === 'boolean') def.strict = t.strict;
  return def;
}

/** A freeform tool offered as a function of one string, `input`; its grammar (if any) goes in the description. */
function customDef(t: Json, name: string): Json {
  const format = isObject(t.format) ? t.format : null;
  let about = 'The tool\'s whole input, as free text.';
  if (format?.type === 'grammar' && typeof format.definition === 'string') {
    about += ` It must match this ${typeof format.syntax === 'string' ? format.syntax : ''} grammar:\n${format.definition.slice(0, RESPONSES_LIMITS.grammarChars)}`;
  }
  return {
    name,
    ...(typeof t.description === 'string' ? { description: t.description } : {}),
    parameters: { type: 'object', properties: { input: { type: 'string', description: about } }, required: ['input'], additionalProperties: false },
  };
}

function toolChoice(choice: unknown, names: ToolNames): unknown {
  if (choice === undefined || choice === null) return null;
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (!isObject(choice)) throw new InvalidRequest('tool_choice: "auto", "none", "required" or an object is required.', 'tool_choice');
  if (choice.type === 'function' || choice.type === 'custom') {
    const name = nonEmptyString(choice.name);
    const chat = name === null ? null : [...names].find(([, t]) => t.name === name && t.namespace === null)?.[0];
    if (chat === undefined || chat === null) throw new InvalidRequest('tool_choice.name: names no tool of this request.', 'tool_choice.name');
    return { type: 'function', function: { name: chat } };
  }
  if (choice.type === 'allowed_tools') return choice.mode === 'required' ? 'required' : 'auto';
  // A hosted tool (dropped): the model may still use the others.
  return 'auto';
}

function responseFormat(text: unknown): Json | null {
  if (text === undefined || text === null) return null;
  if (!isObject(text)) throw new InvalidRequest('text: must be an object.', 'text');
  const f = text.format;
  if (f === undefined || f === null) return null;
  if (!isObject(f)) throw new InvalidRequest('text.format: must be an object.', 'text.format');
  switch (f.type) {
    case 'text':
      return null;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const name = nonEmptyString(f.name);
      if (name === null) throw new InvalidRequest('text.format.name: a non-empty string is required.', 'text.format.name');
      if (!isObject(f.schema)) throw new InvalidRequest('text.format.schema: a JSON schema object is required.', 'text.format.schema');
      const schema: Json = { name, schema: f.schema };
      if (typeof f.strict === 'boolean') schema.strict = f.strict;
      if (typeof f.description === 'string') schema.description = f.description;
      return { type: 'json_schema', json_schema: schema };
    }
    default:
      throw new InvalidRequest('text.format.type: one of text, json_object, json_schema is required.', 'text.format.type');
  }
}
