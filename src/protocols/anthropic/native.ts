/**
 * `/v1/messages` passed through to a provider that speaks Messages itself (`type: "anthropic"`):
 * the client's body goes as it came (only `model` rewritten), the answer and its events come
 * back untouched except `model` (the client's) in the message and in `message_start`. Thinking
 * blocks, `cache_control` and citations survive both ways. Only `message_start`,
 * `message_delta` and `message_stop` are parsed: they carry the model and the usage.
 */
import type { CountedUsage, NativeStreamWatcher, Progress } from '../format.js';
import { isObject, nonEmptyString, progressData, type Json } from '../json.js';

/**
 * A Messages event before the stream's first content (SPEC §9): `message_start`, `ping` and the
 * start of an empty text or thinking block are lifecycle; a tool call names itself in its block's
 * start, so that is content, as is any delta or the end; `error` fails the try.
 */
export function messagesProgress(event: string | null, data: string | null): Progress {
  const v = progressData(data);
  const type = event ?? (typeof v?.type === 'string' ? v.type : null);
  if (type === null) return data === null ? 'lifecycle' : 'content';
  if (type === 'error') return 'error';
  if (type === 'message_start' || type === 'ping') return 'lifecycle';
  if (type === 'content_block_start') {
    const block = v?.content_block;
    if (isObject(block) && (block.type === 'text' || block.type === 'thinking') && nonEmptyString(block.text) === null && nonEmptyString(block.thinking) === null) return 'lifecycle';
  }
  return 'content';
}

/** Anthropic usage → the gateway's counted usage (every input token: fresh, cache reads and writes). */
export function countedMessagesUsage(usage: unknown): CountedUsage | null {
  if (!isObject(usage) || typeof usage.input_tokens !== 'number') return null;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0);
  const prompt = n(usage.input_tokens) + n(usage.cache_read_input_tokens) + n(usage.cache_creation_input_tokens);
  const completion = n(usage.output_tokens);
  const cached = n(usage.cache_read_input_tokens);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, ...(cached > 0 ? { cached_tokens: cached } : {}) };
}

/** A whole Message for the client: its own bytes' content, the client's model. */
export function nativeMessage(json: unknown, model: string): { body: unknown; usage: CountedUsage | null } {
  if (!isObject(json)) return { body: json, usage: null };
  json.model = model;
  return { body: json, usage: countedMessagesUsage(json.usage) };
}

const SAMPLE_CHARS = 64 * 1024;

export class NativeMessagesStream implements NativeStreamWatcher {
  ended = false;
  usage: CountedUsage | null = null;
  bytes = 0;
  private counts: Json = {};
  private sample = '';

  constructor(private readonly model: string) {}

  event(data: string | null, raw: Buffer): Buffer | string {
    this.bytes += raw.length;
    if (data === null) return raw;
    if (data.includes('"content_block_delta"')) {
      if (this.sample.length < SAMPLE_CHARS && data.includes('"text_delta"')) this.addSample(data);
      return raw;
    }
    if (!data.includes('"message_')) return raw;
    let e: unknown;
    try {
      e = JSON.parse(data);
    } catch {
      return raw;
    }
    if (!isObject(e)) return raw;
    if (e.type === 'message_start' && isObject(e.message)) {
      e.message.model = this.model;
      if (isObject(e.message.usage)) this.counts = { ...e.message.usage };
      return `event: message_start\ndata: ${JSON.stringify(e)}\n\n`;
    }
    if (e.type === 'message_delta' && isObject(e.usage)) {
      for (const [k, v] of Object.entries(e.usage)) if (typeof v === 'number') this.counts[k] = v;
    }
    if (e.type === 'message_stop') {
      this.ended = true;
      this.usage = countedMessagesUsage(this.counts);
    }
    return raw;
  }

  generatedText(): string {
    return this.sample;
  }

  error(message: string): string {
    if (this.ended) return '';
    this.ended = true;
    this.usage = countedMessagesUsage(this.counts);
    return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`;
  }

  private addSample(data: string): void {
    try {
      const e: unknown = JSON.parse(data);
      if (isObject(e) && isObject(e.delta) && typeof e.delta.text === 'string') this.sample += e.delta.text;
    } catch {
      // not JSON: nothing to sample
    }
  }
}
