/**
 * A per-request state machine: `chat.completion.chunk`s (already JSON-parsed) in, the Anthropic
 * Messages event stream out (`message_start`, per block `content_block_start` / `_delta` /
 * `_stop`, `message_delta`, `message_stop`), each event framed as `event: …\ndata: …\n\n`.
 *
 * Blocks are numbered 0, 1, 2… in the order they open, and only one is open at a time: Anthropic
 * cannot interleave blocks, chat can interleave the argument pieces of parallel tool calls (by
 * their `index`). A block is closed only when the next is ready to open and the open one is
 * finished: a text block always is; a tool call is once its arguments form a complete JSON value
 * (tracked by a small incremental scanner). Until then, pieces of the calls (and text) that come
 * after it are held and sent, in order, when their block opens. Upstreams that send calls one
 * after another (OpenAI does) therefore stream live; interleaving ones stream correctly, later
 * calls in a burst. Pieces for a call whose block is closed can only be whitespace after its
 * complete JSON and are dropped. Only choice 0 is read (Anthropic has no `n`).
 */
import { anthropicUsage, NO_USAGE, stopReasonFor, type AnthropicUsage, type ChatUsage } from './answer.js';
import { isObject, nonEmptyString, sse, type Json } from '../json.js';

/** Tool calls one stream may open; more (an upstream gone wrong) are ignored. */
export const MAX_STREAM_TOOL_CALLS = 1_000;

/** Tracks whether a JSON text fed in pieces has closed its top-level object or array. */
class JsonEnd {
  private depth = 0;
  private inString = false;
  private escaped = false;
  complete = false;

  feed(piece: string): void {
    for (let i = 0; i < piece.length && !this.complete; i++) {
      const c = piece[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if ((c === '}' || c === ']') && this.depth > 0 && --this.depth === 0) this.complete = true;
    }
  }
}

interface TextBlock {
  kind: 'text';
  index: number;
  held: string;
}

interface ToolBlock {
  kind: 'tool';
  index: number;
  id: string;
  name: string;
  held: string;
  end: JsonEnd;
  state: 'waiting' | 'open' | 'closed';
}

type Block = TextBlock | ToolBlock;

export interface AnthropicStreamOptions {
  /** The model the client asked for (named in `message_start`). */
  model: string;
  /** The message id (`msg_…`), made by the caller. */
  id: string;
  /** The prompt's tokens as estimated before the answer, for `message_start` when the upstream has not said. */
  inputTokens?: number;
}

export class AnthropicStream {
  private readonly opts: AnthropicStreamOptions;
  private out: string[] = [];
  private isStarted = false;
  private isContent = false;
  private done = false;
  private nextIndex = 0;
  private open: Block | null = null;
  private readonly waiting: Block[] = [];
  private readonly tools = new Map<number, ToolBlock>();
  private readonly toolKeys = new Map<string, number>();
  private lastToolKey = -1;
  private finishReason: string | null = null;
  private usage: unknown = null;

  constructor(opts: AnthropicStreamOptions) {
    this.opts = opts;
  }

  /** `message_start` has been produced. */
  get started(): boolean {
    return this.isStarted;
  }

  /** A content block (text with its first piece, or a tool call) has been produced. */
  get hasContent(): boolean {
    return this.isContent;
  }

  /**
   * The events of a chunk that carried only a piece of text for choice 0 (the common chunk,
   * recognized without parsing it whole: `stream/convert.ts` `textOnlyChunk`).
   */
  pushText(piece: string): string {
    if (this.done) return '';
    this.start(null);
    this.text(piece);
    return this.flush();
  }

  /** The events one chunk gives now (possibly ''). The first chunk of any kind starts the message. */
  push(chunk: unknown): string {
    if (this.done || !isObject(chunk)) return '';
    this.start(chunk.usage);
    if (isObject(chunk.usage)) this.usage = chunk.usage;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const choice: unknown = choices.find((c) => isObject(c) && (c.index === 0 || c.index === undefined));
    if (isObject(choice)) {
      const delta = isObject(choice.delta) ? choice.delta : {};
      if (typeof delta.content === 'string') this.text(delta.content);
      if (typeof delta.refusal === 'string') this.text(delta.refusal);
      if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObject(call)) this.toolPiece(call);
      if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    }
    return this.flush();
  }

  /**
   * Closes the message: every block still open or held, `message_delta` (stop reason and the
   * authoritative usage: this `usage`, else the last one the chunks carried), `message_stop`.
   */
  end(usage: ChatUsage | null): string {
    if (this.done) return '';
    const final = anthropicUsage(usage) ?? anthropicUsage(this.usage);
    this.start(usage);
    while (this.open !== null || this.waiting.length > 0) this.openNext();
    this.done = true;
    this.emit('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReasonFor(this.finishReason, this.tools.size > 0), stop_sequence: null },
      usage: final ?? this.estimatedUsage(),
    });
    this.emit('message_stop', { type: 'message_stop' });
    return this.flush();
  }

  /** A terminal `error` event; nothing follows it. */
  error(message: string, type = 'api_error'): string {
    if (this.done) return '';
    this.done = true;
    return sse('error', { type: 'error', error: { type, message } });
  }

  /** A keep-alive, as Anthropic sends; '' once the stream has ended. */
  ping(): string {
    return this.done ? '' : sse('ping', { type: 'ping' });
  }

  private start(usage: unknown): void {
    if (this.isStarted) return;
    this.isStarted = true;
    const known = anthropicUsage(usage);
    this.emit('message_start', {
      type: 'message_start',
      message: {
        id: this.opts.id,
        type: 'message',
        role: 'assistant',
        model: this.opts.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: known ? { ...known, output_tokens: 0 } : this.estimatedUsage(),
      },
    });
  }

  private estimatedUsage(): AnthropicUsage {
    return { ...NO_USAGE, input_tokens: this.opts.inputTokens ?? 0 };
  }

  private text(piece: string): void {
    if (piece === '') return;
    if (this.open?.kind === 'text' && this.waiting.length === 0) {
      this.emitDelta(this.open, piece);
      return;
    }
    const last = this.waiting.at(-1);
    if (last?.kind === 'text') last.held += piece;
    else this.waiting.push({ kind: 'text', index: -1, held: piece });
    this.advance();
  }

  private toolPiece(call: Json): void {
    const key = this.toolKey(call);
    const fn = isObject(call.function) ? call.function : {};
    let tool = this.tools.get(key);
    if (tool === undefined) {
      if (this.tools.size >= MAX_STREAM_TOOL_CALLS) return;
      const id = nonEmptyString(call.id) ?? `toolu_${this.opts.id}_${key}`;
      tool = { kind: 'tool', index: -1, id, name: nonEmptyString(fn.name) ?? '', held: '', end: new JsonEnd(), state: 'waiting' };
      this.tools.set(key, tool);
      if (typeof call.id === 'string') this.toolKeys.set(call.id, key);
      this.waiting.push(tool);
    } else if (tool.state === 'waiting' && tool.name === '') tool.name = nonEmptyString(fn.name) ?? '';
    this.lastToolKey = key;
    const args = typeof fn.arguments === 'string' ? fn.arguments : '';
    if (args !== '' && tool.state !== 'closed') {
      tool.end.feed(args);
      if (tool.state === 'open') this.emitDelta(tool, args);
      else tool.held += args;
    }
    this.advance();
  }

  /** A call's chat `index`; upstreams that leave it out are followed by `id`, else the last call continues. */
  private toolKey(call: Json): number {
    if (typeof call.index === 'number') return call.index;
    const id = nonEmptyString(call.id);
    // Negative keys for calls known only by id never meet a chat index; -1 is "no call yet".
    if (id !== null) return this.toolKeys.get(id) ?? -2 - this.toolKeys.size;
    return this.lastToolKey;
  }

  /** Opens held blocks while the open one is finished. */
  private advance(): void {
    while (this.waiting.length > 0 && (this.open === null || this.open.kind === 'text' || this.open.end.complete)) this.openNext();
  }

  private openNext(): void {
    if (this.open !== null) {
      this.emit('content_block_stop', { type: 'content_block_stop', index: this.open.index });
      if (this.open.kind === 'tool') this.open.state = 'closed';
      this.open = null;
    }
    const next = this.waiting.shift();
    if (next === undefined) return;
    next.index = this.nextIndex++;
    this.open = next;
    this.isContent = true;
    const block = next.kind === 'text' ? { type: 'text', text: '' } : { type: 'tool_use', id: next.id, name: next.name, input: {} };
    this.emit('content_block_start', { type: 'content_block_start', index: next.index, content_block: block });
    if (next.kind === 'tool') next.state = 'open';
    const held = next.held;
    next.held = '';
    if (held !== '') this.emitDelta(next, held);
  }

  private emitDelta(block: Block, piece: string): void {
    // The event of every streamed piece: written by hand (the same bytes JSON.stringify gives), as
    // it is the one event per upstream chunk.
    const field = block.kind === 'text' ? '"type":"text_delta","text"' : '"type":"input_json_delta","partial_json"';
    this.out.push(`event: content_block_delta\ndata: {"type":"content_block_delta","index":${block.index},"delta":{${field}:${JSON.stringify(piece)}}}\n\n`);
  }

  private emit(type: string, data: Json): void {
    this.out.push(sse(type, data));
  }

  private flush(): string {
    const text = this.out.join('');
    this.out = [];
    return text;
  }
}
