/**
 * Conversion between streamed and whole answers, as pure functions over decoded chunks:
 * - `Aggregator`: the chunks of a stream → one `chat.completion` / `text_completion`;
 * - `synthesize`: one whole answer → the chunks a streaming provider would have sent.
 * `kind` says which endpoint: chat completions or (legacy) completions. Nothing the upstream
 * sent is lost either way: logprobs, usage details, `service_tier`, `system_fingerprint`.
 */

export type CompletionKind = 'chat' | 'text';

/** What the client asked for and what the provider gave decide the one conversion there is. */
export type Conversion = 'none' | 'fold' | 'synthesize' | 'pass';

export function conversionFor(clientStream: boolean, providerStreamed: boolean): Conversion {
  if (clientStream) return providerStreamed ? 'pass' : 'synthesize';
  return providerStreamed ? 'fold' : 'none';
}

type Json = Record<string, unknown>;

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** `prompt_tokens_details.cached_tokens`: the part of the prompt read from the provider's cache. */
  cached_tokens?: number;
}

interface ToolCallAcc {
  index: number;
  id: string;
  type: string;
  name: string;
  arguments: string;
}

interface ChoiceAcc {
  index: number;
  role: string;
  content: string | null;
  refusal: string | null;
  text: string;
  toolCalls: Map<number, ToolCallAcc>;
  finishReason: string | null;
  /** Arrays of the chunks' logprobs, concatenated key by key (`content`, `refusal`, or the legacy `tokens`…). */
  logprobs: Map<string, unknown[]> | null;
}

/** Folds the chunks of one stream into the answer a non-streaming call would have given. */
export class Aggregator {
  private id: string | null = null;
  private model: string | null = null;
  private created: number | null = null;
  private fingerprint: unknown = undefined;
  private serviceTier: unknown = undefined;
  private readonly choices = new Map<number, ChoiceAcc>();
  usage: Usage | null = null;
  /** The usage object as the upstream sent it (with its `*_details`). */
  private rawUsage: Json | null = null;

  constructor(private readonly kind: CompletionKind) {}

  add(chunk: unknown): void {
    if (!isObject(chunk)) return;
    this.id ??= str(chunk.id);
    this.model ??= str(chunk.model);
    this.created ??= typeof chunk.created === 'number' ? chunk.created : null;
    if (chunk.system_fingerprint !== undefined && chunk.system_fingerprint !== null) this.fingerprint = chunk.system_fingerprint;
    if (chunk.service_tier !== undefined && chunk.service_tier !== null) this.serviceTier = chunk.service_tier;
    const usage = readUsage(chunk.usage);
    if (usage) {
      this.usage = usage;
      this.rawUsage = chunk.usage as Json;
    }
    if (!Array.isArray(chunk.choices)) return;
    for (const c of chunk.choices) {
      if (!isObject(c)) continue;
      const index = typeof c.index === 'number' ? c.index : 0;
      const acc = this.choice(index);
      if (typeof c.finish_reason === 'string') acc.finishReason = c.finish_reason;
      if (isObject(c.logprobs)) addLogprobs(acc, c.logprobs);
      if (this.kind === 'text') {
        if (typeof c.text === 'string') acc.text += c.text;
        continue;
      }
      const delta = isObject(c.delta) ? c.delta : isObject(c.message) ? c.message : null;
      if (!delta) continue;
      if (typeof delta.role === 'string') acc.role = delta.role;
      if (typeof delta.content === 'string') acc.content = (acc.content ?? '') + delta.content;
      if (typeof delta.refusal === 'string') acc.refusal = (acc.refusal ?? '') + delta.refusal;
      if (Array.isArray(delta.tool_calls)) {
        delta.tool_calls.forEach((tc, position) => {
          if (!isObject(tc)) return;
          const i = typeof tc.index === 'number' ? tc.index : position;
          let call = acc.toolCalls.get(i);
          if (!call) {
            call = { index: i, id: '', type: 'function', name: '', arguments: '' };
            acc.toolCalls.set(i, call);
          }
          if (typeof tc.id === 'string') call.id += tc.id;
          if (typeof tc.type === 'string') call.type = tc.type;
          const fn = isObject(tc.function) ? tc.function : null;
          if (typeof fn?.name === 'string') call.name += fn.name;
          if (typeof fn?.arguments === 'string') call.arguments += fn.arguments;
        });
      }
    }
  }

  /** Some choice has a finish reason. */
  finished(): boolean {
    for (const c of this.choices.values()) if (c.finishReason !== null) return true;
    return false;
  }

  /** All text generated so far (content, refusals, tool-call arguments), for estimating usage. */
  generatedText(): string {
    let out = '';
    for (const c of this.choices.values()) {
      out += c.text + (c.content ?? '') + (c.refusal ?? '');
      for (const t of c.toolCalls.values()) out += t.name + t.arguments;
    }
    return out;
  }

  /** The whole answer; a choice the stream never gave a finish reason ends as `stop` (the stream itself ended). */
  result(): Json {
    const choices = [...this.choices.values()].sort((a, b) => a.index - b.index).map((c) => {
      const logprobs = c.logprobs ? Object.fromEntries(c.logprobs) : null;
      const finish = c.finishReason ?? 'stop';
      if (this.kind === 'text') return { index: c.index, text: c.text, logprobs, finish_reason: finish };
      const message: Json = { role: c.role, content: c.content, refusal: c.refusal };
      if (c.toolCalls.size > 0) {
        message.tool_calls = [...c.toolCalls.values()].sort((a, b) => a.index - b.index)
          .map((t) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.arguments } }));
      }
      return { index: c.index, message, logprobs, finish_reason: finish };
    });
    const out: Json = {
      id: this.id ?? '',
      object: this.kind === 'chat' ? 'chat.completion' : 'text_completion',
      created: this.created ?? 0,
      model: this.model ?? '',
      choices,
    };
    if (this.serviceTier !== undefined) out.service_tier = this.serviceTier;
    if (this.fingerprint !== undefined) out.system_fingerprint = this.fingerprint;
    if (this.rawUsage) out.usage = this.rawUsage;
    return out;
  }

  private choice(index: number): ChoiceAcc {
    let acc = this.choices.get(index);
    if (!acc) {
      acc = { index, role: 'assistant', content: null, refusal: null, text: '', toolCalls: new Map(), finishReason: null, logprobs: null };
      this.choices.set(index, acc);
    }
    return acc;
  }
}

function addLogprobs(acc: ChoiceAcc, logprobs: Json): void {
  acc.logprobs ??= new Map();
  for (const [key, value] of Object.entries(logprobs)) {
    if (!Array.isArray(value)) continue;
    const list = acc.logprobs.get(key);
    if (list) for (const v of value) list.push(v);
    else acc.logprobs.set(key, [...value]);
  }
}

/**
 * The chunks of a stream for one whole answer: per choice a role chunk, the content (with its
 * logprobs), the refusal, the tool calls, a finish chunk; then a usage chunk when the client
 * asked for one: the provider's, or `fallbackUsage` (the gateway's estimate) when it gave none.
 */
export function synthesize(kind: CompletionKind, answer: unknown, includeUsage: boolean, fallbackUsage: Usage | null = null): Json[] {
  const a = isObject(answer) ? answer : {};
  const base: Json = {
    id: a.id ?? '',
    object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: a.created ?? Math.floor(Date.now() / 1000),
    model: a.model ?? '',
  };
  if (a.service_tier !== undefined) base.service_tier = a.service_tier;
  if (a.system_fingerprint !== undefined) base.system_fingerprint = a.system_fingerprint;
  const chunk = (choice: Json): Json => ({ ...base, choices: [choice] });
  const out: Json[] = [];
  const choices = Array.isArray(a.choices) ? a.choices.filter(isObject) : [];
  for (const c of choices) {
    const index = typeof c.index === 'number' ? c.index : 0;
    const finish = typeof c.finish_reason === 'string' ? c.finish_reason : 'stop';
    const logprobs = isObject(c.logprobs) ? c.logprobs : null;
    if (kind === 'text') {
      if ((typeof c.text === 'string' && c.text) || logprobs) out.push(chunk({ index, text: typeof c.text === 'string' ? c.text : '', logprobs, finish_reason: null }));
      out.push(chunk({ index, text: '', logprobs: null, finish_reason: finish }));
      continue;
    }
    const m = isObject(c.message) ? c.message : {};
    // As OpenAI does: `content: ''` to open a text answer, `null` for one of tool calls or a refusal.
    const opening = typeof m.content === 'string' ? '' : null;
    const delta: Json = { role: typeof m.role === 'string' ? m.role : 'assistant', content: opening };
    if (m.refusal === null) delta.refusal = null;
    out.push(chunk({ index, delta, logprobs: null, finish_reason: null }));
    // The logprobs ride on the chunk of the text (or refusal) they describe.
    const contentLogprobs = logprobs && Array.isArray(logprobs.content) ? { content: logprobs.content, refusal: null } : null;
    const refusalLogprobs = logprobs && Array.isArray(logprobs.refusal) ? { content: null, refusal: logprobs.refusal } : null;
    if (typeof m.content === 'string' && m.content) out.push(chunk({ index, delta: { content: m.content }, logprobs: contentLogprobs, finish_reason: null }));
    if (typeof m.refusal === 'string' && m.refusal) out.push(chunk({ index, delta: { refusal: m.refusal }, logprobs: refusalLogprobs, finish_reason: null }));
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      const calls = m.tool_calls.filter(isObject).map((t, i) => ({ index: i, id: t.id, type: t.type ?? 'function', function: t.function }));
      out.push(chunk({ index, delta: { tool_calls: calls }, logprobs: null, finish_reason: null }));
    }
    out.push(chunk({ index, delta: {}, logprobs: null, finish_reason: finish }));
  }
  if (includeUsage) {
    const usage = readUsage(a.usage) ? a.usage : fallbackUsage;
    if (usage) out.push({ ...base, choices: [], usage });
  }
  return out;
}

/** The chunk that carries a stream's usage (`choices: []`), with the stream's id, created and model. */
export function usageChunk(kind: CompletionKind, head: { id?: unknown; created?: unknown; model?: unknown } | null, usage: unknown): Json {
  return {
    id: head?.id ?? '',
    object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: head?.created ?? 0,
    model: head?.model ?? '',
    choices: [],
    usage,
  };
}

/**
 * The text of a chunk in the canonical form OpenAI-compatible servers send for a piece of text
 * (`{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[{"index":0,"delta":
 * {"content":"…"},"logprobs":null,"finish_reason":null}]}`), read without parsing the chunk
 * whole; null for any other chunk (which is then parsed). The pattern is linear: no nested
 * quantifier can backtrack.
 */
export function textOnlyChunk(data: string): string | null {
  if (data.length > 64 * 1024) return null;
  const m = TEXT_ONLY.exec(data);
  if (!m) return null;
  try {
    return JSON.parse(m[1]!) as string;
  } catch {
    return null;
  }
}

const TEXT_ONLY = /^\{"id":"[^"\\]*","object":"chat\.completion\.chunk","created":\d+,"model":"[^"\\]*",(?:"service_tier":"[^"\\]*",)?(?:"system_fingerprint":(?:null|"[^"\\]*"),)?"choices":\[\{"index":0,"delta":\{"content":("(?:[^"\\]|\\.)*")\}(?:,"logprobs":null)?,"finish_reason":null\}\](?:,"usage":null)?(?:,"obfuscation":"[^"\\]*")?\}$/;

/** The text one chunk (or whole answer) adds: content, refusal, tool-call names and arguments, or legacy text. */
export function chunkText(kind: CompletionKind, chunk: unknown): string {
  if (!isObject(chunk) || !Array.isArray(chunk.choices)) return '';
  let out = '';
  for (const c of chunk.choices) {
    if (!isObject(c)) continue;
    if (kind === 'text') {
      if (typeof c.text === 'string') out += c.text;
      continue;
    }
    const d = isObject(c.delta) ? c.delta : isObject(c.message) ? c.message : null;
    if (!d) continue;
    if (typeof d.content === 'string') out += d.content;
    if (typeof d.refusal === 'string') out += d.refusal;
    if (Array.isArray(d.tool_calls)) {
      for (const t of d.tool_calls) {
        const fn = isObject(t) && isObject(t.function) ? t.function : null;
        if (typeof fn?.name === 'string') out += fn.name;
        if (typeof fn?.arguments === 'string') out += fn.arguments;
      }
    }
  }
  return out;
}

/** A data line parsed as a chunk; undefined for `[DONE]` and for data that is not JSON (skipped, never fatal). */
export function chunkOf(data: string): unknown {
  if (data === '[DONE]') return undefined;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/** The three totals of a usage object; null when it has none of them. */
export function readUsage(u: unknown): Usage | null {
  if (!isObject(u)) return null;
  if (typeof u.total_tokens !== 'number' && typeof u.prompt_tokens !== 'number' && typeof u.completion_tokens !== 'number') return null;
  const prompt = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0;
  const completion = typeof u.completion_tokens === 'number' ? u.completion_tokens : 0;
  const total = typeof u.total_tokens === 'number' ? u.total_tokens : prompt + completion;
  const details = u.prompt_tokens_details;
  const cached = isObject(details) && typeof details.cached_tokens === 'number' ? details.cached_tokens : 0;
  return cached > 0
    ? { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total, cached_tokens: cached }
    : { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

/** A usage-only chunk (`choices: []` with `usage`): what `include_usage` adds at the end of a stream. */
export function isUsageOnlyChunk(chunk: unknown): boolean {
  return isObject(chunk) && Array.isArray(chunk.choices) && chunk.choices.length === 0 && isObject(chunk.usage);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
