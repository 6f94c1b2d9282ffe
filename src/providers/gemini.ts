/**
 * Providers of `type: "gemini"` (SPEC §7): the internal Chat Completions form ⇄ Google's Gemini
 * API (`v1beta`, `generateContent`, `streamGenerateContent?alt=sse`, `batchEmbedContents`), as
 * pure functions. A Gemini 3 tool call's thought signature must come back on the next turn:
 * it rides in the chat tool-call id (`call_<n>__ts__<signature>`), which clients return as is.
 */
import { count, isObject, nonEmptyString, type Json } from '../protocols/json.js';
import { Untranslatable } from './anthropic.js';
import { argsObject, dataUrl, imageUrlOf, textOf } from './chat-parts.js';

const SIGNATURE_MARK = '__ts__';

// ---------------------------------------------------------------------------------------------
// Request: chat → generateContent
// ---------------------------------------------------------------------------------------------

export function chatToGeminiRequest(chat: Readonly<Json>): Json {
  const system: string[] = [];
  const contents: Array<{ role: 'user' | 'model'; parts: Json[] }> = [];
  const names = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: Json[]): void => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
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
        return push('user', userParts(m.content, at));
      case 'assistant': {
        const parts: Json[] = [];
        const text = textOf(m.content);
        if (text !== '') parts.push({ text });
        if (Array.isArray(m.tool_calls)) {
          for (const c of m.tool_calls) {
            if (!isObject(c)) continue;
            const fn = isObject(c.function) ? c.function : {};
            const name = typeof fn.name === 'string' ? fn.name : '';
            const id = typeof c.id === 'string' ? c.id : '';
            names.set(id, name);
            const part: Json = { functionCall: { name, args: argsObject(fn.arguments) } };
            const mark = id.indexOf(SIGNATURE_MARK);
            if (mark >= 0) part.thoughtSignature = id.slice(mark + SIGNATURE_MARK.length);
            parts.push(part);
          }
        }
        return push('model', parts);
      }
      case 'tool': {
        const id = typeof m.tool_call_id === 'string' ? m.tool_call_id : '';
        const name = names.get(id);
        if (name === undefined) throw new Untranslatable(`${at}.tool_call_id: names no earlier tool call (Gemini needs the function's name).`, `${at}.tool_call_id`);
        return push('user', [{ functionResponse: { name, response: responseOf(textOf(m.content)) } }]);
      }
      default:
        throw new Untranslatable(`${at}.role: ${JSON.stringify(String(m.role)).slice(0, 40)} has no Gemini counterpart.`, `${at}.role`);
    }
  });
  if (contents.length === 0) throw new Untranslatable('messages: at least one user or assistant message is required.', 'messages');

  const out: Json = { contents };
  if (system.length > 0) out.systemInstruction = { parts: [{ text: system.join('\n\n') }] };
  const config: Json = {};
  for (const v of [chat.max_completion_tokens, chat.max_tokens]) {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) {
      config.maxOutputTokens = v;
      break;
    }
  }
  if (typeof chat.temperature === 'number') config.temperature = chat.temperature;
  if (typeof chat.top_p === 'number') config.topP = chat.top_p;
  const stop = typeof chat.stop === 'string' ? [chat.stop] : Array.isArray(chat.stop) ? chat.stop.filter((s) => typeof s === 'string') : [];
  if (stop.length > 0) config.stopSequences = stop;
  const format = isObject(chat.response_format) ? chat.response_format : null;
  if (format?.type === 'json_object') config.responseMimeType = 'application/json';
  if (format?.type === 'json_schema' && isObject(format.json_schema)) {
    config.responseMimeType = 'application/json';
    if (isObject(format.json_schema.schema)) config.responseJsonSchema = format.json_schema.schema;
  }
  if (Object.keys(config).length > 0) out.generationConfig = config;
  const decls = Array.isArray(chat.tools) ? chat.tools.flatMap((t) => (isObject(t) && t.type === 'function' && isObject(t.function) ? [declarationOf(t.function)] : [])) : [];
  if (decls.length > 0) {
    out.tools = [{ functionDeclarations: decls }];
    const mode = toolMode(chat.tool_choice);
    if (mode !== null) out.toolConfig = { functionCallingConfig: mode };
  }
  return out;
}

function userParts(content: unknown, at: string): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((p, j): Json[] => {
    if (!isObject(p)) return [];
    if (p.type === 'text' && typeof p.text === 'string') return p.text === '' ? [] : [{ text: p.text }];
    if (p.type === 'image_url') {
      const url = imageUrlOf(p);
      const d = url === null ? null : dataUrl(url);
      if (d) return [{ inlineData: { mimeType: d.mediaType, data: d.data } }];
      throw new Untranslatable(`${at}.content[${j}].image_url: Gemini takes images as data URLs only.`, `${at}.content`);
    }
    throw new Untranslatable(`${at}.content[${j}].type: ${JSON.stringify(String(p.type)).slice(0, 40)} parts cannot be sent to a Gemini provider.`, `${at}.content`);
  });
}

/** A tool's result as Gemini takes it: an object (a JSON object as it is; anything else wrapped). */
function responseOf(text: string): Json {
  try {
    const v: unknown = JSON.parse(text);
    if (isObject(v)) return v;
  } catch {
    // plain text
  }
  return { result: text };
}

function declarationOf(fn: Json): Json {
  const d: Json = { name: typeof fn.name === 'string' ? fn.name : '' };
  if (typeof fn.description === 'string') d.description = fn.description;
  if (isObject(fn.parameters)) d.parametersJsonSchema = fn.parameters;
  return d;
}

function toolMode(choice: unknown): Json | null {
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
  return null;
}

/** The embeddings request for an OpenAI one: one request per input string. */
export function embeddingsToGemini(body: Readonly<Json>, model: string): Json {
  const input = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) ? body.input : null;
  if (input === null || !input.every((s) => typeof s === 'string')) throw new Untranslatable('input: Gemini embeds strings only (not token arrays).', 'input');
  const requests = input.map((text) => {
    const r: Json = { model: `models/${model}`, content: { parts: [{ text }] } };
    if (typeof body.dimensions === 'number') r.outputDimensionality = body.dimensions;
    return r;
  });
  return { requests };
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

const FINISH: Readonly<Record<string, string>> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
};

export function geminiFinishReason(reason: unknown, hasCalls: boolean): string {
  const mapped = typeof reason === 'string' && Object.hasOwn(FINISH, reason) ? FINISH[reason]! : 'stop';
  return hasCalls && mapped === 'stop' ? 'tool_calls' : mapped;
}

/** `usageMetadata` → chat usage: thinking tokens are part of the completion. */
export function geminiUsage(meta: unknown): Json | null {
  if (!isObject(meta) || typeof meta.promptTokenCount !== 'number') return null;
  const prompt = count(meta.promptTokenCount);
  const thoughts = count(meta.thoughtsTokenCount);
  const completion = count(meta.candidatesTokenCount) + thoughts;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: Math.min(prompt, count(meta.cachedContentTokenCount)) },
    completion_tokens_details: { reasoning_tokens: thoughts },
  };
}

interface Read {
  text: string;
  calls: Json[];
  finish: unknown;
}

/** Candidate 0's text (thought summaries left out) and function calls (ids numbered from `first`). */
function readCandidate(json: Json, first: number): Read {
  const cand = Array.isArray(json.candidates) ? json.candidates[0] : undefined;
  const c = isObject(cand) ? cand : {};
  const parts = isObject(c.content) && Array.isArray(c.content.parts) ? c.content.parts : [];
  let text = '';
  const calls: Json[] = [];
  for (const p of parts) {
    if (!isObject(p)) continue;
    if (typeof p.text === 'string' && p.thought !== true) text += p.text;
    if (isObject(p.functionCall)) {
      const sig = nonEmptyString(p.thoughtSignature);
      const id = `call_${first + calls.length}${sig !== null ? SIGNATURE_MARK + sig : ''}`;
      const name = typeof p.functionCall.name === 'string' ? p.functionCall.name : '';
      calls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(p.functionCall.args ?? {}) } });
    }
  }
  return { text, calls, finish: c.finishReason };
}

/** A prompt Gemini blocked: no candidates, a `promptFeedback.blockReason` (answered as a content filter stop). */
function blocked(json: Json): boolean {
  return !Array.isArray(json.candidates) && isObject(json.promptFeedback) && typeof json.promptFeedback.blockReason === 'string';
}

export function geminiToChat(json: unknown, model: string, created: number): Json | null {
  if (!isObject(json) || (!Array.isArray(json.candidates) && !blocked(json))) return null;
  const r = blocked(json) ? { text: '', calls: [], finish: 'SAFETY' } : readCandidate(json, 0);
  const message: Json = { role: 'assistant', content: r.text === '' && r.calls.length > 0 ? null : r.text, refusal: null };
  if (r.calls.length > 0) message.tool_calls = r.calls;
  const out: Json = {
    id: `chatcmpl-${typeof json.responseId === 'string' ? json.responseId : created}`,
    object: 'chat.completion',
    created,
    model: typeof json.modelVersion === 'string' ? json.modelVersion : model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: geminiFinishReason(r.finish, r.calls.length > 0) }],
  };
  const usage = geminiUsage(json.usageMetadata);
  if (usage) out.usage = usage;
  return out;
}

/** `batchEmbedContents` → an OpenAI embeddings list, in the encoding the client asked for. */
export function geminiEmbeddings(json: unknown, model: string, base64: boolean): Json | null {
  if (!isObject(json) || !Array.isArray(json.embeddings)) return null;
  const data = json.embeddings.map((e, index) => {
    const values = isObject(e) && Array.isArray(e.values) ? e.values.filter((v): v is number => typeof v === 'number') : [];
    return { object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(values).buffer).toString('base64') : values };
  });
  return { object: 'list', data, model };
}

// ---------------------------------------------------------------------------------------------
// Stream: streamGenerateContent?alt=sse → chat chunks
// ---------------------------------------------------------------------------------------------

/**
 * Each Gemini stream event is a partial GenerateContentResponse: its text and calls become chat
 * chunks; the last `usageMetadata` is the stream's usage (counts are cumulative, not to be
 * summed). Gemini sends no end marker: when the bytes end after a finish reason, `end()` gives
 * the usage chunk and `[DONE]`; without one the stream was cut.
 */
export class GeminiChunks {
  private started = false;
  private calls = 0;
  private finish: string | null = null;
  private usage: Json | null = null;
  private id: string;

  constructor(private readonly model: string, private readonly created: number) {
    this.id = `chatcmpl-${created}`;
  }

  event(data: string | null): string {
    if (data === null) return '';
    let e: unknown;
    try {
      e = JSON.parse(data);
    } catch {
      return '';
    }
    if (!isObject(e)) return '';
    if (isObject(e.error)) {
      const err = e.error;
      return `data: ${JSON.stringify({ error: { message: typeof err.message === 'string' ? err.message : 'The provider reported an error.', type: 'api_error', param: null, code: null } })}\n\n`;
    }
    let out = '';
    if (!this.started) {
      this.started = true;
      if (typeof e.responseId === 'string') this.id = `chatcmpl-${e.responseId}`;
      out += this.chunk({ role: 'assistant', content: '' }, null);
    }
    const usage = geminiUsage(e.usageMetadata);
    if (usage) this.usage = usage;
    const r = blocked(e) ? { text: '', calls: [], finish: 'SAFETY' } : readCandidate(e, this.calls);
    if (r.text !== '') out += this.chunk({ content: r.text }, null);
    for (const c of r.calls) out += this.chunk({ tool_calls: [{ index: this.calls++, ...c }] }, null);
    if (typeof r.finish === 'string' && r.finish !== 'FINISH_REASON_UNSPECIFIED') {
      this.finish = geminiFinishReason(r.finish, this.calls > 0);
      out += this.chunk({}, this.finish);
    }
    return out;
  }

  /** After the last byte: the usage chunk and `[DONE]` when the stream finished; '' when it was cut. */
  end(): string {
    if (this.finish === null) return '';
    const usage = this.usage ? `data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: this.usage })}\n\n` : '';
    return `${usage}data: [DONE]\n\n`;
  }

  private chunk(delta: Json, finish: string | null): string {
    return `data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/** The `details` of a Google error body. */
function details(body: Buffer): Json[] {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    const d = isObject(v) && isObject(v.error) && Array.isArray(v.error.details) ? v.error.details : [];
    return d.filter(isObject);
  } catch {
    return [];
  }
}

/** A 400 that says the key is invalid (`API_KEY_INVALID`): the provider refuses the gateway, as a 401 would. */
export function isKeyInvalid(body: Buffer): boolean {
  return details(body).some((d) => d.reason === 'API_KEY_INVALID');
}

/** The wait a 429 asks for in its body (`RetryInfo.retryDelay`, "17s" or "1.5s"), in ms; null when none. */
export function retryDelayMs(body: Buffer): number | null {
  for (const d of details(body)) {
    const m = typeof d.retryDelay === 'string' ? /^(\d{1,9})(?:\.(\d{1,9}))?s$/.exec(d.retryDelay) : null;
    if (m) return Number(m[1]) * 1000 + Math.round(Number(`0.${m[2] ?? '0'}`) * 1000);
  }
  return null;
}
