/**
 * Responses requests passed through to a provider that speaks the Responses API itself
 * (`native_responses: true`): the client's body goes as it came (a stored conversation it
 * continues is put in front of its input, since the provider does not know the gateway's ids),
 * and answers and streams come back untouched except `model`, which names the client's model.
 * Only the events that carry the whole response (`response.created`, `…completed`…) are parsed:
 * they name the model, and the terminal ones carry the usage.
 */
import type { CountedUsage, NativeStreamWatcher, Progress } from '../format.js';
import { count, isObject, progressData, type Json } from '../json.js';

const LIFECYCLE: ReadonlySet<string> = new Set([
  'response.created', 'response.in_progress', 'response.queued', 'response.content_part.added', 'response.reasoning_summary_part.added',
]);

/**
 * A Responses event before the stream's first content (SPEC §9): the response's creation and
 * progress, and a message or reasoning item announced before its text, are lifecycle; a function
 * call names itself when it is added, so that is content, as is any delta or the end;
 * `error` and `response.failed` fail the try.
 */
export function responsesProgress(event: string | null, data: string | null): Progress {
  const v = progressData(data);
  const type = typeof v?.type === 'string' ? v.type : event;
  if (type === null) return data === null ? 'lifecycle' : 'content';
  if (type === 'error' || type === 'response.failed') return 'error';
  if (LIFECYCLE.has(type)) return 'lifecycle';
  if (type === 'response.output_item.added') {
    const item = v?.item;
    return isObject(item) && (item.type === 'message' || item.type === 'reasoning') ? 'lifecycle' : 'content';
  }
  return 'content';
}

/** Text kept from a native stream's deltas for an estimate when it reports no usage. */
const SAMPLE_CHARS = 64 * 1024;
const SEQUENCE = /"sequence_number":(\d{1,15})/;
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/** Responses usage → the gateway's counted usage (cached tokens are part of `input_tokens`). */
export function countedUsage(usage: unknown): (CountedUsage & { prompt_tokens_details: { cached_tokens: number } }) | null {
  if (!isObject(usage) || typeof usage.input_tokens !== 'number') return null;
  const input = count(usage.input_tokens);
  const output = count(usage.output_tokens);
  const details = usage.input_tokens_details;
  const cached = Math.min(input, isObject(details) ? count(details.cached_tokens) : 0);
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    cached_tokens: cached,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** The body for a native provider: the client's, with the stored conversation before its input and no `previous_response_id`. */
export function nativeBody(body: Json, history: readonly Json[]): Json {
  if (history.length === 0) return body;
  const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : [];
  const out: Json = { ...body, input: [...history, ...input] };
  delete out.previous_response_id;
  return out;
}

export class NativeResponsesStream implements NativeStreamWatcher {
  ended = false;
  usage: CountedUsage | null = null;
  bytes = 0;
  private sample = '';
  private lastSeq = -1;
  private id: unknown = null;

  constructor(
    private readonly model: string,
    /** Called with the final response (completed or incomplete). */
    private readonly onDone: (response: Json) => void,
  ) {}

  event(data: string | null, raw: Buffer): Buffer | string {
    this.bytes += raw.length;
    if (data === null) return raw;
    const seq = SEQUENCE.exec(data);
    if (seq) this.lastSeq = Number(seq[1]);
    if (!data.includes('"response":{')) {
      if (this.sample.length < SAMPLE_CHARS && data.includes('"response.output_text.delta"')) this.addSample(data);
      return raw;
    }
    let e: unknown;
    try {
      e = JSON.parse(data);
    } catch {
      return raw;
    }
    if (!isObject(e) || !isObject(e.response)) return raw;
    const type = typeof e.type === 'string' ? e.type : '';
    e.response.model = this.model;
    this.id ??= e.response.id;
    if (TERMINAL.has(type)) {
      this.ended = true;
      this.usage = countedUsage(e.response.usage);
      if (type !== 'response.failed') this.onDone(e.response);
    }
    return `event: ${type}\ndata: ${JSON.stringify(e)}\n\n`;
  }

  generatedText(): string {
    return this.sample;
  }

  error(message: string): string {
    if (this.ended) return '';
    this.ended = true;
    const response = { id: this.id, object: 'response', status: 'failed', model: this.model, error: { code: 'server_error', message }, output: [] };
    return `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', sequence_number: this.lastSeq + 1, response })}\n\n`;
  }

  private addSample(data: string): void {
    try {
      const e: unknown = JSON.parse(data);
      if (isObject(e) && typeof e.delta === 'string') this.sample += e.delta;
    } catch {
      // not JSON: nothing to sample
    }
  }
}
