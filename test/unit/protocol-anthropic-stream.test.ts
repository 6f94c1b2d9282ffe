import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { AnthropicStream } from '../../src/protocols/anthropic.js';

type Json = Record<string, unknown>;
interface Event {
  event: string;
  data: Json;
}

/** Splits SSE text into events, checking the framing: `event: <type>\ndata: <json>\n\n`, type on both. */
function parse(text: string): Event[] {
  if (text === '') return [];
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      const m = /^event: ([a-z_]+)\ndata: (.+)$/.exec(frame);
      if (!m) throw new Error(`bad frame: ${JSON.stringify(frame)}`);
      const data = JSON.parse(m[2] as string) as Json;
      expect(data.type).toBe(m[1]);
      return { event: m[1] as string, data };
    });
}

const head = { id: 'chatcmpl-9', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o-mini' } as const;

function chunk(delta: Json, finish: string | null = null): ChatCompletionChunk {
  return { ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] } as ChatCompletionChunk;
}
const role = chunk({ role: 'assistant', content: '' });
const text = (t: string): ChatCompletionChunk => chunk({ content: t });
const finish = (reason: string): ChatCompletionChunk => chunk({}, reason);
function call(index: number, args: string, header?: { id: string; name: string }): ChatCompletionChunk {
  const fn = header ? { name: header.name, arguments: args } : { arguments: args };
  return chunk({ tool_calls: [{ index, ...(header ? { id: header.id, type: 'function' } : {}), function: fn }] });
}
function usageChunk(prompt: number, completion: number, cached?: number): ChatCompletionChunk {
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  return { ...head, choices: [], usage: cached === undefined ? usage : { ...usage, prompt_tokens_details: { cached_tokens: cached } } } as ChatCompletionChunk;
}

function newStream(): AnthropicStream {
  return new AnthropicStream({ model: 'claude-sonnet-4-5', id: 'msg_test', inputTokens: 42 });
}

/** Runs chunks through a stream, then `end(endUsage)`; the events, and the SSE text of each push. */
function run(chunks: readonly unknown[], endUsage: Parameters<AnthropicStream['end']>[0] = null): { events: Event[]; pushes: string[] } {
  const s = newStream();
  const pushes = chunks.map((c) => s.push(c));
  pushes.push(s.end(endUsage));
  return { events: parse(pushes.join('')), pushes };
}

/**
 * Folds events the way the Anthropic SDK's accumulator does, asserting the protocol's rules on
 * the way: message_start first, blocks indexed 0,1,2… as they start, one open at a time, deltas
 * only to the open block and of its kind, message_delta then message_stop last.
 */
function accumulate(events: Event[]): Json {
  expect(events[0]?.event).toBe('message_start');
  const message = structuredClone((events[0] as Event).data.message) as Json & { content: Json[] };
  const partial = new Map<number, string>();
  let open: number | null = null;
  for (const [i, { event, data }] of events.slice(1).entries()) {
    const index = data.index as number;
    if (event === 'content_block_start') {
      expect(open).toBeNull();
      expect(index).toBe(message.content.length);
      message.content.push(structuredClone(data.content_block) as Json);
      open = index;
    } else if (event === 'content_block_delta') {
      expect(index).toBe(open);
      const block = message.content[index] as Json;
      const delta = data.delta as Json;
      if (delta.type === 'text_delta') {
        expect(block.type).toBe('text');
        block.text = `${block.text as string}${delta.text as string}`;
      } else {
        expect(block.type).toBe('tool_use');
        expect(delta.type).toBe('input_json_delta');
        partial.set(index, (partial.get(index) ?? '') + (delta.partial_json as string));
      }
    } else if (event === 'content_block_stop') {
      expect(index).toBe(open);
      const json = partial.get(index);
      if (json !== undefined) (message.content[index] as Json).input = JSON.parse(json);
      open = null;
    } else if (event === 'message_delta') {
      expect(open).toBeNull();
      Object.assign(message, data.delta);
      message.usage = { ...(message.usage as Json), ...(data.usage as Json) };
    } else if (event === 'message_stop') {
      expect(i).toBe(events.length - 2);
    } else if (event !== 'ping') throw new Error(`unexpected ${event}`);
  }
  expect(events.at(-1)?.event).toBe('message_stop');
  return message;
}

describe('AnthropicStream: text', () => {
  it('emits the exact event sequence for a text answer', () => {
    const { events } = run([role, text('Hel'), text('lo'), finish('stop'), usageChunk(30, 2)]);
    expect(events).toEqual([
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: 'msg_test',
            type: 'message',
            role: 'assistant',
            model: 'claude-sonnet-4-5',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 42, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 },
          },
        },
      },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      {
        event: 'message_delta',
        data: {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { input_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 2 },
        },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
  });

  it('frames each event as event line, data line, blank line', () => {
    const s = newStream();
    s.push(role);
    expect(s.end(null).endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n')).toBe(true);
  });

  it('sends message_start with the first chunk, even role-only; content only once there is some', () => {
    const s = newStream();
    expect(s.started).toBe(false);
    expect(parse(s.push(role)).map((e) => e.event)).toEqual(['message_start']);
    expect(s.started).toBe(true);
    expect(s.hasContent).toBe(false);
    expect(s.push(chunk({ content: '' }))).toBe('');
    expect(s.hasContent).toBe(false);
    expect(parse(s.push(text('a'))).map((e) => e.event)).toEqual(['content_block_start', 'content_block_delta']);
    expect(s.hasContent).toBe(true);
  });

  it('turns a refusal delta into text', () => {
    const message = accumulate(run([role, chunk({ refusal: 'No.' }), finish('content_filter')]).events);
    expect(message.content).toEqual([{ type: 'text', text: 'No.' }]);
    expect(message.stop_reason).toBe('refusal');
  });

  it('ends an empty answer with no block', () => {
    const { events } = run([role, finish('stop')]);
    expect(events.map((e) => e.event)).toEqual(['message_start', 'message_delta', 'message_stop']);
  });

  it('starts and ends a message that got no chunk at all', () => {
    const s = newStream();
    expect(parse(s.end(null)).map((e) => e.event)).toEqual(['message_start', 'message_delta', 'message_stop']);
  });
});

describe('AnthropicStream: tool calls', () => {
  const weather = { id: 'call_w', name: 'get_weather' };
  const time = { id: 'call_t', name: 'get_time' };

  it('text, then two tool calls sent one after the other (as OpenAI does), streamed live', () => {
    const chunks = [
      role,
      text('Checking.'),
      call(0, '', weather),
      call(0, '{"city":'),
      call(0, '"Paris"}'),
      call(1, '', time),
      call(1, '{"tz":"UTC"}'),
      finish('tool_calls'),
      usageChunk(100, 20),
    ];
    const { events, pushes } = run(chunks);
    expect(events.map((e) => `${e.event}${e.data.index === undefined ? '' : ` ${e.data.index as number}`}`)).toEqual([
      'message_start',
      'content_block_start 0',
      'content_block_delta 0',
      'content_block_stop 0',
      'content_block_start 1',
      'content_block_delta 1',
      'content_block_delta 1',
      'content_block_stop 1',
      'content_block_start 2',
      'content_block_delta 2',
      'content_block_stop 2',
      'message_delta',
      'message_stop',
    ]);
    // Each piece goes out with the chunk that brought it.
    expect(parse(pushes[3] as string)).toEqual([
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } } },
    ]);
    expect(parse(pushes[2] as string)).toEqual([
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      {
        event: 'content_block_start',
        data: { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_w', name: 'get_weather', input: {} } },
      },
    ]);
    const message = accumulate(events);
    expect(message.content).toEqual([
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'call_w', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_t', name: 'get_time', input: { tz: 'UTC' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('routes interleaved argument pieces by index, holding a later call until the open one is complete', () => {
    const chunks = [
      role,
      call(0, '', weather),
      call(1, '', time),
      call(0, '{"city":'),
      call(1, '{"tz":'),
      call(0, '"Paris"}'),
      call(1, '"UTC"}'),
      finish('tool_calls'),
    ];
    const { events, pushes } = run(chunks);
    expect(accumulate(events).content).toEqual([
      { type: 'tool_use', id: 'call_w', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_t', name: 'get_time', input: { tz: 'UTC' } },
    ]);
    expect(parse(pushes[2] as string)).toEqual([]); // call 1 announced while call 0 is open: held
    expect(parse(pushes[4] as string)).toEqual([]); // call 1's piece: held
    // call 0 complete: its block closes, call 1 opens with what was held.
    expect(parse(pushes[5] as string).map((e) => [e.event, e.data.index, e.data.delta ?? e.data.content_block ?? null])).toEqual([
      ['content_block_delta', 0, { type: 'input_json_delta', partial_json: '"Paris"}' }],
      ['content_block_stop', 0, null],
      ['content_block_start', 1, { type: 'tool_use', id: 'call_t', name: 'get_time', input: {} }],
      ['content_block_delta', 1, { type: 'input_json_delta', partial_json: '{"tz":' }],
    ]);
    expect(parse(pushes[6] as string).map((e) => e.data.delta)).toEqual([{ type: 'input_json_delta', partial_json: '"UTC"}' }]);
  });

  it('is not fooled by braces inside strings when judging a call complete', () => {
    const chunks = [role, call(0, '{"code":"if (x) {', weather), call(1, '{}', time), call(0, '}\\"}"'), call(0, '}'), finish('tool_calls')];
    expect(accumulate(run(chunks).events).content).toEqual([
      { type: 'tool_use', id: 'call_w', name: 'get_weather', input: { code: 'if (x) {}"}' } },
      { type: 'tool_use', id: 'call_t', name: 'get_time', input: {} },
    ]);
  });

  it('holds text that comes while a tool call is incomplete, and opens it after', () => {
    const chunks = [role, call(0, '{"a":', weather), text('note'), call(0, '1}'), finish('tool_calls')];
    expect(accumulate(run(chunks).events).content).toEqual([
      { type: 'tool_use', id: 'call_w', name: 'get_weather', input: { a: 1 } },
      { type: 'text', text: 'note' },
    ]);
  });

  it('opens everything still held at the end, in order, even calls that never completed their JSON', () => {
    const chunks = [role, call(0, '', weather), call(1, '{"tz":"UTC"}', time)];
    const message = accumulate(run(chunks).events);
    expect(message.content).toEqual([
      { type: 'tool_use', id: 'call_w', name: 'get_weather', input: {} },
      { type: 'tool_use', id: 'call_t', name: 'get_time', input: { tz: 'UTC' } },
    ]);
    expect(message.stop_reason).toBe('tool_use'); // no finish_reason, but tool calls
  });

  it('follows calls by id when the upstream leaves out index', () => {
    const noIndex = (id: string | undefined, name: string | undefined, args: string): ChatCompletionChunk =>
      chunk({ tool_calls: [{ ...(id ? { id, type: 'function' } : {}), function: { ...(name ? { name } : {}), arguments: args } }] });
    const chunks = [role, noIndex('a', 'f', '{"x":'), noIndex(undefined, undefined, '1}'), noIndex('b', 'g', '{}'), finish('tool_calls')];
    expect(accumulate(run(chunks).events).content).toEqual([
      { type: 'tool_use', id: 'a', name: 'f', input: { x: 1 } },
      { type: 'tool_use', id: 'b', name: 'g', input: {} },
    ]);
  });

  it('gives a call without id one from the message id', () => {
    const chunks = [role, chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }] })];
    expect(accumulate(run(chunks).events).content).toEqual([{ type: 'tool_use', id: 'toolu_msg_test_0', name: 'f', input: {} }]);
  });

  it('counts a tool call header as content', () => {
    const s = newStream();
    s.push(role);
    s.push(call(0, '', weather));
    expect(s.hasContent).toBe(true);
  });
});

describe('AnthropicStream: stop reasons and usage', () => {
  const table: [string | null, boolean, string][] = [
    ['stop', false, 'end_turn'],
    ['length', false, 'max_tokens'],
    ['tool_calls', true, 'tool_use'],
    ['function_call', false, 'tool_use'],
    ['content_filter', false, 'refusal'],
    [null, false, 'end_turn'],
    ['stop', true, 'tool_use'],
    ['length', true, 'max_tokens'],
  ];
  it.each(table)('finish_reason %s (tool call: %s) → %s', (reason, withCall, stop) => {
    const chunks: unknown[] = [role, text('x')];
    if (withCall) chunks.push(call(0, '{}', { id: 'c', name: 'f' }));
    if (reason !== null) chunks.push(finish(reason));
    const last = run(chunks).events.at(-2);
    expect(last?.data.delta).toEqual({ stop_reason: stop, stop_sequence: null });
  });

  it('takes usage from the final usage-only chunk, with cached tokens apart', () => {
    const { events } = run([role, text('x'), finish('stop'), usageChunk(1000, 7, 600)]);
    expect(events.at(-2)?.data.usage).toEqual({ input_tokens: 400, cache_creation_input_tokens: 0, cache_read_input_tokens: 600, output_tokens: 7 });
  });

  it('prefers the usage given to end', () => {
    const { events } = run([role, text('x'), usageChunk(1000, 7)], { prompt_tokens: 50, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 10 } });
    expect(events.at(-2)?.data.usage).toEqual({ input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 10, output_tokens: 9 });
  });

  it('falls back to the estimated input tokens when nobody reported usage', () => {
    const { events } = run([role, text('x'), finish('stop')]);
    expect(events.at(-2)?.data.usage).toEqual({ input_tokens: 42, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
  });

  it('puts usage the first chunk carries into message_start', () => {
    const first = { ...role, usage: { prompt_tokens: 77, completion_tokens: 0, total_tokens: 77, prompt_tokens_details: { cached_tokens: 7 } } };
    const { events } = run([first, text('x')]);
    expect((events[0]?.data.message as Json).usage).toEqual({ input_tokens: 70, cache_creation_input_tokens: 0, cache_read_input_tokens: 7, output_tokens: 0 });
  });
});

describe('AnthropicStream: errors, pings, odd input', () => {
  it('ends with an error event and nothing after it', () => {
    const s = newStream();
    s.push(role);
    s.push(text('partial'));
    expect(s.error('upstream went away')).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream went away"}}\n\n',
    );
    expect(s.push(text('more'))).toBe('');
    expect(s.end(null)).toBe('');
    expect(s.ping()).toBe('');
    expect(s.error('again')).toBe('');
  });

  it('can fail before anything was sent, with another error type', () => {
    const s = newStream();
    expect(parse(s.error('busy', 'overloaded_error'))).toEqual([{ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'busy' } } }]);
    expect(s.started).toBe(false);
  });

  it('sends pings without starting the message, none after the end', () => {
    const s = newStream();
    expect(s.ping()).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    expect(s.started).toBe(false);
    s.end(null);
    expect(s.ping()).toBe('');
    expect(s.push(text('late'))).toBe('');
  });

  it('ignores what is not a chunk, and choices other than 0', () => {
    const s = newStream();
    expect(s.push('garbage')).toBe('');
    expect(s.push(null)).toBe('');
    expect(s.started).toBe(false);
    const other = { ...head, choices: [{ index: 1, delta: { content: 'other choice' }, finish_reason: null }] };
    expect(parse(s.push(other)).map((e) => e.event)).toEqual(['message_start']);
    expect(s.hasContent).toBe(false);
  });

  it('ignores the choices of the usage-only chunk (it has none) but keeps its usage', () => {
    const s = newStream();
    s.push(role);
    expect(s.push(usageChunk(5, 1))).toBe('');
    expect(parse(s.end(null)).at(-2)?.data.usage).toMatchObject({ input_tokens: 5, output_tokens: 1 });
  });
});
