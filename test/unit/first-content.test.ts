import { describe, expect, it, vi, type Mock } from 'vitest';
import { textOnlyChunk } from '../../src/stream/convert.js';
import { messagesProgress as messagesOf } from '../../src/protocols/anthropic/native.js';
import { messagesFormat } from '../../src/protocols/messages.js';
import { responsesProgress as responsesOf } from '../../src/protocols/responses/native.js';
import { chatProgress } from '../../src/stream/first-content.js';
import { SseDecoder, type SseEvent } from '../../src/stream/sse.js';
import { StreamFailure, UpstreamStream, type ByteSource } from '../../src/stream/upstream-stream.js';

/** The formats' readers take an event's name and data: read from a decoded event, as the proxy does. */
const messagesProgress = (e: SseEvent) => messagesOf(e.event, e.data);
const responsesProgress = (e: SseEvent) => responsesOf(e.event, e.data);

/**
 * The first-token wait (SPEC §9): which upstream events are lifecycle frames (held back), which
 * are content (let the stream through) and which are errors (fail the try), and how
 * `UpstreamStream.open` uses that.
 */

/** The one event that `text` decodes to. */
function ev(text: string): SseEvent {
  const d = new SseDecoder();
  const out = [...d.push(Buffer.from(text)), ...d.end()];
  expect(out).toHaveLength(1);
  return out[0]!;
}
const data = (json: unknown): SseEvent => ev(`data: ${typeof json === 'string' ? json : JSON.stringify(json)}\n\n`);
const named = (event: string, json: unknown): SseEvent => ev(`event: ${event}\ndata: ${JSON.stringify(json)}\n\n`);

const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null, ...extra }],
});

const ROLE = '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}';
const COMPACT_HI = '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}';
const COMPACT_EMPTY = '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}';

describe('chatProgress', () => {
  it('a role-only chunk (role and empty content) is lifecycle', () => {
    expect(textOnlyChunk(ROLE)).toBeNull();
    expect(chatProgress(data(ROLE))).toBe('lifecycle');
    expect(chatProgress(data(chunk({ role: 'assistant' })))).toBe('lifecycle');
  });

  it('a compact text delta (the form textOnlyChunk reads) is content; its empty form is lifecycle', () => {
    expect(textOnlyChunk(COMPACT_HI)).toBe('Hi');
    expect(chatProgress(data(COMPACT_HI))).toBe('content');
    expect(textOnlyChunk(COMPACT_EMPTY)).toBe('');
    expect(chatProgress(data(COMPACT_EMPTY))).toBe('lifecycle');
  });

  it('a text delta with extra fields (not the compact form) is content; its empty form is lifecycle', () => {
    const hi = JSON.stringify({ ...chunk({ content: 'Hi', extra_field: 1 }, { logprobs: null }), system_fingerprint: 'fp', vendor: { a: 1 } });
    expect(textOnlyChunk(hi)).toBeNull();
    expect(chatProgress(data(hi))).toBe('content');
    const empty = JSON.stringify({ ...chunk({ content: '', extra_field: 1 }), vendor: true });
    expect(textOnlyChunk(empty)).toBeNull();
    expect(chatProgress(data(empty))).toBe('lifecycle');
    // A single space is content, not nothing.
    expect(chatProgress(data(chunk({ content: ' ' })))).toBe('content');
  });

  it('a null content or an empty delta is lifecycle', () => {
    expect(chatProgress(data(chunk({ content: null })))).toBe('lifecycle');
    expect(chatProgress(data(chunk({})))).toBe('lifecycle');
  });

  it('a tool_calls delta is content; an empty tool_calls list is not', () => {
    const call = { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } };
    expect(chatProgress(data(chunk({ role: 'assistant', content: null, tool_calls: [call] })))).toBe('content');
    expect(chatProgress(data(chunk({ role: 'assistant', tool_calls: [] })))).toBe('lifecycle');
  });

  it('a legacy function_call delta is content', () => {
    expect(chatProgress(data(chunk({ role: 'assistant', function_call: { name: 'f', arguments: '' } })))).toBe('content');
  });

  it('reasoning_content, reasoning and refusal deltas are content; empty ones are not', () => {
    expect(chatProgress(data(chunk({ reasoning_content: 'Let me think' })))).toBe('content');
    expect(chatProgress(data(chunk({ reasoning: 'Let me think' })))).toBe('content');
    expect(chatProgress(data(chunk({ refusal: 'I cannot' })))).toBe('content');
    expect(chatProgress(data(chunk({ role: 'assistant', reasoning_content: '', refusal: null })))).toBe('lifecycle');
  });

  it('a chunk with finish_reason set is content (the stream ends with it)', () => {
    expect(chatProgress(data(chunk({}, { finish_reason: 'stop' })))).toBe('content');
    expect(chatProgress(data(chunk({ content: '' }, { finish_reason: 'length' })))).toBe('content');
  });

  it('[DONE] is content', () => {
    expect(chatProgress(data('[DONE]'))).toBe('content');
  });

  it('a usage-only chunk (choices: [] and usage) is content; choices: [] without usage is lifecycle', () => {
    const usage = { id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 } };
    expect(chatProgress(data(usage))).toBe('content');
    expect(chatProgress(data({ ...usage, usage: undefined }))).toBe('lifecycle');
    expect(chatProgress(data({ ...usage, usage: null }))).toBe('lifecycle');
  });

  it('an error object is error', () => {
    expect(chatProgress(data({ error: { message: 'overloaded', type: 'server_error', code: 503 } }))).toBe('error');
    expect(chatProgress(data({ error: 'boom' }))).toBe('error');
    // error: null is no error.
    expect(chatProgress(data({ ...chunk({ content: '' }), error: null }))).toBe('lifecycle');
  });

  it('an SSE comment is lifecycle, except the thinking keep-alive', () => {
    expect(chatProgress(ev(': keep-alive\n\n'))).toBe('lifecycle');
    expect(chatProgress(ev(':\n\n'))).toBe('lifecycle');
    expect(chatProgress(ev(': thinking\n\n'))).toBe('content');
  });

  it('data that is not JSON is content', () => {
    expect(chatProgress(data('hello there'))).toBe('content');
    expect(chatProgress(data('{"unterminated'))).toBe('content');
  });

  it('legacy completions: non-empty choices[0].text is content, empty text is lifecycle', () => {
    const legacy = (text: string): unknown => ({ id: 'x', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text, finish_reason: null }] });
    expect(chatProgress(data(legacy('Hi')))).toBe('content');
    expect(chatProgress(data(legacy('')))).toBe('lifecycle');
  });

  it('content in a later choice counts', () => {
    const two = { id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [
      { index: 0, delta: { role: 'assistant' }, finish_reason: null },
      { index: 1, delta: { content: 'B' }, finish_reason: null },
    ] };
    expect(chatProgress(data(two))).toBe('content');
  });
});

describe('messagesProgress', () => {
  const start = { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude', stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } };
  const textStart = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } };
  const thinkingStart = { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } };
  const toolStart = { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } };
  const delta = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } };
  const msgDelta = { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } };
  const stop = { type: 'message_stop' };
  const error = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };

  it('message_start and ping are lifecycle (with and without the event line)', () => {
    expect(messagesProgress(named('message_start', start))).toBe('lifecycle');
    expect(messagesProgress(data(start))).toBe('lifecycle');
    expect(messagesProgress(named('ping', { type: 'ping' }))).toBe('lifecycle');
    expect(messagesProgress(data({ type: 'ping' }))).toBe('lifecycle');
  });

  it('content_block_start of an empty text block and of an empty thinking block are lifecycle', () => {
    expect(messagesProgress(named('content_block_start', textStart))).toBe('lifecycle');
    expect(messagesProgress(data(textStart))).toBe('lifecycle');
    expect(messagesProgress(named('content_block_start', thinkingStart))).toBe('lifecycle');
  });

  it('content_block_start of a block that already carries text or thinking is content', () => {
    expect(messagesProgress(named('content_block_start', { ...textStart, content_block: { type: 'text', text: 'Hi' } }))).toBe('content');
    expect(messagesProgress(named('content_block_start', { ...thinkingStart, content_block: { type: 'thinking', thinking: 'hm' } }))).toBe('content');
  });

  it('content_block_start of a tool_use block is content', () => {
    expect(messagesProgress(named('content_block_start', toolStart))).toBe('content');
    expect(messagesProgress(data(toolStart))).toBe('content');
  });

  it('content_block_delta, message_delta and message_stop are content', () => {
    expect(messagesProgress(named('content_block_delta', delta))).toBe('content');
    expect(messagesProgress(named('message_delta', msgDelta))).toBe('content');
    expect(messagesProgress(named('message_stop', stop))).toBe('content');
    expect(messagesProgress(data(delta))).toBe('content');
    expect(messagesProgress(data(stop))).toBe('content');
  });

  it('an error event is error, by the event line or by data.type', () => {
    expect(messagesProgress(named('error', error))).toBe('error');
    expect(messagesProgress(data(error))).toBe('error');
  });

  it('a comment is lifecycle; data without a type is content', () => {
    expect(messagesProgress(ev(': keep-alive\n\n'))).toBe('lifecycle');
    expect(messagesProgress(data('not json'))).toBe('content');
  });
});

describe('responsesProgress', () => {
  const resp = { id: 'resp_1', object: 'response', status: 'in_progress', output: [] };
  const msgItem = { type: 'message', id: 'msg_1', status: 'in_progress', role: 'assistant', content: [] };
  const reasoningItem = { type: 'reasoning', id: 'rs_1', summary: [] };
  const fnItem = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'get_weather', arguments: '', status: 'in_progress' };
  const both = (type: string, body: Record<string, unknown>): SseEvent[] => [named(type, { type, ...body }), data({ type, ...body })];

  it('response.created, response.in_progress and response.content_part.added are lifecycle', () => {
    for (const e of [
      ...both('response.created', { sequence_number: 0, response: resp }),
      ...both('response.in_progress', { sequence_number: 1, response: resp }),
      ...both('response.content_part.added', { item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
    ]) expect(responsesProgress(e)).toBe('lifecycle');
  });

  it('response.output_item.added with a message or reasoning item is lifecycle; with a function_call it is content', () => {
    for (const e of both('response.output_item.added', { output_index: 0, item: msgItem })) expect(responsesProgress(e)).toBe('lifecycle');
    for (const e of both('response.output_item.added', { output_index: 0, item: reasoningItem })) expect(responsesProgress(e)).toBe('lifecycle');
    for (const e of both('response.output_item.added', { output_index: 0, item: fnItem })) expect(responsesProgress(e)).toBe('content');
  });

  it('text deltas, function-call argument deltas and response.completed are content', () => {
    for (const e of [
      ...both('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi' }),
      ...both('response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 0, delta: '{"ci' }),
      ...both('response.completed', { response: { ...resp, status: 'completed' } }),
    ]) expect(responsesProgress(e)).toBe('content');
  });

  it('error and response.failed are error', () => {
    for (const e of [
      ...both('error', { code: 'server_error', message: 'boom', param: null }),
      ...both('response.failed', { response: { ...resp, status: 'failed', error: { code: 'server_error', message: 'boom' } } }),
    ]) expect(responsesProgress(e)).toBe('error');
  });

  it('a comment is lifecycle; data without a type is content', () => {
    expect(responsesProgress(ev(': keep-alive\n\n'))).toBe('lifecycle');
    expect(responsesProgress(data('not json'))).toBe('content');
  });
});

describe('the native formats read their own events', () => {
  it('Messages pass-through reads Messages events', () => {
    expect(messagesFormat.native?.progress('message_start', '{"type":"message_start","message":{}}')).toBe('lifecycle');
    expect(messagesFormat.native?.progress('content_block_delta', '{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}')).toBe('content');
  });
});

// ---------------------------------------------------------------------------------------------
// UpstreamStream.open

interface FakeSource extends ByteSource {
  destroy: Mock<(err?: Error) => unknown>;
  /** How many chunks were taken from it. */
  pulled(): number;
}

/** A source that yields `chunks`, one network chunk each, then ends. */
function source(chunks: readonly string[]): FakeSource {
  let pulled = 0;
  return {
    destroy: vi.fn<(err?: Error) => unknown>(),
    pulled: () => pulled,
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) {
        pulled++;
        yield Buffer.from(c);
      }
    },
  };
}

/** A source whose chunks the test hands over one at a time. */
function controlled(): FakeSource & { send(text: string): void; close(): void } {
  const queue: Array<IteratorResult<Buffer>> = [];
  let wake: (() => void) | null = null;
  let pulled = 0;
  const put = (r: IteratorResult<Buffer>): void => {
    queue.push(r);
    wake?.();
    wake = null;
  };
  return {
    destroy: vi.fn<(err?: Error) => unknown>(),
    pulled: () => pulled,
    send: (text) => put({ done: false, value: Buffer.from(text) }),
    close: () => put({ done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return {
        next: async (): Promise<IteratorResult<Buffer>> => {
          while (queue.length === 0) await new Promise<void>((r) => (wake = r));
          const r = queue.shift()!;
          if (!r.done) pulled++;
          return r;
        },
      };
    },
  };
}

async function collect(s: UpstreamStream): Promise<string[][]> {
  const out: string[][] = [];
  for await (const batch of s.batches()) out.push(batch.map((e) => e.data ?? `#${e.raw.toString('utf8').trim()}`));
  return out;
}

async function failure(p: Promise<unknown>): Promise<StreamFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StreamFailure);
    return err as StreamFailure;
  }
  throw new Error('open resolved');
}

const frame = (json: string): string => `data: ${json}\n\n`;
const HI = frame(COMPACT_HI);
const THERE = frame(JSON.stringify(chunk({ content: ' there' })));
const STOP = frame(JSON.stringify(chunk({}, { finish_reason: 'stop' })));
const DONE = 'data: [DONE]\n\n';

describe('UpstreamStream.open', () => {
  it('holds lifecycle frames until the first content, then replays every held event once, in order, then the rest', async () => {
    const src = source([frame(ROLE), ': keep-alive\n\n', HI, THERE, STOP + DONE]);
    const s = await UpstreamStream.open(src, 64 * 1024);
    expect(src.pulled()).toBe(3);
    expect(src.destroy).not.toHaveBeenCalled();
    const batches = await collect(s);
    expect(batches).toEqual([
      [ROLE, '#: keep-alive', COMPACT_HI],
      [JSON.stringify(chunk({ content: ' there' }))],
      [JSON.stringify(chunk({}, { finish_reason: 'stop' })), '[DONE]'],
    ]);
    expect(batches.flat().filter((d) => d === ROLE)).toHaveLength(1);
    expect(s.bytes).toBe(Buffer.byteLength(frame(ROLE) + ': keep-alive\n\n' + HI + THERE + STOP + DONE));
    expect(src.destroy).not.toHaveBeenCalled();
  });

  it('opens on the first chunk when the role chunk and the content come together', async () => {
    const src = source([frame(ROLE) + HI, DONE]);
    const s = await UpstreamStream.open(src, 64 * 1024);
    expect(src.pulled()).toBe(1);
    expect(await collect(s)).toEqual([[ROLE, COMPACT_HI], ['[DONE]']]);
  });

  it('does not resolve while only lifecycle frames have come (the first-token wait goes on)', async () => {
    const src = controlled();
    let opened: UpstreamStream | null = null;
    const p = UpstreamStream.open(src, 64 * 1024).then((s) => (opened = s));
    src.send(frame(ROLE));
    src.send(': keep-alive\n\n');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(src.pulled()).toBe(2);
    expect(opened).toBeNull();
    src.send(HI);
    await p;
    expect(opened).not.toBeNull();
    src.send(DONE);
    src.close();
    expect(await collect(opened!)).toEqual([[ROLE, '#: keep-alive', COMPACT_HI], ['[DONE]']]);
  });

  it('lifecycle then an error event: UPSTREAM_STREAM_ERROR, and the source is destroyed', async () => {
    const src = source([frame(ROLE), frame('{"error":{"message":"overloaded","code":503}}'), HI]);
    const err = await failure(UpstreamStream.open(src, 64 * 1024));
    expect(err.code).toBe('UPSTREAM_STREAM_ERROR');
    expect(src.destroy).toHaveBeenCalledTimes(1);
    expect(src.pulled()).toBe(2);
  });

  it('lifecycle then the end: UPSTREAM_STREAM_TRUNCATED, and the source is destroyed', async () => {
    const src = source([frame(ROLE), ': keep-alive\n\n']);
    const err = await failure(UpstreamStream.open(src, 64 * 1024));
    expect(err.code).toBe('UPSTREAM_STREAM_TRUNCATED');
    expect(src.destroy).toHaveBeenCalledTimes(1);
  });

  it('a last content event without its blank line still opens the stream', async () => {
    const src = source([frame(ROLE), `data: ${COMPACT_HI}`]);
    const s = await UpstreamStream.open(src, 64 * 1024);
    expect(src.destroy).not.toHaveBeenCalled();
    expect((await collect(s)).flat()).toEqual([ROLE, COMPACT_HI]);
  });

  it('nothing at all: UPSTREAM_STREAM_EMPTY; comments only: UPSTREAM_STREAM_EMPTY too', async () => {
    const empty = source([]);
    const e1 = await failure(UpstreamStream.open(empty, 64 * 1024));
    expect(e1.code).toBe('UPSTREAM_STREAM_EMPTY');
    expect(empty.destroy).toHaveBeenCalledTimes(1);
    const comments = source([': keep-alive\n\n', ': keep-alive\n\n']);
    const e2 = await failure(UpstreamStream.open(comments, 64 * 1024));
    expect(e2.code).toBe('UPSTREAM_STREAM_EMPTY');
    expect(comments.destroy).toHaveBeenCalledTimes(1);
  });

  it('more than maxPreludeBytes of lifecycle frames: UPSTREAM_PRELUDE_TOO_LARGE, and the source is destroyed', async () => {
    const keepAlive = ': keep-alive\n\n'; // 14 bytes
    const src = source([...Array<string>(20).fill(keepAlive), HI]);
    const err = await failure(UpstreamStream.open(src, 100));
    expect(err.code).toBe('UPSTREAM_PRELUDE_TOO_LARGE');
    expect(src.destroy).toHaveBeenCalledTimes(1);
    // 7 chunks are 98 bytes (within), the 8th makes 112.
    expect(src.pulled()).toBe(8);
    // The same stream opens under a larger limit.
    const ok = await UpstreamStream.open(source([...Array<string>(20).fill(keepAlive), HI]), 1000);
    expect((await collect(ok)).flat()).toHaveLength(21);
  });

  it('role chunks count towards maxPreludeBytes too', async () => {
    const src = source([frame(ROLE), frame(ROLE), frame(ROLE), HI]);
    const err = await failure(UpstreamStream.open(src, Buffer.byteLength(frame(ROLE)) * 2));
    expect(err.code).toBe('UPSTREAM_PRELUDE_TOO_LARGE');
    expect(src.pulled()).toBe(3);
  });

  describe('with messagesProgress', () => {
    const ms = 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":5,"output_tokens":1}}}\n\n';
    const ping = 'event: ping\ndata: {"type":"ping"}\n\n';
    const blockStart = 'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n';
    const blockDelta = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n';
    const msgStop = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    const names = (batches: SseEvent[][]): Array<string | null> => batches.flat().map((e) => e.event);

    it('holds message_start and ping, and a content_block_delta lets it through', async () => {
      const src = controlled();
      let opened: UpstreamStream | null = null;
      const p = UpstreamStream.open(src, 64 * 1024, messagesProgress).then((s) => (opened = s));
      src.send(ms);
      src.send(ping);
      src.send(blockStart);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(src.pulled()).toBe(3);
      expect(opened).toBeNull();
      src.send(blockDelta);
      await p;
      src.send(msgStop);
      src.close();
      const batches: SseEvent[][] = [];
      for await (const b of opened!.batches()) batches.push(b);
      expect(batches.map((b) => b.length)).toEqual([4, 1]);
      expect(names(batches)).toEqual(['message_start', 'ping', 'content_block_start', 'content_block_delta', 'message_stop']);
      expect(src.destroy).not.toHaveBeenCalled();
    });

    it('message_start, ping then event: error fails with UPSTREAM_STREAM_ERROR', async () => {
      const src = source([ms, ping, 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n']);
      const err = await failure(UpstreamStream.open(src, 64 * 1024, messagesProgress));
      expect(err.code).toBe('UPSTREAM_STREAM_ERROR');
      expect(src.destroy).toHaveBeenCalledTimes(1);
    });

    it('message_start, ping then the end: UPSTREAM_STREAM_TRUNCATED', async () => {
      const err = await failure(UpstreamStream.open(source([ms, ping]), 64 * 1024, messagesProgress));
      expect(err.code).toBe('UPSTREAM_STREAM_TRUNCATED');
    });

    it('read with the default (chat) reader instead, a Messages stream never shows content', async () => {
      const err = await failure(UpstreamStream.open(source([ms, ping, blockStart, blockDelta, msgStop]), 64 * 1024));
      expect(err.code).toBe('UPSTREAM_STREAM_TRUNCATED');
    });
  });
});
