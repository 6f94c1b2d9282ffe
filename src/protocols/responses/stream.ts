/**
 * A per-request state machine: `chat.completion.chunk`s (already JSON-parsed) in, the Responses
 * event stream out, each event framed as `event: <type>\ndata: <json>\n\n` with an increasing
 * `sequence_number`: `response.created`, `response.in_progress`; per output item
 * `response.output_item.added`, its content (`content_part.added`, `output_text.delta`…,
 * `output_text.done`, `content_part.done`; or `function_call_arguments.delta`… / `.done`; or a
 * custom tool's `custom_tool_call_input.delta` / `.done`), `response.output_item.done` with the
 * whole item; then `response.completed` (or `response.incomplete`) with the whole response and
 * its usage. A stream that breaks ends with `response.failed`.
 *
 * Text goes in a message item, closed when a tool call starts (text after calls opens another).
 * Calls stay open until the end, each with its own `output_index`, so the argument pieces of
 * parallel calls may interleave as the upstream sends them. A custom tool's input sits inside
 * the function's JSON arguments, so it is sent whole when the call ends. Only choice 0 is read.
 */
import { isObject, nonEmptyString, type Json } from '../json.js';
import {
  callItem, customInput, itemId, messageItem, outputText, responseObject, responsesUsage, statusFor,
  type ResponseContext, type ResponsesUsage,
} from './answer.js';

/** Tool calls one stream may open; more (an upstream gone wrong) are ignored. */
export const MAX_STREAM_TOOL_CALLS = 1_000;
/** Text and arguments kept for the `.done` events and the final response: past this an upstream is hostile. */
export const MAX_RETAINED_CHARS = 64 * 1024 * 1024;

interface TextItem {
  index: number;
  id: string;
  text: string;
}

interface CallState {
  index: number;
  callId: string;
  chatName: string;
  args: string;
  custom: boolean;
}

export class ResponsesStream {
  private readonly ctx: ResponseContext;
  private readonly onDone: ((response: Json) => void) | null;
  /** The response's fixed fields (id, model, the request's settings) as JSON, both sides of its variable part. */
  private readonly head: string;
  private readonly tail: string;
  private out = '';
  private seq = 0;
  private started = false;
  private done = false;
  /** Output items by `output_index`; undefined while the item is open. */
  private readonly items: (Json | undefined)[] = [];
  private text: TextItem | null = null;
  /** Every call, in order; and each by its chat `index` (the latest with it) and by `id:<call id>`. */
  private readonly calls: CallState[] = [];
  private readonly callKeys = new Map<number | string, CallState>();
  private lastCall: CallState | null = null;
  private finishReason: string | null = null;
  private usage: unknown = null;
  private retained = 0;

  /** `onDone` gets the final response (completed or incomplete), for storing it; without it no response object is built. */
  constructor(ctx: ResponseContext, onDone: ((response: Json) => void) | null = null) {
    this.ctx = ctx;
    this.onDone = onDone;
    // Serialized once: the request's settings (tools included) repeat in three events.
    this.head = `{"id":${JSON.stringify(ctx.id)},"object":"response","created_at":${ctx.createdAt},"status":`;
    const echo = JSON.stringify(ctx.request.echo);
    this.tail = echo === '{}' ? '}' : `,${echo.slice(1)}`;
  }

  /** The events of a chunk that carried only a piece of text for choice 0. */
  pushText(piece: string): string {
    if (this.done) return '';
    this.start();
    this.addText(piece);
    return this.flush();
  }

  push(chunk: unknown): string {
    if (this.done || !isObject(chunk)) return '';
    this.start();
    if (isObject(chunk.usage)) this.usage = chunk.usage;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const choice: unknown = choices.find((c) => isObject(c) && (c.index === 0 || c.index === undefined));
    if (isObject(choice)) {
      const delta = isObject(choice.delta) ? choice.delta : {};
      if (typeof delta.content === 'string') this.addText(delta.content);
      if (typeof delta.refusal === 'string') this.addText(delta.refusal);
      if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObject(call)) this.callPiece(call);
      if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    }
    return this.flush();
  }

  /** Closes every item and ends with the whole response: this `usage`, else the last one the chunks carried. */
  end(usage: unknown): string {
    if (this.done) return '';
    this.start();
    // In output order, as OpenAI does (clients build their history from `output_item.done`):
    // open text, after the calls (a call closes the text before it), is the last item.
    const { status, incomplete_details } = statusFor(this.finishReason);
    for (const call of this.calls) this.closeCall(call);
    // Text cut by the token limit is an incomplete message, as OpenAI marks it.
    this.closeText(status === 'incomplete' ? 'incomplete' : 'completed');
    this.done = true;
    const final: ResponsesUsage | null = responsesUsage(usage) ?? responsesUsage(this.usage);
    const output = this.closedItems();
    this.emitResponse(status === 'incomplete' ? 'response.incomplete' : 'response.completed', status, JSON.stringify(output), JSON.stringify(final), null, incomplete_details);
    this.onDone?.(responseObject(this.ctx, status, output, final, { incomplete_details }));
    return this.flush();
  }

  /** `response.failed` with what was produced so far; nothing follows it. */
  error(message: string): string {
    if (this.done) return '';
    this.start();
    this.done = true;
    this.emitResponse('response.failed', 'failed', JSON.stringify(this.closedItems()), JSON.stringify(responsesUsage(this.usage)), { code: 'server_error', message }, null);
    return this.flush();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.emitResponse('response.created', 'in_progress', '[]', 'null', null, null);
    this.emitResponse('response.in_progress', 'in_progress', '[]', 'null', null, null);
  }

  private addText(piece: string): void {
    if (piece === '') return;
    let t = this.text;
    if (t === null) {
      const index = this.items.length;
      t = { index, id: itemId('msg', this.ctx.id, index), text: '' };
      this.text = t;
      this.items.push(undefined);
      this.emit('response.output_item.added', { output_index: index, item: { id: t.id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
      this.emit('response.content_part.added', { item_id: t.id, output_index: index, content_index: 0, part: outputText('') });
    }
    if (this.retain(piece.length)) t.text += piece;
    // The one event per upstream chunk: written by hand (the bytes JSON.stringify gives).
    this.out += `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":${this.seq++},"item_id":"${t.id}","output_index":${t.index},"content_index":0,"delta":${JSON.stringify(piece)},"logprobs":[]}\n\n`;
  }

  private closeText(status: 'completed' | 'incomplete' = 'completed'): void {
    const t = this.text;
    if (t === null) return;
    this.text = null;
    this.emit('response.output_text.done', { item_id: t.id, output_index: t.index, content_index: 0, text: t.text, logprobs: [] });
    this.emit('response.content_part.done', { item_id: t.id, output_index: t.index, content_index: 0, part: outputText(t.text) });
    const item = messageItem(t.id, t.text, status);
    this.items[t.index] = item;
    this.emit('response.output_item.done', { output_index: t.index, item });
  }

  private callPiece(call: Json): void {
    const fn = isObject(call.function) ? call.function : {};
    let state = this.callFor(call);
    if (state === undefined) {
      if (this.calls.length >= MAX_STREAM_TOOL_CALLS) {
        // Pieces that follow without index or id belong to this ignored call, not the last one kept.
        this.lastCall = null;
        return;
      }
      this.closeText();
      const index = this.items.length;
      const chatName = nonEmptyString(fn.name) ?? '';
      state = { index, callId: nonEmptyString(call.id) ?? `call_${this.ctx.id.slice(5)}_${index}`, chatName, args: '', custom: this.ctx.request.tools.get(chatName)?.kind === 'custom' };
      this.items.push(undefined);
      this.calls.push(state);
      if (typeof call.index === 'number') this.callKeys.set(call.index, state);
      this.callKeys.set(`id:${state.callId}`, state);
      this.emit('response.output_item.added', { output_index: index, item: callItem(this.ctx.request.tools, this.ctx.id, index, state.callId, chatName, '', 'in_progress') });
    }
    this.lastCall = state;
    const piece = typeof fn.arguments === 'string' ? fn.arguments : '';
    if (piece === '' || !this.retain(piece.length)) return;
    state.args += piece;
    if (!state.custom) {
      this.emit('response.function_call_arguments.delta', { item_id: itemId('fc', this.ctx.id, state.index), output_index: state.index, delta: piece });
    }
  }

  /** A call's state: by chat `index`; upstreams that leave it out are followed by `id`, else the last call continues. */
  private callFor(call: Json): CallState | undefined {
    const id = nonEmptyString(call.id);
    if (typeof call.index === 'number') {
      const byIndex = this.callKeys.get(call.index);
      // Some upstreams number every parallel call 0: a new id under a known index is a new call.
      if (byIndex !== undefined && id !== null && id !== byIndex.callId) return this.callKeys.get(`id:${id}`);
      return byIndex;
    }
    if (id !== null) return this.callKeys.get(`id:${id}`);
    return this.lastCall ?? undefined;
  }

  private closeCall(c: CallState): void {
    if (this.items[c.index] !== undefined) return;
    const item = callItem(this.ctx.request.tools, this.ctx.id, c.index, c.callId, c.chatName, c.args);
    const id = item.id as string;
    if (c.custom) {
      const input = customInput(c.args);
      this.emit('response.custom_tool_call_input.delta', { item_id: id, output_index: c.index, delta: input });
      this.emit('response.custom_tool_call_input.done', { item_id: id, output_index: c.index, input });
    } else {
      this.emit('response.function_call_arguments.done', { item_id: id, output_index: c.index, name: item.name, arguments: c.args });
    }
    this.items[c.index] = item;
    this.emit('response.output_item.done', { output_index: c.index, item });
  }

  private closedItems(): Json[] {
    return this.items.filter((i): i is Json => i !== undefined);
  }

  private retain(chars: number): boolean {
    if (this.retained + chars > MAX_RETAINED_CHARS) return false;
    this.retained += chars;
    return true;
  }

  /** One event: its fields serialized as they are, after `type` and `sequence_number` (no merged object). */
  private emit(type: string, fields: Json): void {
    const rest = JSON.stringify(fields);
    this.out += `event: ${type}\ndata: {"type":"${type}","sequence_number":${this.seq++}${rest === '{}' ? '}' : `,${rest.slice(1)}`}\n\n`;
  }

  /** An event with the whole response, written around the parts serialized once (the same bytes as `responseObject`'s JSON). */
  private emitResponse(type: string, status: string, output: string, usage: string, error: unknown, incomplete: unknown): void {
    const response = `${this.head}"${status}","background":false,"error":${JSON.stringify(error)},"incomplete_details":${JSON.stringify(incomplete)},`
      + `"model":${JSON.stringify(this.ctx.model)},"output":${output},"usage":${usage}${this.tail}`;
    this.out += `event: ${type}\ndata: {"type":"${type}","sequence_number":${this.seq++},"response":${response}}\n\n`;
  }

  private flush(): string {
    const text = this.out;
    this.out = '';
    return text;
  }
}
