import type {
  ContentBlock,
  Message,
  MessageCreateParams,
  RawMessageStreamEvent,
  StopReason,
  Usage as AnthropicUsage,
} from '@anthropic-ai/sdk/resources/messages';
import type { ErrorResponse } from '@anthropic-ai/sdk/resources/shared';
import { APIError } from 'openai';
import { ChatCompletionStream } from 'openai/lib/ChatCompletionStream';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { Stream } from 'openai/streaming';
import { describe, expect, it, vi } from 'vitest';
import type { ProviderConfig } from '../../src/config/load.js';
import { nativeMessage, NativeMessagesStream } from '../../src/protocols/anthropic/native.js';
import {
  AnthropicChunks,
  chatToMessagesRequest,
  chatUsageOf,
  FALLBACK_MAX_TOKENS,
  finishReasonFor,
  messageToChat,
  Untranslatable,
} from '../../src/providers/anthropic.js';
import { adapterFor, convertedSource } from '../../src/providers/index.js';
import { textOnlyChunk } from '../../src/stream/convert.js';
import { SseDecoder } from '../../src/stream/sse.js';
import type { ByteSource } from '../../src/stream/upstream-stream.js';

type Json = Record<string, unknown>;

/** A chat request as the openai SDK types it, given to the pure function as the gateway's JSON. */
function toMessages(chat: ChatCompletionCreateParams, defaultMaxTokens: number | null = null): Json {
  return chatToMessagesRequest(chat as unknown as Json, 'claude-sonnet-4-5', defaultMaxTokens);
}
const base = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] } satisfies ChatCompletionCreateParams;
const hiTurn: MessageCreateParams['messages'][number] = { role: 'user', content: [{ type: 'text', text: 'Hi' }] };

/** Chat usage with the extra `cache_creation_tokens` the gateway reports. */
type ChatUsage = CompletionUsage & { prompt_tokens_details: { cached_tokens: number; cache_creation_tokens: number } };
type ChatAnswer = Omit<ChatCompletion, 'usage'> & { usage: ChatUsage };

function usage(u: Partial<AnthropicUsage> = {}): AnthropicUsage {
  return {
    cache_creation: null,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: null,
    inference_geo: null,
    input_tokens: 0,
    output_tokens: 0,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: 'standard',
    speed: null,
    ...u,
  };
}

function message(content: ContentBlock[], stopReason: StopReason | null, u: Partial<AnthropicUsage> = {}): Message {
  return {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    container: null,
    diagnostics: null,
    content,
    stop_details: null,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: usage(u),
  };
}

// ---------------------------------------------------------------------------------------------
// Request: chat → Messages
// ---------------------------------------------------------------------------------------------


const anthropicP = { type: 'anthropic', model: 'claude-haiku', default_max_tokens: 512 } as ProviderConfig;

describe('chatToMessagesRequest', () => {
  it('translates a whole conversation turn by turn, merging consecutive turns of one role', () => {
    const chat: ChatCompletionCreateParams = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer ' }, { type: 'text', text: 'in French.' }] },
        { role: 'user', content: 'Hi' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look:' },
            { type: 'image_url', image_url: { url: 'data:image/PNG;base64,iVBORw0KGgo=', detail: 'high' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris","days":[1,2]}' } },
            { id: 'call_2', type: 'function', function: { name: 'time', arguments: 'not json' } },
            { id: 'call_3', type: 'function', function: { name: 'list', arguments: '[1,2]' } },
            { id: 'call_4', type: 'function', function: { name: 'empty', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '12:00' }] },
        { role: 'user', content: 'Thanks. And tomorrow?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Rain.' }] },
        { role: 'system', content: 'Late system note.' },
        { role: 'user', content: 'OK' },
      ],
    };
    const expected: MessageCreateParams = {
      model: 'claude-sonnet-4-5',
      max_tokens: FALLBACK_MAX_TOKENS,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hi' },
            { type: 'text', text: 'Look:' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me check.' },
            { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris', days: [1, 2] } },
            { type: 'tool_use', id: 'call_2', name: 'time', input: {} },
            { type: 'tool_use', id: 'call_3', name: 'list', input: {} },
            { type: 'tool_use', id: 'call_4', name: 'empty', input: {} },
          ],
        },
        {
          // Tool results and the user's next words: one user turn, results first.
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
            { type: 'tool_result', tool_use_id: 'call_2', content: '12:00' },
            { type: 'text', text: 'Thanks. And tomorrow?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'Rain.' }] },
        { role: 'user', content: [{ type: 'text', text: 'OK' }] },
      ],
      system: 'Be brief.\n\nAnswer in French.\n\nLate system note.',
    };
    const out = toMessages(chat);
    expect(out).toStrictEqual(expected);
    expect(Object.keys(out)).toEqual(['model', 'max_tokens', 'messages', 'system']);
  });

  it('assistant turns: tool calls alone, refusals, empty turns dropped', () => {
    const out = toMessages({
      model: 'm',
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
        { role: 'tool', tool_call_id: 'call_9', content: 'done' },
        { role: 'assistant', content: null, refusal: 'I cannot.' },
        { role: 'user', content: '' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'b' },
      ],
    });
    const expected: MessageCreateParams['messages'] = [
      { role: 'user', content: [{ type: 'text', text: 'a' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_9', name: 'f', input: { x: 1 } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_9', content: 'done' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'I cannot.' }] },
      { role: 'user', content: [{ type: 'text', text: 'b' }] },
    ];
    expect(out.messages).toStrictEqual(expected);
    expect(out).not.toHaveProperty('system');
  });

  it.each([
    ['input_audio', { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }],
    ['file', { type: 'file', file: { file_id: 'file-1' } }],
  ] as const)('a user %s part is Untranslatable, naming the message content', (type, part) => {
    const chat = { model: 'm', messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'text', text: 'x' }, part] }] } as ChatCompletionCreateParams;
    let err: unknown;
    try {
      toMessages(chat);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Untranslatable);
    expect((err as Untranslatable).param).toBe('messages[1].content');
    expect((err as Untranslatable).message).toContain(`messages[1].content[1].type: "${type}"`);
  });

  it('an unknown role, and a request with no user or assistant turn, are Untranslatable', () => {
    const bad = { model: 'm', messages: [{ role: 'user', content: 'x' }, { role: 'function', name: 'f', content: 'y' }] } as ChatCompletionCreateParams;
    expect(() => toMessages(bad)).toThrow(Untranslatable);
    try {
      toMessages(bad);
    } catch (e) {
      expect((e as Untranslatable).param).toBe('messages[1].role');
    }
    try {
      toMessages({ model: 'm', messages: [{ role: 'system', content: 'only' }] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(Untranslatable);
      expect((e as Untranslatable).param).toBe('messages');
    }
  });

  it.each([
    ['max_completion_tokens first', { max_completion_tokens: 100, max_tokens: 200 }, 300, 100],
    ['then max_tokens', { max_tokens: 200 }, 300, 200],
    ['then the provider default', {}, 300, 300],
    ['then 4096', {}, null, 4096],
    ['null values skipped', { max_completion_tokens: null, max_tokens: null }, 300, 300],
    ['zero skipped', { max_tokens: 0 }, null, 4096],
  ] as const)('max_tokens: %s', (_name, fields, def, want) => {
    expect(toMessages({ ...base, ...fields }, def).max_tokens).toBe(want);
  });
  it('FALLBACK_MAX_TOKENS is 4096', () => expect(FALLBACK_MAX_TOKENS).toBe(4096));

  it.each([
    [1.7, 1],
    [2, 1],
    [0.3, 0.3],
    [0, 0],
    [-0.5, 0],
  ])('temperature %s → %s', (t, want) => {
    expect(toMessages({ ...base, temperature: t }).temperature).toBe(want);
  });

  it('top_p and stop sequences', () => {
    expect(toMessages({ ...base, top_p: 0.9 }).top_p).toBe(0.9);
    expect(toMessages({ ...base, stop: 'END' }).stop_sequences).toEqual(['END']);
    expect(toMessages({ ...base, stop: ['a', 'b'] }).stop_sequences).toEqual(['a', 'b']);
    const none = toMessages({ ...base, stop: null, temperature: null, top_p: null });
    expect(none).not.toHaveProperty('stop_sequences');
    expect(none).not.toHaveProperty('temperature');
    expect(none).not.toHaveProperty('top_p');
  });

  const tools: ChatCompletionCreateParams['tools'] = [
    {
      type: 'function',
      function: { name: 'weather', description: 'The weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true },
    },
    { type: 'function', function: { name: 'noop' } },
  ];

  it('tools → name, description, input_schema (strict dropped, missing parameters an empty object schema)', () => {
    const expected: MessageCreateParams['tools'] = [
      { name: 'weather', description: 'The weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'noop', input_schema: { type: 'object', properties: {} } },
    ];
    expect(toMessages({ ...base, tools }).tools).toStrictEqual(expected);
  });

  it.each([
    ['absent', undefined, undefined, undefined],
    ['auto', 'auto', undefined, { type: 'auto' }],
    ['none', 'none', undefined, { type: 'none' }],
    ['required', 'required', undefined, { type: 'any' }],
    ['a function', { type: 'function', function: { name: 'weather' } }, undefined, { type: 'tool', name: 'weather' }],
    ['parallel true alone', undefined, true, undefined],
    ['parallel false alone', undefined, false, { type: 'auto', disable_parallel_tool_use: true }],
    ['auto, parallel false', 'auto', false, { type: 'auto', disable_parallel_tool_use: true }],
    ['required, parallel false', 'required', false, { type: 'any', disable_parallel_tool_use: true }],
    ['a function, parallel false', { type: 'function', function: { name: 'weather' } }, false, { type: 'tool', name: 'weather', disable_parallel_tool_use: true }],
    ['none, parallel false', 'none', false, { type: 'none' }],
  ] as const)('tool_choice: %s', (_name, choice, parallel, want) => {
    const chat = { ...base, tools, ...(choice === undefined ? {} : { tool_choice: choice }), ...(parallel === undefined ? {} : { parallel_tool_calls: parallel }) } as ChatCompletionCreateParams;
    const out = toMessages(chat);
    if (want === undefined) expect(out).not.toHaveProperty('tool_choice');
    else expect(out.tool_choice).toStrictEqual(want satisfies MessageCreateParams['tool_choice']);
  });

  it('no tools: neither tools nor tool_choice', () => {
    const out = toMessages({ ...base, tools: [], tool_choice: 'required', parallel_tool_calls: false });
    expect(out).not.toHaveProperty('tools');
    expect(out).not.toHaveProperty('tool_choice');
  });

  it('user → metadata.user_id; stream only when true', () => {
    expect(toMessages({ ...base, user: 'u-42' }).metadata).toStrictEqual({ user_id: 'u-42' } satisfies MessageCreateParams['metadata']);
    expect(toMessages({ ...base, user: '' })).not.toHaveProperty('metadata');
    expect(toMessages({ ...base, stream: true }).stream).toBe(true);
    expect(toMessages({ ...base, stream: false })).not.toHaveProperty('stream');
  });

  it('copies nothing else', () => {
    const chat: ChatCompletionCreateParams = {
      ...base,
      stream: true,
      stream_options: { include_usage: true },
      response_format: { type: 'json_object' },
      n: 2,
      logprobs: true,
      top_logprobs: 3,
      reasoning_effort: 'high',
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      logit_bias: { '50256': -100 },
      store: true,
      metadata: { k: 'v' },
      service_tier: 'auto',
      modalities: ['text'],
      prediction: { type: 'content', content: 'x' },
      prompt_cache_key: 'pck',
      safety_identifier: 'sid',
      verbosity: 'low',
      web_search_options: {},
    };
    const out = toMessages(chat, 1000);
    expect(out).toStrictEqual({ model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [hiTurn], stream: true } satisfies MessageCreateParams);
  });
});

// ---------------------------------------------------------------------------------------------
// Answer: Message → chat.completion
// ---------------------------------------------------------------------------------------------

describe('messageToChat', () => {
  const created = 1_700_000_000;

  it('text and tool_use blocks; thinking ignored; usage with the cache', () => {
    const msg = message(
      [
        { type: 'thinking', thinking: 'Hmm.', signature: 'sig' },
        { type: 'text', text: 'Hello', citations: null },
        { type: 'redacted_thinking', data: 'xxx' },
        { type: 'text', text: ' world', citations: null },
        { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris', n: [1] }, caller: { type: 'direct' } },
        { type: 'tool_use', id: 'toolu_2', name: 'now', input: {}, caller: { type: 'direct' } },
      ],
      'tool_use',
      { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 },
    );
    const expected: ChatAnswer = {
      id: 'msg_01',
      object: 'chat.completion',
      created,
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Hello world',
            refusal: null,
            tool_calls: [
              { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris","n":[1]}' } },
              { id: 'toolu_2', type: 'function', function: { name: 'now', arguments: '{}' } },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 130, completion_tokens: 5, total_tokens: 135, prompt_tokens_details: { cached_tokens: 100, cache_creation_tokens: 20 } },
    };
    expect(messageToChat(msg, created)).toStrictEqual(expected);
  });

  it('tool calls alone: content null; text alone: no tool_calls; null cache counts are 0', () => {
    const tools = messageToChat(message([{ type: 'tool_use', id: 't', name: 'f', input: { a: 1 }, caller: { type: 'direct' } }], 'tool_use'), created);
    expect((tools as unknown as ChatCompletion).choices[0]!.message.content).toBeNull();
    const text = messageToChat(message([{ type: 'text', text: 'Hi', citations: null }], 'end_turn', { input_tokens: 3, output_tokens: 2 }), created) as unknown as ChatAnswer;
    expect(text.choices[0]!.message).toStrictEqual({ role: 'assistant', content: 'Hi', refusal: null });
    expect(text.usage).toStrictEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 } });
    const empty = messageToChat(message([], 'end_turn'), created) as unknown as ChatCompletion;
    expect(empty.choices[0]!.message.content).toBe('');
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['pause_turn', 'stop'],
    ['model_context_window_exceeded', 'length'],
  ] as const)('stop_reason %s → finish_reason %s', (stop, finish) => {
    expect(finishReasonFor(stop)).toBe(finish);
    expect((messageToChat(message([{ type: 'text', text: 'x', citations: null }], stop), created) as unknown as ChatCompletion).choices[0]!.finish_reason).toBe(finish);
  });

  it('an unknown or missing stop_reason is stop', () => {
    expect(finishReasonFor(null)).toBe('stop');
    expect(finishReasonFor(undefined)).toBe('stop');
    expect(finishReasonFor('something_new')).toBe('stop');
    // Not read off Object.prototype.
    expect(finishReasonFor('constructor')).toBe('stop');
    expect(finishReasonFor('toString')).toBe('stop');
  });

  it.each([
    ['null', null],
    ['a string', 'x'],
    ['an array', []],
    ['an error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: null } satisfies ErrorResponse],
    ['a chat completion', { id: 'c', object: 'chat.completion', choices: [] }],
    ['a message without content', { type: 'message', id: 'm' }],
  ])('%s is not a Message: null', (_name, json) => {
    expect(messageToChat(json, created)).toBeNull();
  });

  it('chatUsageOf', () => {
    expect(chatUsageOf(null)).toBeNull();
    expect(chatUsageOf(usage({ input_tokens: 7, output_tokens: 1, cache_read_input_tokens: 3 }), 9)).toStrictEqual({
      prompt_tokens: 10,
      completion_tokens: 9,
      total_tokens: 19,
      prompt_tokens_details: { cached_tokens: 3, cache_creation_tokens: 0 },
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Stream: Messages events → chat chunks
// ---------------------------------------------------------------------------------------------

const CREATED = 1_700_000_123;
const MODEL = 'claude-sonnet-4-5-20250929';
type Wire = RawMessageStreamEvent | { type: 'ping' } | ErrorResponse;

/** The Messages stream of one answer: thinking, two pieces of text, two tool calls. */
const fullStream: Wire[] = [
  { type: 'message_start', message: message([], null, { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 }) },
  { type: 'ping' },
  { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think.' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQB' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '', citations: null } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hello' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: ', "world" \\ é 中\n' } },
  { type: 'content_block_stop', index: 1 },
  { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_A', name: 'weather', input: {}, caller: { type: 'direct' } } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: ' "Paris"}' } },
  { type: 'content_block_stop', index: 2 },
  { type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'toolu_B', name: 'time', input: {}, caller: { type: 'direct' } } },
  { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{"tz":"UTC"}' } },
  { type: 'content_block_stop', index: 3 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null, stop_details: null, container: null },
    usage: { output_tokens: 42, input_tokens: null, cache_read_input_tokens: null, cache_creation_input_tokens: null, output_tokens_details: null, server_tool_use: null },
  },
  { type: 'message_stop' },
];

/** Events as the Messages API writes them: `event: <type>` and the data. */
function sseOf(events: readonly Wire[]): string {
  return events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
}

/** Each event through `AnthropicChunks`, the output of each. */
function convert(events: readonly Wire[]): string[] {
  const c = new AnthropicChunks(CREATED);
  return events.map((e) => c.event(JSON.stringify(e)));
}

/** The `data:` values of chat SSE text, checking the framing (`data: …\n\n` only). */
function dataLines(text: string): string[] {
  // The one comment that says the model began thinking (it ends the first-token wait) is no data.
  expect(text.split(': thinking\n\n').length).toBeLessThanOrEqual(2);
  text = text.replace(': thinking\n\n', '');
  expect(text).toMatch(/^(data: [^\n]+\n\n)*$/);
  return text === '' ? [] : text.slice(0, -2).split('\n\n').map((l) => l.slice('data: '.length));
}

const head = { id: 'msg_01', object: 'chat.completion.chunk', created: CREATED, model: MODEL } as const;
function chunk(delta: ChatCompletionChunk.Choice['delta'], finish: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk {
  return { ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
}
const canonicalText = (t: string): string =>
  `{"id":"msg_01","object":"chat.completion.chunk","created":${CREATED},"model":"${MODEL}","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"logprobs":null,"finish_reason":null}]}`;

/** The chat SSE text through the openai SDK's own reader and accumulator. */
async function foldWithSdk(text: string): Promise<ChatCompletion> {
  const stream = Stream.fromSSEResponse<ChatCompletionChunk>(new Response(text), new AbortController());
  return ChatCompletionStream.fromReadableStream(stream.toReadableStream()).finalChatCompletion();
}

describe('AnthropicChunks', () => {
  it('a whole stream: role, canonical text chunks, tool calls 0 and 1, finish, usage, [DONE]', () => {
    const outs = convert(fullStream);
    // Every event gives whole SSE events or nothing; ping, block starts of thinking, signatures and
    // block stops give nothing; the first thinking delta gives one comment (a chat client sees no thinking).
    const silent = fullStream.map((e, i) => [e, outs[i]] as const).filter(([, o]) => o === '').map(([e]) => ('delta' in e && 'type' in e.delta ? e.delta.type : e.type));
    expect(outs.filter((o) => o === ': thinking\n\n')).toHaveLength(1);
    expect(silent).toEqual(['ping', 'content_block_start', 'signature_delta', 'content_block_stop', 'content_block_start', 'content_block_stop', 'input_json_delta', 'content_block_stop', 'content_block_stop']);

    const lines = dataLines(outs.join(''));
    expect(lines.at(-1)).toBe('[DONE]');
    expect(lines[1]).toBe(canonicalText('Hello'));
    expect(lines[2]).toBe(canonicalText(', "world" \\ é 中\n'));
    // The gateway's fast path reads them without a parse.
    expect(textOnlyChunk(lines[1]!)).toBe('Hello');
    expect(textOnlyChunk(lines[2]!)).toBe(', "world" \\ é 中\n');
    for (const l of [lines[0], ...lines.slice(3, -1)]) expect(textOnlyChunk(l!)).toBeNull();

    const chunks = lines.slice(0, -1).map((l) => JSON.parse(l) as ChatCompletionChunk);
    const usageChunk: Omit<ChatCompletionChunk, 'usage'> & { usage: ChatUsage } = {
      ...head,
      choices: [],
      usage: { prompt_tokens: 135, completion_tokens: 42, total_tokens: 177, prompt_tokens_details: { cached_tokens: 100, cache_creation_tokens: 10 } },
    };
    expect(chunks).toStrictEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hello' }),
      chunk({ content: ', "world" \\ é 中\n' }),
      chunk({ tool_calls: [{ index: 0, id: 'toolu_A', type: 'function', function: { name: 'weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'toolu_B', type: 'function', function: { name: 'time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":"UTC"}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk,
    ]);
  });

  it('the openai SDK folds the chat stream into the answer', async () => {
    const answer = await foldWithSdk(convert(fullStream).join(''));
    expect(answer.id).toBe('msg_01');
    expect(answer.model).toBe(MODEL);
    expect(answer.choices).toHaveLength(1);
    expect(answer.choices[0]!.finish_reason).toBe('tool_calls');
    expect(answer.choices[0]!.message.content).toBe('Hello, "world" \\ é 中\n');
    expect(answer.choices[0]!.message.tool_calls?.map((t) => (t.type === 'function' ? [t.id, t.function.name, t.function.arguments] : null))).toEqual([
      ['toolu_A', 'weather', '{"city": "Paris"}'],
      ['toolu_B', 'time', '{"tz":"UTC"}'],
    ]);
    expect(answer.usage).toMatchObject({ prompt_tokens: 135, completion_tokens: 42, total_tokens: 177, prompt_tokens_details: { cached_tokens: 100 } });
  });

  it('nothing after message_stop', () => {
    const c = new AnthropicChunks(CREATED);
    for (const e of fullStream) c.event(JSON.stringify(e));
    expect(c.event(JSON.stringify({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'late' } }))).toBe('');
    expect(c.event(JSON.stringify({ type: 'message_stop' }))).toBe('');
    expect(c.event(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'x' } }))).toBe('');
  });

  it.each([
    ['max_tokens', 'length'],
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['refusal', 'content_filter'],
  ] as const)('message_delta stop_reason %s → finish_reason %s', (stop, finish) => {
    const events: Wire[] = [
      fullStream[0]!,
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: 'Hi', citations: null } },
      { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null, stop_details: null, container: null }, usage: { output_tokens: 3, input_tokens: 25, cache_read_input_tokens: 100, cache_creation_input_tokens: 10, output_tokens_details: null, server_tool_use: null } },
      { type: 'message_stop' },
    ];
    const lines = dataLines(convert(events).join(''));
    expect(lines[1]).toBe(canonicalText('Hi')); // text already in content_block_start
    expect(JSON.parse(lines[2]!)).toStrictEqual(chunk({}, finish));
    expect((JSON.parse(lines[3]!) as ChatCompletionChunk).usage).toMatchObject({ prompt_tokens: 135, completion_tokens: 3 });
    expect(lines.slice(4)).toEqual(['[DONE]']);
  });

  it('message_stop without a stop_reason: a stop chunk, the usage, [DONE]', () => {
    const lines = dataLines(convert([fullStream[0]!, { type: 'message_stop' }]).join(''));
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[1]!)).toStrictEqual(chunk({}, 'stop'));
    expect((JSON.parse(lines[2]!) as ChatCompletionChunk).choices).toEqual([]);
    expect(lines[3]).toBe('[DONE]');
  });

  it('an error event → a chat error event, then nothing', async () => {
    const err: ErrorResponse = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: null };
    const events: Wire[] = [fullStream[0]!, fullStream[6]!, fullStream[7]!, err, fullStream[8]!, { type: 'message_stop' }];
    const outs = convert(events);
    expect(outs[3]).toBe('data: {"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}}\n\n');
    expect(outs.slice(4)).toEqual(['', '']);
    // As a first event too (the gateway then fails over), and with a bare error.
    expect(convert([err])[0]).toBe(outs[3]);
    expect(convert([{ type: 'error' } as unknown as ErrorResponse])[0]).toBe(
      'data: {"error":{"message":"The provider reported an error.","type":"api_error","param":null,"code":null}}\n\n',
    );
    // The openai SDK throws it as an APIError.
    await expect(foldWithSdk(outs.join(''))).rejects.toThrow(APIError);
    await expect(foldWithSdk(outs.join(''))).rejects.toThrow(/Overloaded/);
  });

  it('no data, not JSON, not an object: nothing', () => {
    const c = new AnthropicChunks(CREATED);
    expect(c.event(null)).toBe('');
    expect(c.event('{"type":')).toBe('');
    expect(c.event('[1]')).toBe('');
    expect(c.event('"message_stop"')).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// convertedSource and the adapter
// ---------------------------------------------------------------------------------------------

function sourceOf(chunks: readonly Buffer[]): ByteSource & { destroy: ReturnType<typeof vi.fn<(err?: Error) => void>> } {
  return {
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) yield c;
    },
    destroy: vi.fn<(err?: Error) => void>(),
  };
}

async function collect(s: ByteSource): Promise<string> {
  const out: Buffer[] = [];
  for await (const b of s) out.push(b);
  return Buffer.concat(out).toString('utf8');
}

/** `bytes` cut every `n` bytes (through multi-byte characters too). */
function cut(bytes: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += n) out.push(bytes.subarray(i, i + n));
  return out;
}

describe('convertedSource', () => {
  it('events split across chunks are converted once each, with their whole data', async () => {
    const bytes = Buffer.from(`: comment\n\n${sseOf(fullStream)}`);
    for (const n of [1, 7, 64, bytes.length]) {
      const seen: Array<string | null> = [];
      const out = await collect(
        convertedSource(sourceOf(cut(bytes, n)), (data) => {
          seen.push(data);
          return data === null ? '' : `data: ${data.length}\n\n`;
        }),
      );
      expect(seen).toEqual([null, ...fullStream.map((e) => JSON.stringify(e))]);
      expect(out).toBe(fullStream.map((e) => `data: ${JSON.stringify(e).length}\n\n`).join(''));
    }
  });

  it('a last event without its blank line is still converted', async () => {
    const seen: Array<string | null> = [];
    await collect(convertedSource(sourceOf([Buffer.from('data: a\n\ndata: b')]), (d) => (seen.push(d), '')));
    expect(seen).toEqual(['a', 'b']);
  });

  it('the Anthropic adapter streams the same chat chunks however the bytes are cut', async () => {
    const adapter = adapterFor(anthropicP, '/chat/completions', base as unknown as Json)!;
    const bytes = Buffer.from(sseOf(fullStream));
    const whole = await collect(adapter.stream(sourceOf([bytes])));
    expect(await collect(adapter.stream(sourceOf(cut(bytes, 5))))).toBe(whole);
    const lines = dataLines(whole);
    expect(lines).toHaveLength(11); // role, 2 texts, 5 tool pieces, finish, usage, [DONE]
    expect(textOnlyChunk(lines[1]!)).toBe('Hello');
    expect(lines.at(-1)).toBe('[DONE]');
  });

  it('destroy reaches the source', () => {
    const src = sourceOf([]);
    const err = new Error('timeout');
    convertedSource(src, () => '').destroy(err);
    expect(src.destroy).toHaveBeenCalledWith(err);
  });

  it('adapterFor: none for OpenAI-format types; the payload and answer go through the pure functions', () => {
    expect(adapterFor({ type: 'openai' } as ProviderConfig, '/chat/completions', base as unknown as Json)).toBeNull();
    expect(adapterFor({ type: 'azure' } as ProviderConfig, '/chat/completions', base as unknown as Json)).toBeNull();
    const adapter = adapterFor(anthropicP, '/chat/completions', base as unknown as Json)!;
    expect(adapter.payload).toStrictEqual({ model: 'claude-haiku', max_tokens: 512, messages: [hiTurn] });
    const answer = adapter.answer(message([{ type: 'text', text: 'ok', citations: null }], 'end_turn')) as unknown as ChatCompletion;
    expect(answer.choices[0]!.message.content).toBe('ok');
    expect(Math.abs(answer.created - Date.now() / 1000)).toBeLessThan(5);
    expect(adapter.answer({ type: 'error', error: {} })).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// NativeMessagesStream: a Messages stream passed through
// ---------------------------------------------------------------------------------------------

describe('NativeMessagesStream', () => {
  const trick = { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: '{"type":"message_start","model":"x"} message_stop' } } as const;
  const events: Wire[] = [
    fullStream[0]!,
    { type: 'ping' },
    ...fullStream.slice(2, 9),
    trick,
    ...fullStream.slice(9, 19),
    // Cumulative usage as the API gives it in message_delta (nulls leave the start's counts).
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null, container: null }, usage: { output_tokens: 42, input_tokens: 25, cache_read_input_tokens: null, cache_creation_input_tokens: 30, output_tokens_details: null, server_tool_use: null } },
    { type: 'message_stop' },
  ];

  function decode(text: string): ReturnType<SseDecoder['push']> {
    const d = new SseDecoder();
    return [...d.push(Buffer.from(text)), ...d.end()];
  }

  it('rewrites the model in message_start only; every other event is its own Buffer', () => {
    const w = new NativeMessagesStream('my-public-model');
    const decoded = decode(`: keep-alive\n\n${sseOf(events)}`);
    let bytes = 0;
    decoded.forEach((e, i) => {
      bytes += e.raw.length;
      const out = w.event(e.data, e.raw);
      if (i === 1) {
        expect(typeof out).toBe('string');
        const m = /^event: message_start\ndata: (.+)\n\n$/.exec(out as string);
        expect(m).not.toBeNull();
        const start = events[0] as Extract<RawMessageStreamEvent, { type: 'message_start' }>;
        expect(JSON.parse(m![1]!)).toStrictEqual({ ...start, message: { ...start.message, model: 'my-public-model' } });
      } else {
        expect(out).toBe(e.raw);
      }
      expect(w.ended).toBe(i === decoded.length - 1);
      if (i < decoded.length - 1) expect(w.usage).toBeNull();
    });
    expect(w.bytes).toBe(bytes);
    // Start: 25 fresh + 100 read + 10 written; the delta's cumulative counts: 30 written, 42 out.
    expect(w.usage).toStrictEqual({ prompt_tokens: 155, completion_tokens: 42, total_tokens: 197, cached_tokens: 100 });
    expect(w.generatedText()).toBe(`Hello, "world" \\ é 中\n${trick.delta.text}`);
    expect(w.error('late')).toBe('');
  });

  it('error() ends a broken stream with one Messages error event, with the usage so far', () => {
    const w = new NativeMessagesStream('m');
    for (const e of decode(sseOf(events.slice(0, 5)))) w.event(e.data, e.raw);
    expect(w.ended).toBe(false);
    const out = w.error('The upstream broke off.');
    expect(out).toBe('event: error\ndata: {"type":"error","error":{"type":"api_error","message":"The upstream broke off."}}\n\n');
    const data = JSON.parse(out.split('data: ')[1]!) as ErrorResponse;
    expect(data.error.message).toBe('The upstream broke off.');
    expect(w.ended).toBe(true);
    expect(w.usage).toStrictEqual({ prompt_tokens: 135, completion_tokens: 1, total_tokens: 136, cached_tokens: 100 });
    expect(w.error('again')).toBe('');
  });

  it('nativeMessage: the client model and the counted usage', () => {
    const m = message([{ type: 'text', text: 'x', citations: null }], 'end_turn', { input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 4, cache_creation_input_tokens: 1 });
    const { body, usage: counted } = nativeMessage(m, 'public');
    expect((body as Message).model).toBe('public');
    expect((body as Message).content).toEqual(m.content);
    expect(counted).toStrictEqual({ prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, cached_tokens: 4 });
    expect(nativeMessage('x', 'public')).toStrictEqual({ body: 'x', usage: null });
  });
});
