import {
  FinishReason,
  FunctionCallingConfigMode,
  type Content,
  type ContentEmbedding,
  type GenerateContentResponse,
  type GenerateContentResponseUsageMetadata,
  type GenerationConfig,
  type Part,
  type Tool,
  type ToolConfig,
} from '@google/genai';
import OpenAI, { APIError } from 'openai';
import { ChatCompletionStream } from 'openai/lib/ChatCompletionStream';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from 'openai/resources/embeddings';
import { Stream } from 'openai/streaming';
import { describe, expect, it, vi } from 'vitest';
import type { ProviderConfig } from '../../src/config/load.js';
import { Untranslatable } from '../../src/providers/anthropic.js';
import {
  chatToGeminiRequest,
  embeddingsToGemini,
  geminiEmbeddings,
  geminiFinishReason,
  GeminiChunks,
  geminiToChat,
  geminiUsage,
  isKeyInvalid,
  retryDelayMs,
} from '../../src/providers/gemini.js';
import { adapterFor } from '../../src/providers/index.js';
import { textOnlyChunk } from '../../src/stream/convert.js';
import type { ByteSource } from '../../src/stream/upstream-stream.js';
import { inEncoding } from '../../src/upstream/embeddings.js';

type Json = Record<string, unknown>;

/** The REST body of `generateContent` / `streamGenerateContent`, in the SDK's own part types. */
interface GeminiRequest {
  contents: Content[];
  systemInstruction?: Content;
  generationConfig?: GenerationConfig;
  tools?: Tool[];
  toolConfig?: ToolConfig;
}
/** One answer or stream event as the REST API sends it (the SDK class without its getters). */
type GeminiAnswer = Pick<GenerateContentResponse, 'candidates' | 'usageMetadata' | 'modelVersion' | 'responseId'>;
/** The REST body of `batchEmbedContents`. */
interface GeminiEmbedRequest {
  requests: Array<{ model: string; content: Content; outputDimensionality?: number }>;
}

type ChatUsage = CompletionUsage & { prompt_tokens_details: { cached_tokens: number }; completion_tokens_details: { reasoning_tokens: number } };

function toGemini(chat: ChatCompletionCreateParams): GeminiRequest {
  return chatToGeminiRequest(chat as unknown as Json) as unknown as GeminiRequest;
}
function toChat(answer: GeminiAnswer | Json, model = 'gemini-2.5-flash', created = CREATED): ChatCompletion & { usage?: ChatUsage } {
  return geminiToChat(answer, model, created) as unknown as ChatCompletion & { usage?: ChatUsage };
}
function untranslatable(f: () => unknown): Untranslatable {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(Untranslatable);
    return err as Untranslatable;
  }
  throw new Error('no Untranslatable thrown');
}
function answerOf(parts: Part[], finishReason?: FinishReason, usageMetadata?: GenerateContentResponseUsageMetadata): GeminiAnswer {
  return {
    candidates: [{ content: { role: 'model', parts }, ...(finishReason === undefined ? {} : { finishReason }), index: 0 }],
    ...(usageMetadata === undefined ? {} : { usageMetadata }),
  };
}

const CREATED = 1_700_000_123;
const SIG = 'EjQKMgE+ab/cd=='; // base64 thought signatures carry + / =
const base = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] } satisfies ChatCompletionCreateParams;

// ---------------------------------------------------------------------------------------------
// Request: chat → generateContent
// ---------------------------------------------------------------------------------------------

describe('chatToGeminiRequest', () => {
  it('a whole conversation: system text apart, roles user / model, consecutive roles merged, calls and results', () => {
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
            { type: 'text', text: '' },
          ],
        },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [
            { id: `call_0__ts__${SIG}`, type: 'function', function: { name: 'weather', arguments: '{"city":"Paris","days":[1,2]}' } },
            { id: 'call_1', type: 'function', function: { name: 'time', arguments: 'not json' } },
            { id: 'call_2', type: 'function', function: { name: 'list', arguments: '[1,2]' } },
            { id: 'call_3', type: 'function', function: { name: 'empty', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: `call_0__ts__${SIG}`, content: '{"temp":21,"unit":"C"}' },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '12:' }, { type: 'text', text: '00' }] },
        { role: 'tool', tool_call_id: 'call_2', content: '[1,2]' },
        { role: 'tool', tool_call_id: 'call_3', content: '' },
        { role: 'user', content: 'Thanks. And tomorrow?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Rain.' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'weather', arguments: '{"city":"Lyon"}' } }] },
        { role: 'system', content: 'Late system note.' },
        { role: 'tool', tool_call_id: 'call_9', content: 'cloudy' },
        { role: 'user', content: '' },
        { role: 'user', content: 'OK' },
      ],
    };
    const expected: GeminiRequest = {
      contents: [
        { role: 'user', parts: [{ text: 'Hi' }, { text: 'Look:' }, { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } }] },
        {
          role: 'model',
          parts: [
            { text: 'Let me check.' },
            { functionCall: { name: 'weather', args: { city: 'Paris', days: [1, 2] } }, thoughtSignature: SIG },
            { functionCall: { name: 'time', args: {} } },
            { functionCall: { name: 'list', args: {} } },
            { functionCall: { name: 'empty', args: {} } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'weather', response: { temp: 21, unit: 'C' } } },
            { functionResponse: { name: 'time', response: { result: '12:00' } } },
            { functionResponse: { name: 'list', response: { result: '[1,2]' } } },
            { functionResponse: { name: 'empty', response: { result: '' } } },
            { text: 'Thanks. And tomorrow?' },
          ],
        },
        { role: 'model', parts: [{ text: 'Rain.' }, { functionCall: { name: 'weather', args: { city: 'Lyon' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { result: 'cloudy' } } }, { text: 'OK' }] },
      ],
      systemInstruction: { parts: [{ text: 'Be brief.\n\nAnswer in French.\n\nLate system note.' }] },
    };
    expect(toGemini(chat)).toStrictEqual(expected);
  });

  it('the minimal request: contents only', () => {
    expect(toGemini(base)).toStrictEqual({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
  });

  it.each([
    ['{"a":1,"b":{"c":[true]}}', { a: 1, b: { c: [true] } }],
    ['{}', {}],
    ['sunny', { result: 'sunny' }],
    ['42', { result: '42' }],
    ['null', { result: 'null' }],
    ['"quoted"', { result: '"quoted"' }],
    ['[{"a":1}]', { result: '[{"a":1}]' }],
    ['{"cut', { result: '{"cut' }],
  ])('tool result %s → functionResponse.response %j', (content, response) => {
    const chat: ChatCompletionCreateParams = {
      model: 'm',
      messages: [
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_0', content },
      ],
    };
    expect(toGemini(chat).contents[1]).toStrictEqual({ role: 'user', parts: [{ functionResponse: { name: 'f', response } }] });
  });

  it('the thought signature goes out in the call id and comes back on the next turn; results are named by lookup', () => {
    const answer = toChat(
      answerOf(
        [
          { functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIG },
          { functionCall: { name: 'time', args: { tz: 'UTC' } } },
        ],
        FinishReason.STOP,
      ),
    );
    const msg = answer.choices[0]!.message;
    expect(msg.tool_calls?.map((t) => t.id)).toEqual([`call_0__ts__${SIG}`, 'call_1']);

    const next = toGemini({
      model: 'm',
      messages: [
        { role: 'user', content: 'Weather and time?' },
        msg as ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: 'call_1', content: '09:00' },
        { role: 'tool', tool_call_id: `call_0__ts__${SIG}`, content: '{"sky":"clear"}' },
      ],
    });
    expect(next.contents).toStrictEqual([
      { role: 'user', parts: [{ text: 'Weather and time?' }] },
      {
        role: 'model',
        parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIG }, { functionCall: { name: 'time', args: { tz: 'UTC' } } }],
      },
      {
        role: 'user',
        parts: [{ functionResponse: { name: 'time', response: { result: '09:00' } } }, { functionResponse: { name: 'weather', response: { sky: 'clear' } } }],
      },
    ] satisfies Content[]);
  });

  it('a tool_call_id that names no earlier call is Untranslatable (Gemini needs the name)', () => {
    const unknown = untranslatable(() =>
      toGemini({
        model: 'm',
        messages: [
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'call_7', content: 'x' },
        ],
      }),
    );
    expect(unknown.param).toBe('messages[1].tool_call_id');
    expect(unknown.message).toMatch(/names no earlier tool call/);
    // A call made only after the result is no earlier call either.
    const later = untranslatable(() =>
      toGemini({
        model: 'm',
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'tool', tool_call_id: 'call_0', content: 'x' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        ],
      }),
    );
    expect(later.param).toBe('messages[1].tool_call_id');
  });

  it('what Gemini cannot take is Untranslatable: image URLs, other parts, other roles, no turns', () => {
    const url = untranslatable(() =>
      toGemini({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }] }] }),
    );
    expect(url.param).toBe('messages[0].content');
    expect(url.message).toMatch(/content\[1\]\.image_url: Gemini takes images as data URLs only/);
    const audio = untranslatable(() => toGemini({ model: 'm', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAA=', format: 'wav' } }] }] }));
    expect(audio.param).toBe('messages[0].content');
    expect(audio.message).toMatch(/"input_audio" parts cannot be sent/);
    const role = untranslatable(() => toGemini({ model: 'm', messages: [{ role: 'user', content: 'Hi' }, { role: 'function', name: 'f', content: 'x' }] }));
    expect(role.param).toBe('messages[1].role');
    expect(untranslatable(() => toGemini({ model: 'm', messages: [{ role: 'system', content: 'Only a system prompt.' }] })).param).toBe('messages');
    expect(untranslatable(() => toGemini({ model: 'm', messages: [] })).param).toBe('messages');
  });

  it.each<[string, Partial<ChatCompletionCreateParams>, GenerationConfig | undefined]>([
    ['nothing set', {}, undefined],
    ['max_completion_tokens wins over max_tokens', { max_completion_tokens: 300, max_tokens: 100 }, { maxOutputTokens: 300 }],
    ['max_tokens', { max_tokens: 100 }, { maxOutputTokens: 100 }],
    ['token limits that are not positive integers are left out', { max_completion_tokens: 0, max_tokens: 1.5 }, undefined],
    ['temperature and top_p', { temperature: 0, top_p: 0.9 }, { temperature: 0, topP: 0.9 }],
    ['a stop string', { stop: 'END' }, { stopSequences: ['END'] }],
    ['stop strings', { stop: ['a', 'b'] }, { stopSequences: ['a', 'b'] }],
    ['stop null', { stop: null }, undefined],
    ['json_object', { response_format: { type: 'json_object' } }, { responseMimeType: 'application/json' }],
    [
      'json_schema',
      { response_format: { type: 'json_schema', json_schema: { name: 'out', strict: true, schema: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] } } } },
      { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] } },
    ],
    ['json_schema without a schema', { response_format: { type: 'json_schema', json_schema: { name: 'out' } } }, { responseMimeType: 'application/json' }],
    ['text', { response_format: { type: 'text' } }, undefined],
    [
      'all at once',
      { max_tokens: 64, temperature: 1.5, top_p: 1, stop: ['\n\n'], response_format: { type: 'json_object' } },
      { maxOutputTokens: 64, temperature: 1.5, topP: 1, stopSequences: ['\n\n'], responseMimeType: 'application/json' },
    ],
  ])('generationConfig: %s', (_, extra, config) => {
    const out = toGemini({ ...base, ...extra } as ChatCompletionCreateParams);
    if (config === undefined) expect(out).not.toHaveProperty('generationConfig');
    else expect(out.generationConfig).toStrictEqual(config);
  });

  const tools: ChatCompletionCreateParams['tools'] = [
    { type: 'function', function: { name: 'weather', description: 'The weather.', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
    { type: 'function', function: { name: 'noop' } },
    { type: 'custom', custom: { name: 'grammar' } },
  ];

  it.each<[string, ChatCompletionCreateParams['tool_choice'], ToolConfig | undefined]>([
    ['unset', undefined, undefined],
    ['auto', 'auto', { functionCallingConfig: { mode: FunctionCallingConfigMode.AUTO } }],
    ['none', 'none', { functionCallingConfig: { mode: FunctionCallingConfigMode.NONE } }],
    ['required', 'required', { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } }],
    ['named', { type: 'function', function: { name: 'weather' } }, { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: ['weather'] } }],
  ])('tools → functionDeclarations; tool_choice %s → toolConfig', (_, choice, toolConfig) => {
    const out = toGemini({ ...base, tools, ...(choice === undefined ? {} : { tool_choice: choice }) });
    expect(out.tools).toStrictEqual([
      {
        functionDeclarations: [
          { name: 'weather', description: 'The weather.', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
          { name: 'noop' },
        ],
      },
    ] satisfies Tool[]);
    if (toolConfig === undefined) expect(out).not.toHaveProperty('toolConfig');
    else expect(out.toolConfig).toStrictEqual(toolConfig);
  });

  it('no function tools: neither tools nor toolConfig, whatever tool_choice says', () => {
    const out = toGemini({ ...base, tools: [{ type: 'custom', custom: { name: 'grammar' } }], tool_choice: 'required' });
    expect(out).toStrictEqual({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
  });
});

describe('embeddingsToGemini', () => {
  const params = (p: Omit<EmbeddingCreateParams, 'model'>): Json => ({ model: 'emb', ...p });
  it('one request per input string, with the provider model and the dimensions', () => {
    expect(embeddingsToGemini(params({ input: ['a', 'b'], dimensions: 256 }), 'gemini-embedding-001')).toStrictEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] }, outputDimensionality: 256 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'b' }] }, outputDimensionality: 256 },
      ],
    } satisfies GeminiEmbedRequest);
    expect(embeddingsToGemini(params({ input: 'one' }), 'e')).toStrictEqual({ requests: [{ model: 'models/e', content: { parts: [{ text: 'one' }] } }] } satisfies GeminiEmbedRequest);
  });

  it.each<[string, unknown]>([
    ['a token array', [1, 2, 3]],
    ['token arrays', [[1, 2], [3]]],
    ['strings and tokens mixed', ['a', [1]]],
    ['no input', undefined],
  ])('%s is Untranslatable', (_, input) => {
    const err = untranslatable(() => embeddingsToGemini({ model: 'emb', input }, 'e'));
    expect(err.param).toBe('input');
    expect(err.message).toMatch(/strings only/);
  });
});

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

describe('geminiToChat', () => {
  it('text parts joined, thought parts left out, ids and model from the answer, usage with thinking and cache', () => {
    const answer: GeminiAnswer = {
      responseId: 'r-42',
      modelVersion: 'gemini-2.5-pro-002',
      candidates: [
        {
          index: 0,
          finishReason: FinishReason.STOP,
          content: { role: 'model', parts: [{ text: 'Thinking about it…', thought: true }, { text: 'Hello, ' }, { text: 'world.', thoughtSignature: SIG }] },
        },
      ],
      usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 20, thoughtsTokenCount: 30, cachedContentTokenCount: 40, totalTokenCount: 150 },
    };
    const expected: ChatCompletion & { usage: ChatUsage } = {
      id: 'chatcmpl-r-42',
      object: 'chat.completion',
      created: CREATED,
      model: 'gemini-2.5-pro-002',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello, world.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 100,
        completion_tokens: 50,
        total_tokens: 150,
        prompt_tokens_details: { cached_tokens: 40 },
        completion_tokens_details: { reasoning_tokens: 30 },
      },
    };
    expect(toChat(answer)).toStrictEqual(expected);
  });

  it('function calls: numbered ids, args as JSON text, content null without text, STOP → tool_calls', () => {
    const chat = toChat({ candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Paris', n: [1] } } }, { functionCall: { name: 'now' } }] }, finishReason: FinishReason.STOP }] });
    expect(chat).toStrictEqual({
      id: `chatcmpl-${CREATED}`,
      object: 'chat.completion',
      created: CREATED,
      model: 'gemini-2.5-flash',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              { id: 'call_0', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris","n":[1]}' } },
              { id: 'call_1', type: 'function', function: { name: 'now', arguments: '{}' } },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
    } satisfies ChatCompletion);
    // Text beside the calls stays the content.
    const both = toChat(answerOf([{ text: 'Checking.' }, { functionCall: { name: 'now', args: {} } }], FinishReason.STOP));
    expect(both.choices[0]!.message.content).toBe('Checking.');
    expect(both.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('an empty candidate (blocked or cut) is an empty answer with its finish reason', () => {
    const chat = toChat({ candidates: [{ finishReason: FinishReason.SAFETY }] });
    expect(chat.choices).toStrictEqual([{ index: 0, message: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: 'content_filter' }]);
    expect(chat).not.toHaveProperty('usage');
    expect(toChat({ candidates: [] }).choices[0]!.finish_reason).toBe('stop');
  });

  it('not a generateContent answer → null', () => {
    expect(geminiToChat({}, 'm', CREATED)).toBeNull();
    expect(geminiToChat({ error: { code: 400, message: 'x', status: 'INVALID_ARGUMENT' } }, 'm', CREATED)).toBeNull();
    expect(geminiToChat([], 'm', CREATED)).toBeNull();
    expect(geminiToChat('text', 'm', CREATED)).toBeNull();
    expect(geminiToChat({ candidates: {} }, 'm', CREATED)).toBeNull();
  });
});

describe('geminiFinishReason', () => {
  it.each<[unknown, string, string]>([
    [FinishReason.STOP, 'stop', 'tool_calls'],
    [FinishReason.MAX_TOKENS, 'length', 'length'],
    [FinishReason.SAFETY, 'content_filter', 'content_filter'],
    [FinishReason.RECITATION, 'content_filter', 'content_filter'],
    [FinishReason.BLOCKLIST, 'content_filter', 'content_filter'],
    [FinishReason.PROHIBITED_CONTENT, 'content_filter', 'content_filter'],
    [FinishReason.SPII, 'content_filter', 'content_filter'],
    [FinishReason.IMAGE_SAFETY, 'content_filter', 'content_filter'],
    [FinishReason.OTHER, 'stop', 'tool_calls'],
    [FinishReason.MALFORMED_FUNCTION_CALL, 'stop', 'tool_calls'],
    [undefined, 'stop', 'tool_calls'],
    [42, 'stop', 'tool_calls'],
    // Looked up by own keys only: an inherited name is an unknown reason.
    ['constructor', 'stop', 'tool_calls'],
    ['toString', 'stop', 'tool_calls'],
    ['__proto__', 'stop', 'tool_calls'],
  ])('%s → %s (with calls: %s)', (reason, plain, withCalls) => {
    expect(geminiFinishReason(reason, false)).toBe(plain);
    expect(geminiFinishReason(reason, true)).toBe(withCalls);
  });
});

describe('geminiUsage', () => {
  it('thinking tokens are completion tokens (and reasoning tokens); cached tokens are within the prompt', () => {
    const meta: GenerateContentResponseUsageMetadata = { promptTokenCount: 100, candidatesTokenCount: 20, thoughtsTokenCount: 30, cachedContentTokenCount: 40, totalTokenCount: 150 };
    expect(geminiUsage(meta)).toStrictEqual({
      prompt_tokens: 100,
      completion_tokens: 50,
      total_tokens: 150,
      prompt_tokens_details: { cached_tokens: 40 },
      completion_tokens_details: { reasoning_tokens: 30 },
    } satisfies ChatUsage);
  });

  it('absent counts are 0; cached is at most the prompt; odd counts are 0', () => {
    expect(geminiUsage({ promptTokenCount: 7 })).toStrictEqual({
      prompt_tokens: 7,
      completion_tokens: 0,
      total_tokens: 7,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(geminiUsage({ promptTokenCount: 5, cachedContentTokenCount: 9, candidatesTokenCount: -3, thoughtsTokenCount: 1.5 })).toMatchObject({
      prompt_tokens: 5,
      completion_tokens: 0,
      prompt_tokens_details: { cached_tokens: 5 },
    });
  });

  it('no usage without a promptTokenCount', () => {
    expect(geminiUsage(undefined)).toBeNull();
    expect(geminiUsage({ candidatesTokenCount: 3 })).toBeNull();
    expect(geminiUsage([1])).toBeNull();
  });
});

describe('geminiEmbeddings', () => {
  const answer: { embeddings: ContentEmbedding[] } = { embeddings: [{ values: [0.1, -0.25, 3] }, { values: [1e-8, 0] }] };

  it('floats as they are, in order, with the model', () => {
    expect(geminiEmbeddings(answer, 'gemini-embedding-001', false)).toStrictEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.1, -0.25, 3] },
        { object: 'embedding', index: 1, embedding: [1e-8, 0] },
      ],
      model: 'gemini-embedding-001',
    });
  });

  it('base64: little-endian float32 bytes', () => {
    const out = geminiEmbeddings(answer, 'e', true) as unknown as CreateEmbeddingResponse;
    const bytes = Buffer.from(out.data[0]!.embedding as unknown as string, 'base64');
    expect(bytes).toHaveLength(12);
    expect([bytes.readFloatLE(0), bytes.readFloatLE(4), bytes.readFloatLE(8)]).toEqual([Math.fround(0.1), -0.25, 3]);
  });

  it('entries without numbers give empty vectors; not an answer → null', () => {
    expect(geminiEmbeddings({ embeddings: [{}, { values: [1, 'x', null, 2] }, 'junk'] }, 'e', false)).toMatchObject({
      data: [{ embedding: [] }, { embedding: [1, 2] }, { embedding: [] }],
    });
    expect(geminiEmbeddings({}, 'e', false)).toBeNull();
    expect(geminiEmbeddings({ error: { code: 400 } }, 'e', true)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Stream: streamGenerateContent?alt=sse → chat chunks
// ---------------------------------------------------------------------------------------------

const MODEL = 'gemini-3-pro-preview';
const usage1: GenerateContentResponseUsageMetadata = { promptTokenCount: 10, candidatesTokenCount: 1, thoughtsTokenCount: 30, totalTokenCount: 41 };
const usageLast: GenerateContentResponseUsageMetadata = { promptTokenCount: 10, candidatesTokenCount: 20, thoughtsTokenCount: 30, cachedContentTokenCount: 4, totalTokenCount: 60 };
const ev = (parts: Part[], finishReason?: FinishReason, usageMetadata?: GenerateContentResponseUsageMetadata): GeminiAnswer => ({
  ...answerOf(parts, finishReason, usageMetadata),
  modelVersion: 'gemini-3-pro-preview-11-2025',
  responseId: 'resp-1',
});
const fullStream: GeminiAnswer[] = [
  ev([{ text: '**Planning the answer**', thought: true }], undefined, { promptTokenCount: 10, totalTokenCount: 10 }),
  ev([{ text: 'Hello' }], undefined, usage1),
  ev([{ text: ', "world" \\ é 中\n' }], undefined, usage1),
  ev([{ functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: SIG }, { functionCall: { name: 'time', args: { tz: 'UTC' } } }], undefined, usage1),
  ev([{ functionCall: { name: 'now' } }], FinishReason.STOP, usageLast),
];

function convert(events: readonly unknown[], created = CREATED): { outs: string[]; end: string } {
  const c = new GeminiChunks(MODEL, created);
  const outs = events.map((e) => c.event(JSON.stringify(e)));
  return { outs, end: c.end() };
}

/** The `data:` values of chat SSE text, checking the framing (`data: …\n\n` only). */
function dataLines(text: string): string[] {
  expect(text).toMatch(/^(data: [^\n]+\n\n)*$/);
  return text === '' ? [] : text.slice(0, -2).split('\n\n').map((l) => l.slice('data: '.length));
}

const head = { id: 'chatcmpl-resp-1', object: 'chat.completion.chunk', created: CREATED, model: MODEL } as const;
function chunk(delta: ChatCompletionChunk.Choice['delta'], finish: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk {
  return { ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
}
const canonicalText = (t: string): string =>
  `{"id":"chatcmpl-resp-1","object":"chat.completion.chunk","created":${CREATED},"model":"${MODEL}","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"logprobs":null,"finish_reason":null}]}`;

/** The chat SSE text through the openai SDK's own reader and accumulator. */
async function foldWithSdk(text: string): Promise<ChatCompletion> {
  const stream = Stream.fromSSEResponse<ChatCompletionChunk>(new Response(text), new AbortController());
  return ChatCompletionStream.fromReadableStream(stream.toReadableStream()).finalChatCompletion();
}

describe('GeminiChunks', () => {
  it('a whole stream: role first, canonical text chunks, one chunk per call, finish; end() the last usage and [DONE]', () => {
    const { outs, end } = convert(fullStream);
    // The first event carries only a thought: the role chunk alone.
    expect(dataLines(outs[0]!).map((l) => JSON.parse(l) as unknown)).toStrictEqual([chunk({ role: 'assistant', content: '' })]);
    expect(outs[2]).toBe(`data: ${canonicalText(', "world" \\ é 中\n')}\n\n`);

    const lines = dataLines(outs.join('') + end);
    expect(lines.at(-1)).toBe('[DONE]');
    expect(lines[1]).toBe(canonicalText('Hello'));
    // The gateway's fast path reads the text chunks without a parse, and nothing else as text.
    expect(textOnlyChunk(lines[1]!)).toBe('Hello');
    expect(textOnlyChunk(lines[2]!)).toBe(', "world" \\ é 中\n');
    for (const l of [lines[0], ...lines.slice(3, -1)]) expect(textOnlyChunk(l!)).toBeNull();

    const usageChunk: Omit<ChatCompletionChunk, 'usage'> & { usage: ChatUsage } = {
      ...head,
      choices: [],
      // The last usageMetadata, not the sum; thinking counted in the completion.
      usage: { prompt_tokens: 10, completion_tokens: 50, total_tokens: 60, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 30 } },
    };
    expect(lines.slice(0, -1).map((l) => JSON.parse(l) as unknown)).toStrictEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hello' }),
      chunk({ content: ', "world" \\ é 中\n' }),
      chunk({ tool_calls: [{ index: 0, id: `call_0__ts__${SIG}`, type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_1', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } }] }),
      chunk({ tool_calls: [{ index: 2, id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk,
    ]);
    expect(end).toBe(`data: ${JSON.stringify(usageChunk)}\n\ndata: [DONE]\n\n`);
  });

  it('the openai SDK folds the chat stream into the answer', async () => {
    const { outs, end } = convert(fullStream);
    const answer = await foldWithSdk(outs.join('') + end);
    expect(answer.id).toBe('chatcmpl-resp-1');
    expect(answer.model).toBe(MODEL);
    expect(answer.choices).toHaveLength(1);
    expect(answer.choices[0]!.finish_reason).toBe('tool_calls');
    expect(answer.choices[0]!.message.content).toBe('Hello, "world" \\ é 中\n');
    expect(answer.choices[0]!.message.tool_calls?.map((t) => (t.type === 'function' ? [t.id, t.function.name, t.function.arguments] : null))).toEqual([
      [`call_0__ts__${SIG}`, 'weather', '{"city":"Paris"}'],
      ['call_1', 'time', '{"tz":"UTC"}'],
      ['call_2', 'now', '{}'],
    ]);
    expect(answer.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 50, total_tokens: 60, prompt_tokens_details: { cached_tokens: 4 } });
  });

  it('end() without a finish reason is "" (the stream was cut); a finish without usage ends with [DONE] alone', () => {
    expect(convert(fullStream.slice(0, 4)).end).toBe('');
    expect(convert([]).end).toBe('');
    expect(convert([{ candidates: [{ content: { role: 'model', parts: [{ text: 'x' }] }, finishReason: FinishReason.FINISH_REASON_UNSPECIFIED }] }]).end).toBe('');
    const { outs, end } = convert([{ candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, finishReason: FinishReason.STOP }] }]);
    // No responseId: the id is made of the creation time.
    expect(dataLines(outs[0]!).map((l) => JSON.parse(l) as unknown)).toStrictEqual([
      { ...chunk({ role: 'assistant', content: '' }), id: `chatcmpl-${CREATED}` },
      { ...chunk({ content: 'Hi' }), id: `chatcmpl-${CREATED}` },
      { ...chunk({}, 'stop'), id: `chatcmpl-${CREATED}` },
    ]);
    expect(end).toBe('data: [DONE]\n\n');
  });

  it.each([
    [FinishReason.MAX_TOKENS, 'length'],
    [FinishReason.SAFETY, 'content_filter'],
    [FinishReason.STOP, 'stop'],
    [FinishReason.OTHER, 'stop'],
  ] as const)('finishReason %s → finish_reason %s', (reason, finish) => {
    const { outs, end } = convert([ev([{ text: 'Hi' }]), ev([], reason, usageLast)]);
    expect(dataLines(outs[1]!).map((l) => JSON.parse(l) as unknown)).toStrictEqual([chunk({}, finish)]);
    expect(dataLines(end)).toHaveLength(2);
  });

  it('an error event → a chat error event the openai SDK throws', async () => {
    const err = { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } };
    const { outs, end } = convert([fullStream[1], err]);
    expect(outs[1]).toBe('data: {"error":{"message":"The model is overloaded. Please try again later.","type":"api_error","param":null,"code":null}}\n\n');
    expect(end).toBe('');
    // As a first event too (no role chunk before it), and with a bare error.
    expect(convert([err]).outs[0]).toBe(outs[1]);
    expect(convert([{ error: {} }]).outs[0]).toBe('data: {"error":{"message":"The provider reported an error.","type":"api_error","param":null,"code":null}}\n\n');
    await expect(foldWithSdk(outs.join(''))).rejects.toThrow(APIError);
    await expect(foldWithSdk(outs.join(''))).rejects.toThrow(/overloaded/);
  });

  it('no data, not JSON, not an object: nothing', () => {
    const c = new GeminiChunks(MODEL, CREATED);
    expect(c.event(null)).toBe('');
    expect(c.event('{"candidates":')).toBe('');
    expect(c.event('[{"candidates":[]}]')).toBe('');
    expect(c.event('"x"')).toBe('');
    expect(c.end()).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/** A Google API error body. */
function googleError(code: number, status: string, message: string, details: Json[]): Buffer {
  return Buffer.from(JSON.stringify({ error: { code, message, status, details } }));
}
const keyInvalid = googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
  { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
  { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
]);
const exhausted = (retryDelay?: unknown): Buffer =>
  googleError(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota.', [
    { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
    { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
    ...(retryDelay === undefined ? [] : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay }]),
  ]);

describe('isKeyInvalid', () => {
  it('a 400 with reason API_KEY_INVALID; nothing else', () => {
    expect(isKeyInvalid(keyInvalid)).toBe(true);
    expect(isKeyInvalid(googleError(400, 'INVALID_ARGUMENT', 'API key not valid.', []))).toBe(false);
    expect(isKeyInvalid(googleError(400, 'INVALID_ARGUMENT', 'Bad request', [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [] }]))).toBe(false);
    expect(isKeyInvalid(exhausted('17s'))).toBe(false);
    expect(isKeyInvalid(Buffer.from('API_KEY_INVALID'))).toBe(false);
    expect(isKeyInvalid(Buffer.from(''))).toBe(false);
    expect(isKeyInvalid(Buffer.from('{"error":"API_KEY_INVALID"}'))).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it.each<[unknown, number | null]>([
    ['17s', 17_000],
    ['1.5s', 1_500],
    ['0.250s', 250],
    ['0s', 0],
    ['59.999999999s', 60_000],
    [undefined, null],
    ['17', null],
    ['17ms', null],
    ['-1s', null],
    ['1.5.2s', null],
    ['.5s', null],
    ['s', null],
    ['', null],
    [17, null],
    [{ seconds: 17 }, null],
  ])('RetryInfo.retryDelay %j → %j ms', (delay, ms) => {
    expect(retryDelayMs(exhausted(delay))).toBe(ms);
  });

  it('not a Google error body → null', () => {
    expect(retryDelayMs(Buffer.from('retryDelay: 17s'))).toBeNull();
    expect(retryDelayMs(Buffer.from('{"error":{"details":{"retryDelay":"17s"}}}'))).toBeNull();
    expect(retryDelayMs(Buffer.from('[{"error":{}}]'))).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// inEncoding: the encoding the client asked for, whatever the provider returned
// ---------------------------------------------------------------------------------------------

describe('inEncoding', () => {
  const floats = { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.25, 3.3e-5, 1e30] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 2, total_tokens: 2 } };
  const asBase64 = (v: number[]): string => Buffer.from(new Float32Array(v).buffer).toString('base64');

  it('floats → base64 (little-endian float32) when base64 is asked; everything else kept', () => {
    const before = structuredClone(floats);
    const out = inEncoding(floats, 'base64') as typeof floats & { data: Array<{ embedding: string }> };
    expect(out).toStrictEqual({ ...floats, data: [{ object: 'embedding', index: 0, embedding: asBase64(floats.data[0]!.embedding) }] });
    const bytes = Buffer.from(out.data[0]!.embedding, 'base64');
    expect(bytes).toHaveLength(16);
    expect([0, 4, 8, 12].map((o) => bytes.readFloatLE(o))).toEqual(floats.data[0]!.embedding.map(Math.fround));
    expect(floats).toStrictEqual(before);
  });

  it.each([undefined, 'float', 'other'])('base64 → floats when %s is asked', (encoding) => {
    const b64 = { ...floats, data: [{ object: 'embedding', index: 0, embedding: asBase64([0.5, -2, 0.1]) }] };
    expect(inEncoding(b64, encoding)).toStrictEqual({ ...floats, data: [{ object: 'embedding', index: 0, embedding: [0.5, -2, Math.fround(0.1)] }] });
  });

  it('values round trip through base64 within float32 precision, at every length', () => {
    for (let n = 1; n <= 40; n++) {
      Buffer.from('x'.repeat(n % 7)); // move the pool offset around between conversions
      const v = Array.from({ length: n }, (_, i) => Math.sin(i + n) * 10 ** ((i % 9) - 4));
      const there = inEncoding({ data: [{ embedding: v }] }, 'base64') as { data: Array<{ embedding: string }> };
      const back = inEncoding(there, 'float') as { data: Array<{ embedding: number[] }> };
      const got = back.data[0]!.embedding;
      expect(got).toEqual(v.map(Math.fround));
      got.forEach((x, i) => expect(Math.abs(x - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -24));
    }
  });

  it('nothing to change → null', () => {
    expect(inEncoding(floats, 'float')).toBeNull();
    expect(inEncoding(floats, undefined)).toBeNull();
    expect(inEncoding({ data: [{ embedding: asBase64([1]) }] }, 'base64')).toBeNull();
    expect(inEncoding({ data: [] }, 'base64')).toBeNull();
    expect(inEncoding({ object: 'list' }, 'base64')).toBeNull();
    expect(inEncoding([floats], 'base64')).toBeNull();
    expect(inEncoding(null, 'float')).toBeNull();
    // Entries that are not objects are left as they are beside converted ones.
    expect(inEncoding({ data: [null, { embedding: [1] }] }, 'base64')).toStrictEqual({ data: [null, { embedding: asBase64([1]) }] });
  });
});

// ---------------------------------------------------------------------------------------------
// The adapter, and an openai client reading what it answers
// ---------------------------------------------------------------------------------------------

function sourceOf(chunks: readonly Buffer[]): ByteSource {
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
function cut(bytes: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += n) out.push(bytes.subarray(i, i + n));
  return out;
}

describe('adapterFor (gemini)', () => {
  const geminiP = { type: 'gemini', model: MODEL } as ProviderConfig;

  it('chat: the payload, the answer, the stream however cut (Gemini frames events with CRLF), the failures', async () => {
    const adapter = adapterFor(geminiP, '/chat/completions', base as unknown as Json)!;
    expect(adapter.payload).toStrictEqual(chatToGeminiRequest(base as unknown as Json));
    const answer = adapter.answer(answerOf([{ text: 'ok' }], FinishReason.STOP)) as unknown as ChatCompletion;
    expect(answer.choices[0]!.message.content).toBe('ok');
    expect(answer.model).toBe(MODEL);
    expect(Math.abs(answer.created - Date.now() / 1000)).toBeLessThan(5);
    expect(adapter.answer({ error: { code: 500 } })).toBeNull();

    const bytes = Buffer.from(fullStream.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join(''));
    const whole = await collect(adapter.stream(sourceOf([bytes])));
    for (const n of [1, 5, 64]) expect(await collect(adapter.stream(sourceOf(cut(bytes, n))))).toBe(whole);
    const lines = dataLines(whole);
    expect(lines).toHaveLength(9); // role, 2 texts, 3 calls, finish, usage, [DONE]
    expect(textOnlyChunk(lines[1]!)).toBe('Hello');
    expect(lines.at(-1)).toBe('[DONE]');
    // Cut before any finish reason: no [DONE].
    expect(dataLines(await collect(adapter.stream(sourceOf([bytes.subarray(0, bytes.indexOf('"now"'))]))))).not.toContain('[DONE]');

    expect(adapter.refusesGateway!(400, keyInvalid)).toBe(true);
    expect(adapter.refusesGateway!(400, googleError(400, 'INVALID_ARGUMENT', 'Bad', []))).toBe(false);
    expect(adapter.refusesGateway!(403, keyInvalid)).toBe(false);
    expect(adapter.retryAfterMs!(exhausted('17s'))).toBe(17_000);
    expect(adapter.retryAfterMs!(exhausted())).toBeNull();
  });

  it('chat: a request Gemini cannot take throws Untranslatable', () => {
    const chat = { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] };
    expect(() => adapterFor(geminiP, '/chat/completions', chat)).toThrow(Untranslatable);
    expect(() => adapterFor(geminiP, '/embeddings', { model: 'e', input: [[1, 2]] })).toThrow(Untranslatable);
  });

  it('embeddings: batchEmbedContents payload, answered in the encoding asked; an openai client reads it', async () => {
    const values = [0.1, -0.2, 0.3];
    const upstream = { embeddings: [{ values }, { values: [1, 2, 3] }] };
    const seen: Json[] = [];
    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: async (_url, init) => {
        const body = JSON.parse(String(init?.body)) as Json;
        seen.push(body);
        const adapter = adapterFor({ type: 'gemini', model: 'gemini-embedding-001' } as ProviderConfig, '/embeddings', body)!;
        expect(adapter.payload).toStrictEqual(embeddingsToGemini(body, 'gemini-embedding-001'));
        expect(adapter.stream(sourceOf([]))).toBeDefined();
        return new Response(JSON.stringify(adapter.answer(upstream)), { headers: { 'content-type': 'application/json' } });
      },
    });
    // The SDK asks for base64 by default and decodes it.
    const auto = await client.embeddings.create({ model: 'emb', input: ['a', 'b'] });
    expect(seen[0]!.encoding_format).toBe('base64');
    expect(auto.data.map((d) => d.embedding)).toEqual([values.map(Math.fround), [1, 2, 3]]);
    const asked = await client.embeddings.create({ model: 'emb', input: ['a', 'b'], encoding_format: 'float' });
    expect(asked.data.map((d) => d.embedding)).toEqual([values, [1, 2, 3]]);
  });

  it('embeddings: the stream is passed as it is', () => {
    const adapter = adapterFor(geminiP, '/embeddings', { model: 'e', input: 'x' })!;
    const src = sourceOf([]);
    expect(adapter.stream(src)).toBe(src);
  });

  it('an OpenAI-type provider that ignores encoding_format: inEncoding answers what the client asked', async () => {
    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: async (_url, init) => {
        const body = JSON.parse(String(init?.body)) as Json;
        const floatsAnswer = { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 2.5] }], model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } };
        return new Response(JSON.stringify(inEncoding(floatsAnswer, body.encoding_format) ?? floatsAnswer), { headers: { 'content-type': 'application/json' } });
      },
    });
    const res = await client.embeddings.create({ model: 'm', input: 'x' });
    expect(res.data[0]!.embedding).toEqual([Math.fround(0.1), 2.5]);
  });
});

describe('a prompt Gemini blocked (promptFeedback.blockReason, no candidates)', () => {
  it('is an answer that stopped on the content filter, as JSON and as a stream', () => {
    const json = { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 } };
    const chat = geminiToChat(json, 'gemini-3-pro', 1) as unknown as { choices: Array<{ message: { content: string }; finish_reason: string }>; usage: { prompt_tokens: number } };
    expect(chat.choices[0]).toMatchObject({ message: { content: '' }, finish_reason: 'content_filter' });
    expect(chat.usage.prompt_tokens).toBe(7);
    const chunks = new GeminiChunks('gemini-3-pro', 1);
    const out = chunks.event(JSON.stringify(json)) + chunks.end();
    expect(out).toContain('"finish_reason":"content_filter"');
    expect(out.trim().endsWith('data: [DONE]')).toBe(true);
    expect(geminiToChat({ promptFeedback: {} }, 'm', 1)).toBeNull();
  });
});
