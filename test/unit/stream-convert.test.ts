import { afterEach, describe, expect, it, vi } from 'vitest';
import { Aggregator, isUsageOnlyChunk, readUsage, synthesize } from '../../src/stream/convert.js';

const head = { id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o-mini-2024-07-18' };

function chatChunk(choice: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...head, system_fingerprint: 'fp_44709d6fcb', choices: [{ logprobs: null, finish_reason: null, ...choice }], usage: null, ...extra };
}

function aggregate(kind: 'chat' | 'text', chunks: readonly unknown[]): Aggregator {
  const agg = new Aggregator(kind);
  for (const c of chunks) agg.add(c);
  return agg;
}

describe('Aggregator(chat)', () => {
  const usage = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 };
  const transcript = [
    chatChunk({ index: 0, delta: { role: 'assistant', content: '', refusal: null } }),
    chatChunk({ index: 0, delta: { content: 'Hel' } }),
    chatChunk({ index: 0, delta: { content: 'lo' } }),
    chatChunk({ index: 0, delta: { content: ' world €' } }),
    chatChunk({ index: 0, delta: {}, finish_reason: 'stop' }),
    { ...head, system_fingerprint: 'fp_44709d6fcb', choices: [], usage },
  ];

  it('folds a content stream into one chat.completion', () => {
    expect(aggregate('chat', transcript).result()).toEqual({
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o-mini-2024-07-18',
      system_fingerprint: 'fp_44709d6fcb',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world €', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage,
    });
  });

  it('records the usage of the usage-only chunk and the generated text', () => {
    const agg = aggregate('chat', transcript);
    expect(agg.usage).toEqual(usage);
    expect(agg.generatedText()).toBe('Hello world €');
  });

  it('leaves usage out when the stream reported none', () => {
    const result = aggregate('chat', transcript.slice(0, 5)).result();
    expect(result).not.toHaveProperty('usage');
    expect(result.choices).toEqual([{ index: 0, message: { role: 'assistant', content: 'Hello world €', refusal: null }, logprobs: null, finish_reason: 'stop' }]);
  });

  const toolTranscript = [
    chatChunk({
      index: 0,
      delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
    }),
    chatChunk({ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] } }),
    chatChunk({ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } }),
    chatChunk({ index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '{"tz":' } }] } }),
    chatChunk({ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } }),
    chatChunk({ index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '"UTC"}' } }] } }),
    chatChunk({ index: 0, delta: {}, finish_reason: 'tool_calls' }),
  ];

  it('merges interleaved tool-call pieces by index', () => {
    const result = aggregate('chat', toolTranscript).result();
    expect(result.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('counts tool names and arguments in the generated text', () => {
    const text = aggregate('chat', toolTranscript).generatedText();
    expect(text).toContain('{"city":"Paris"}');
    expect(text).toContain('{"tz":"UTC"}');
    expect(text).toContain('get_weather');
    expect(text).not.toContain('call_a');
  });

  it('sorts tool calls by index even when index 1 starts first', () => {
    const result = aggregate('chat', [
      chatChunk({ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'b', arguments: '{}' } }] } }),
      chatChunk({ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '{}' } }] } }),
      chatChunk({ index: 0, delta: {}, finish_reason: 'tool_calls' }),
    ]).result();
    const calls = (result.choices as Array<{ message: { tool_calls: Array<{ id: string }> } }>)[0]?.message.tool_calls;
    expect(calls?.map((c) => c.id)).toEqual(['call_a', 'call_b']);
  });

  it('keeps two choices (n=2) apart, sorted by index', () => {
    const result = aggregate('chat', [
      chatChunk({ index: 1, delta: { role: 'assistant', content: '' } }),
      chatChunk({ index: 0, delta: { role: 'assistant', content: '' } }),
      chatChunk({ index: 1, delta: { content: 'B1' } }),
      chatChunk({ index: 0, delta: { content: 'A1' } }),
      chatChunk({ index: 0, delta: { content: 'A2' } }),
      chatChunk({ index: 1, delta: { content: 'B2' } }),
      chatChunk({ index: 1, delta: {}, finish_reason: 'length' }),
      chatChunk({ index: 0, delta: {}, finish_reason: 'stop' }),
    ]).result();
    expect(result.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'A1A2', refusal: null }, logprobs: null, finish_reason: 'stop' },
      { index: 1, message: { role: 'assistant', content: 'B1B2', refusal: null }, logprobs: null, finish_reason: 'length' },
    ]);
  });

  it('takes id, model and created from the first chunk that has them', () => {
    const agg = new Aggregator('chat');
    agg.add({ choices: [] });
    agg.add({ id: 'first', model: 'm1', created: 11, choices: [{ index: 0, delta: { content: 'x' } }] });
    agg.add({ id: 'second', model: 'm2', created: 22, choices: [{ index: 0, delta: { content: 'y' } }] });
    const result = agg.result();
    expect([result.id, result.model, result.created, result.object]).toEqual(['first', 'm1', 11, 'chat.completion']);
    expect(result).not.toHaveProperty('system_fingerprint');
  });

  it('keeps refusals apart from content', () => {
    const result = aggregate('chat', [
      chatChunk({ index: 0, delta: { role: 'assistant', content: null, refusal: '' } }),
      chatChunk({ index: 0, delta: { refusal: "I can't " } }),
      chatChunk({ index: 0, delta: { refusal: 'help with that.' } }),
      chatChunk({ index: 0, delta: {}, finish_reason: 'stop' }),
    ]).result();
    expect(result.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: null, refusal: "I can't help with that." }, logprobs: null, finish_reason: 'stop' },
    ]);
  });

  it('ignores chunks that are not objects', () => {
    const agg = aggregate('chat', [null, 'x', 42, [], ...transcript.slice(0, 3)]);
    expect(agg.generatedText()).toBe('Hello');
    expect(agg.result().id).toBe('chatcmpl-abc');
  });
});

describe('Aggregator(text)', () => {
  const base = { id: 'cmpl-1', object: 'text_completion', created: 1_700_000_100, model: 'gpt-3.5-turbo-instruct' };
  it('concatenates text_completion chunks', () => {
    const usage = { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 };
    const agg = aggregate('text', [
      { ...base, choices: [{ index: 0, text: 'Once', logprobs: null, finish_reason: null }] },
      { ...base, choices: [{ index: 0, text: ' upon', logprobs: null, finish_reason: null }] },
      { ...base, choices: [{ index: 0, text: ' a time', logprobs: null, finish_reason: null }] },
      { ...base, choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'length' }] },
      { ...base, choices: [], usage },
    ]);
    expect(agg.result()).toEqual({
      id: 'cmpl-1',
      object: 'text_completion',
      created: 1_700_000_100,
      model: 'gpt-3.5-turbo-instruct',
      choices: [{ index: 0, text: 'Once upon a time', logprobs: null, finish_reason: 'length' }],
      usage,
    });
    expect(agg.generatedText()).toBe('Once upon a time');
  });
});

describe('synthesize', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
  const plain = {
    id: 'chatcmpl-9',
    object: 'chat.completion',
    created: 1_700_000_001,
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage,
  };
  const chunkHead = { id: 'chatcmpl-9', object: 'chat.completion.chunk', created: 1_700_000_001, model: 'gpt-4o' };
  const plainChunks = [
    { ...chunkHead, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }] },
    { ...chunkHead, choices: [{ index: 0, delta: { content: 'Hi there' }, logprobs: null, finish_reason: null }] },
    { ...chunkHead, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] },
  ];

  it('turns a plain answer into role, content and finish chunks', () => {
    expect(synthesize('chat', plain, false)).toEqual(plainChunks);
  });

  it('adds a usage chunk with no choices only when usage was asked for', () => {
    expect(synthesize('chat', plain, true)).toEqual([...plainChunks, { ...chunkHead, choices: [], usage }]);
    expect(synthesize('chat', { ...plain, usage: undefined }, true)).toEqual(plainChunks);
  });

  it('keeps system_fingerprint on every chunk', () => {
    const chunks = synthesize('chat', { ...plain, system_fingerprint: 'fp_1' }, true);
    expect(chunks.map((c) => c.system_fingerprint)).toEqual(['fp_1', 'fp_1', 'fp_1', 'fp_1']);
  });

  it('stamps the current time when the answer has no created', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2024-01-02T03:04:05.900Z'));
    const chunks = synthesize('chat', { ...plain, created: undefined }, false);
    expect(chunks.map((c) => c.created)).toEqual([1_704_164_645, 1_704_164_645, 1_704_164_645]);
  });

  const toolAnswer = {
    id: 'chatcmpl-t',
    object: 'chat.completion',
    created: 1_700_000_002,
    model: 'gpt-4o',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 },
  };

  it('turns tool calls into a tool_calls delta with index, id, type and function', () => {
    const chunks = synthesize('chat', toolAnswer, false);
    // As OpenAI does: the role chunk of a tool-call answer carries `content: null`.
    expect(chunks[0]?.choices).toEqual([{ index: 0, delta: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: null }]);
    expect(chunks.slice(1).map((c) => c.choices)).toEqual([
      [
        {
          index: 0,
          delta: {
            tool_calls: [
              { index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } },
            ],
          },
          logprobs: null,
          finish_reason: null,
        },
      ],
      [{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }],
    ]);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-t')).toBe(true);
  });

  it('round trips a plain answer through aggregate', () => {
    expect(aggregate('chat', synthesize('chat', plain, true)).result()).toEqual(plain);
  });

  it('round trips two choices through aggregate', () => {
    const two = {
      ...plain,
      choices: [
        { index: 0, message: { role: 'assistant', content: 'first', refusal: null }, logprobs: null, finish_reason: 'stop' },
        { index: 1, message: { role: 'assistant', content: 'second', refusal: null }, logprobs: null, finish_reason: 'length' },
      ],
    };
    expect(aggregate('chat', synthesize('chat', two, true)).result()).toEqual(two);
  });

  it('round trips tool calls, finish_reason and usage through aggregate', () => {
    const result = aggregate('chat', synthesize('chat', toolAnswer, true)).result();
    const choice = (result.choices as Array<{ message: Record<string, unknown>; finish_reason: unknown }>)[0];
    expect(choice?.message.tool_calls).toEqual(toolAnswer.choices[0]?.message.tool_calls);
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(result.usage).toEqual(toolAnswer.usage);
  });

  // A null content (tool calls, refusals) must come back null, not ''.
  it('round trips null content of a tool-call answer', () => {
    const chunks = synthesize('chat', toolAnswer, true);
    expect(aggregate('chat', chunks).result()).toEqual(toolAnswer);
  });

  const textAnswer = {
    id: 'cmpl-2',
    object: 'text_completion',
    created: 1_700_000_003,
    model: 'gpt-3.5-turbo-instruct',
    choices: [{ index: 0, text: 'Hello', logprobs: null, finish_reason: 'length' }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  };
  const textHead = { id: 'cmpl-2', object: 'text_completion', created: 1_700_000_003, model: 'gpt-3.5-turbo-instruct' };

  it('turns a text completion into a text chunk and a finish chunk', () => {
    expect(synthesize('text', textAnswer, false)).toEqual([
      { ...textHead, choices: [{ index: 0, text: 'Hello', logprobs: null, finish_reason: null }] },
      { ...textHead, choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'length' }] },
    ]);
    expect(synthesize('text', textAnswer, true).at(-1)).toEqual({ ...textHead, choices: [], usage: textAnswer.usage });
  });

  it('round trips a text completion through aggregate', () => {
    expect(aggregate('text', synthesize('text', textAnswer, true)).result()).toEqual(textAnswer);
  });

  it('gives no choice chunks for garbage', () => {
    expect(synthesize('chat', null, true)).toEqual([]);
    expect(synthesize('chat', { id: 'x', choices: 'nope' }, true)).toEqual([]);
  });
});

describe('readUsage', () => {
  it('reads a full usage object and drops extra fields', () => {
    expect(readUsage({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, prompt_tokens_details: { cached_tokens: 0 } })).toEqual({
      prompt_tokens: 1,
      completion_tokens: 2,
      total_tokens: 3,
    });
  });

  it('computes total_tokens when it is absent', () => {
    expect(readUsage({ prompt_tokens: 3, completion_tokens: 4 })).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  });

  it('fills missing fields with 0', () => {
    expect(readUsage({ prompt_tokens: 3 })).toEqual({ prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
    expect(readUsage({ total_tokens: 10 })).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 10 });
  });

  it('keeps a total the upstream gave even when it is not the sum', () => {
    expect(readUsage({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 100 })?.total_tokens).toBe(100);
  });

  it('reads a usage with only completion_tokens', () => {
    expect(readUsage({ completion_tokens: 5 })).toEqual({ prompt_tokens: 0, completion_tokens: 5, total_tokens: 5 });
  });

  it('returns null for garbage', () => {
    for (const g of [null, undefined, 'usage', 42, true, [], [1, 2], {}, { prompt_tokens: '3', total_tokens: '7' }]) {
      expect(readUsage(g), JSON.stringify(g)).toBeNull();
    }
  });
});

describe('isUsageOnlyChunk', () => {
  it('is true for choices [] with a usage object', () => {
    expect(isUsageOnlyChunk({ id: 'x', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })).toBe(true);
  });

  it('is false otherwise', () => {
    expect(isUsageOnlyChunk({ choices: [], usage: null })).toBe(false);
    expect(isUsageOnlyChunk({ choices: [] })).toBe(false);
    expect(isUsageOnlyChunk({ usage: { prompt_tokens: 1 } })).toBe(false);
    expect(isUsageOnlyChunk({ choices: [{ index: 0, delta: {} }], usage: { prompt_tokens: 1 } })).toBe(false);
    expect(isUsageOnlyChunk({ choices: [], usage: [] })).toBe(false);
    expect(isUsageOnlyChunk(null)).toBe(false);
    expect(isUsageOnlyChunk('{"choices":[],"usage":{}}')).toBe(false);
    expect(isUsageOnlyChunk([])).toBe(false);
  });
});
