import Anthropic, { APIError, AuthenticationError, BadRequestError, InternalServerError, OverloadedError, RateLimitError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { Behavior } from '../../tools/upstream-double.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * The upstream double speaks Anthropic's Messages API (`POST /<provider>/v1/messages`) as the
 * official `@anthropic-ai/sdk` reads it: messages, tool use, thinking, the event stream, errors.
 */
const fx = useUpstreamDouble();

// The SDK appends `/v1/messages` to its base URL.
const client = () => new Anthropic({ baseURL: fx.double.url('a').replace(/\/v1$/, ''), apiKey: 'k', maxRetries: 0 });
const ask = { model: 'claude-double', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] };
const weather = { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}', id: 'toolu_1' };

/** What the SDK makes of the JSON answer and of the stream, for the same behaviour. */
async function both(b: Behavior) {
  fx.double.script('a', b, b);
  const json = await client().messages.create(ask);
  const stream = client().messages.stream(ask);
  const events: Anthropic.MessageStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  const final = await stream.finalMessage();
  return { json, events, final };
}
const same = (final: Anthropic.Message, json: Anthropic.Message) => {
  const { parsed_output: _, ...rest } = final as Anthropic.Message & { parsed_output?: unknown };
  expect({ ...rest, id: json.id }).toEqual(json);
};

describe('messages.create', () => {
  it('answers a Message with text, end_turn and Anthropic usage; the request is recorded with its headers', async () => {
    fx.double.script('a', { content: 'Bonjour' });
    const m = await client().messages.create(ask, { headers: { 'anthropic-beta': 'b1' } });
    expect(m).toEqual({
      id: expect.stringMatching(/^msg_double/), type: 'message', role: 'assistant', model: 'claude-double',
      content: [{ type: 'text', text: 'Bonjour' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: expect.any(Number), output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    const r = fx.double.received('a')[0]!;
    expect(r.path).toBe('/a/v1/messages');
    expect(r.body).toEqual(ask);
    // SDK 1.14 sends its key as a bearer token and its own anthropic-version (2026-10-21).
    expect(r.headers).toMatchObject({ authorization: 'Bearer k', 'anthropic-version': expect.any(String), 'anthropic-beta': 'b1' });
    const headers = { 'x-api-key': 'k2', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'b2' };
    expect((await call(`${fx.double.url('a')}/messages`, { body: ask, headers })).status).toBe(200);
    expect(fx.double.received('a')[1]!.headers).toMatchObject(headers);
  });

  it('answers tool_use blocks, the input parsed; several in one answer; text first when content is given', async () => {
    fx.double.script('a', { toolCall: weather });
    const one = await client().messages.create(ask);
    expect(one.stop_reason).toBe('tool_use');
    expect(one.content).toEqual([{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } }]);
    fx.double.script('a', { toolCallList: [{ name: 'f', arguments: '{"a":1}' }, { name: 'g', arguments: '{}' }] });
    const two = await client().messages.create(ask);
    expect(two.content).toEqual([
      { type: 'tool_use', id: 'toolu_double_1', name: 'f', input: { a: 1 } },
      { type: 'tool_use', id: 'toolu_double_2', name: 'g', input: {} },
    ]);
    fx.double.script('a', { toolCalls: true, content: 'Let me look.' });
    const mixed = await client().messages.create(ask);
    expect(mixed.content.map((c) => c.type)).toEqual(['text', 'tool_use']);
  });

  it('max_tokens for finishReason length; a given Anthropic usage; a thinking block first', async () => {
    fx.double.script('a', { finishReason: 'length', usageValue: { input_tokens: 7, output_tokens: 9, cache_read_input_tokens: 5 } });
    const m = await client().messages.create(ask);
    expect(m.stop_reason).toBe('max_tokens');
    expect(m.usage).toEqual({ input_tokens: 7, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 5 });
    fx.double.script('a', { thinking: 'Hmm.' });
    const t = await client().messages.create(ask);
    expect(t.content[0]).toEqual({ type: 'thinking', thinking: 'Hmm.', signature: expect.stringMatching(/^sig_/) });
    expect(t.content[1]).toEqual({ type: 'text', text: 'Hello from a' });
  });
});

describe('messages.stream', () => {
  it('the Anthropic event sequence; finalMessage() is the JSON answer', async () => {
    const { json, events, final } = await both({ content: 'Hello there' });
    expect(events.map((e) => e.type)).toEqual([
      'message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop',
    ]);
    expect(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta)).toEqual([
      { type: 'text_delta', text: 'Hell' }, { type: 'text_delta', text: 'o th' }, { type: 'text_delta', text: 'ere' },
    ]);
    same(final, json);
  });

  it('on the wire: event: lines, message_start with empty content, one ping right after it', async () => {
    // (The SDK yields message_start with its live snapshot, so read the wire to see it as sent.)
    const r = await call(`${fx.double.url('a')}/messages`, { body: { ...ask, stream: true } });
    const names = [...r.text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(names.slice(0, 3)).toEqual(['message_start', 'ping', 'content_block_start']);
    expect(names.filter((n) => n === 'ping')).toHaveLength(1);
    expect(r.text).toContain('event: ping\ndata: {"type":"ping"}\n\n');
    const start = JSON.parse(/^data: (.*)$/m.exec(r.text)![1]!) as Anthropic.RawMessageStartEvent;
    expect(start.message).toMatchObject({ content: [], stop_reason: null, stop_sequence: null, usage: { output_tokens: 1 } });
    expect(r.text).toMatch(/event: message_delta\ndata: \{"type":"message_delta","delta":\{"stop_reason":"end_turn","stop_sequence":null\},"usage":\{"output_tokens":3\}\}/);
  });

  it('tool_use streams as input_json_delta pieces; thinking as thinking_delta then signature_delta', async () => {
    const tools = await both({ toolCallList: [weather, { name: 'g', arguments: '{"b":[1,2]}' }], chunks: 2 });
    expect(tools.events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.type)).toEqual(Array(4).fill('input_json_delta'));
    same(tools.final, tools.json);
    const think = await both({ thinking: true, finishReason: 'length' });
    expect(think.events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.type)).toEqual([
      'thinking_delta', 'thinking_delta', 'thinking_delta', 'signature_delta', 'text_delta', 'text_delta', 'text_delta',
    ]);
    expect(think.final.stop_reason).toBe('max_tokens');
    same(think.final, think.json);
  });

  it('a dropped stream makes the SDK throw; a truncated one ends without message_delta/message_stop', async () => {
    fx.double.script('a', { dropAfterChunks: 4 });
    await expect(client().messages.stream(ask).finalMessage()).rejects.toThrow('terminated');
    fx.double.script('a', { truncate: true });
    await expect(client().messages.stream(ask).finalMessage()).rejects.toThrow('stream ended without producing a Message');
    fx.double.script('a', { truncate: true });
    const r = await call(`${fx.double.url('a')}/messages`, { body: { ...ask, stream: true } });
    expect(r.text).toContain('event: content_block_stop');
    expect(r.text).not.toContain('message_delta');
    expect(r.text).not.toContain('message_stop');
  });

  it('an error event becomes an APIError', async () => {
    fx.double.script('a', { errorEvent: true });
    const err = await client().messages.stream(ask).finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).type).toBe('overloaded_error');
  });
});

describe('errors in Anthropic\'s shape', () => {
  const fail = async (b: Behavior) => {
    fx.double.script('a', b);
    return client().messages.create(ask).then(() => undefined, (e: unknown) => e as APIError);
  };

  it('each status gives its SDK class, error type and message; headers and Retry-After pass', async () => {
    const bad = await fail({ status: 400 });
    expect(bad).toBeInstanceOf(BadRequestError);
    expect(bad?.error).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'upstream a says 400' } });
    expect(bad?.message).toContain('upstream a says 400');
    expect(await fail({ status: 401 })).toBeInstanceOf(AuthenticationError);
    const limited = await fail({ status: 429, retryAfter: 3, headers: { 'anthropic-ratelimit-requests-reset': '2030-01-01T00:00:00Z' } });
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited?.type).toBe('rate_limit_error');
    expect(limited?.headers?.get('retry-after')).toBe('3');
    expect(limited?.headers?.get('anthropic-ratelimit-requests-reset')).toBe('2030-01-01T00:00:00Z');
    const over = await fail({ status: 529 });
    expect(over).toBeInstanceOf(InternalServerError);
    expect(over).toBeInstanceOf(OverloadedError);
    expect(over?.status).toBe(529);
    expect(over?.type).toBe('overloaded_error');
  });

  it('the other routes keep the OpenAI error shape', async () => {
    fx.double.script('a', { status: 400 });
    const r = await call(`${fx.double.url('a')}/chat/completions`, { body: { model: 'm', messages: [] } });
    expect(r.json).toMatchObject({ error: { message: 'upstream a says 400', type: 'upstream_error' } });
  });
});
