import { ApiError, FinishReason, GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import { describe, expect, it } from 'vitest';
import type { Behavior } from '../../tools/upstream-double.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * The upstream double speaks Google's Gemini API (generativelanguage v1beta,
 * `POST /<provider>/v1beta/models/<model>:<action>`) as the official `@google/genai` SDK reads it:
 * generateContent, function calls with thought signatures, the data-only SSE stream, batch
 * embeddings, errors in Google's shape.
 */
const fx = useUpstreamDouble();

// The SDK builds `<baseUrl>/<apiVersion>/models/<model>:<action>`; it retries nothing unless given retryOptions.
const client = () => new GoogleGenAI({ apiKey: 'gk', httpOptions: { baseUrl: fx.double.url('g').replace(/\/v1$/, ''), apiVersion: 'v1beta' } });
const model = 'gemini-double';
const ask = { model, contents: 'hi' };
const weather = { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' };
const geminiUrl = (action: string) => `${fx.double.url('g').replace(/\/v1$/, '/v1beta')}/models/${model}:${action}`;

/** The data events of a stream as sent, read on the wire. */
async function wire(b: Behavior) {
  fx.double.script('g', b);
  const r = await call(geminiUrl('streamGenerateContent?alt=sse'), { body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] } });
  return { text: r.text, events: r.text.split('\r\n\r\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')) as GenerateContentResponse) };
}

describe('models.generateContent', () => {
  it('answers text with STOP, usageMetadata, modelVersion; the request is recorded with x-goog-api-key', async () => {
    fx.double.script('g', { content: 'Bonjour' });
    const r = await client().models.generateContent(ask);
    expect(r.text).toBe('Bonjour');
    expect(r.candidates).toEqual([{ content: { role: 'model', parts: [{ text: 'Bonjour' }] }, finishReason: FinishReason.STOP, index: 0 }]);
    const prompt = r.usageMetadata?.promptTokenCount;
    expect(r.usageMetadata).toEqual({ promptTokenCount: expect.any(Number), candidatesTokenCount: 3, totalTokenCount: prompt! + 3 });
    expect(r.modelVersion).toBe(model);
    expect(r.responseId).toMatch(/^double/);
    const got = fx.double.received('g')[0]!;
    expect(got.path).toBe(`/g/v1beta/models/${model}:generateContent`);
    expect(got.headers['x-goog-api-key']).toBe('gk');
    expect(got.body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
  });

  it('answers functionCall parts (args parsed) with the thoughtSignature, which the next request sends back', async () => {
    fx.double.script('g', { toolCall: weather, thoughtSignature: 'sig-gemini-1' });
    const r = await client().models.generateContent(ask);
    expect(r.functionCalls).toEqual([{ name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }]);
    expect(r.candidates?.[0]?.finishReason).toBe('STOP');
    const parts = r.candidates![0]!.content!.parts!;
    expect(parts).toEqual([{ functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: 'sig-gemini-1' }]);
    await client().models.generateContent({
      model,
      contents: [
        { role: 'user', parts: [{ text: 'hi' }] },
        { role: 'model', parts },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 21 } } }] },
      ],
    });
    const sent = fx.double.received('g')[1]!.body as { contents: Array<{ parts: Array<Record<string, unknown>> }> };
    expect(sent.contents[1]!.parts[0]).toMatchObject({ thoughtSignature: 'sig-gemini-1', functionCall: { name: 'get_weather' } });

    fx.double.script('g', { toolCallList: [{ name: 'f', arguments: '{"a":1}' }, { name: 'g', arguments: '{}' }], content: 'Let me look.' });
    const two = await client().models.generateContent(ask);
    expect(two.candidates![0]!.content!.parts).toEqual([{ text: 'Let me look.' }, { functionCall: { name: 'f', args: { a: 1 } } }, { functionCall: { name: 'g', args: {} } }]);
    expect(two.functionCalls?.map((c) => c.name)).toEqual(['f', 'g']);
  });

  it('MAX_TOKENS for length, SAFETY for content_filter; a given usageMetadata is laid over', async () => {
    fx.double.script('g', { finishReason: 'length', usageValue: { promptTokenCount: 7, candidatesTokenCount: 9, thoughtsTokenCount: 4, cachedContentTokenCount: 5 } });
    const r = await client().models.generateContent(ask);
    expect(r.candidates?.[0]?.finishReason).toBe(FinishReason.MAX_TOKENS);
    expect(r.usageMetadata).toEqual({ promptTokenCount: 7, candidatesTokenCount: 9, thoughtsTokenCount: 4, cachedContentTokenCount: 5, totalTokenCount: 20 });
    fx.double.script('g', { finishReason: 'content_filter' });
    expect((await client().models.generateContent(ask)).candidates?.[0]?.finishReason).toBe(FinishReason.SAFETY);
  });
});

describe('models.generateContentStream', () => {
  it('collects the text; usageMetadata is cumulative, the last chunk counts and carries the finishReason', async () => {
    fx.double.script('g', { content: 'Hello there', chunkDelayMs: 5 });
    const chunks: GenerateContentResponse[] = [];
    for await (const c of await client().models.generateContentStream(ask)) chunks.push(c);
    expect(chunks.map((c) => c.text)).toEqual(['Hell', 'o th', 'ere']);
    expect(chunks.map((c) => c.usageMetadata?.candidatesTokenCount)).toEqual([1, 2, 3]);
    expect(chunks.map((c) => c.candidates?.[0]?.finishReason)).toEqual([undefined, undefined, 'STOP']);
    expect(chunks.at(-1)!.usageMetadata).toEqual({ promptTokenCount: expect.any(Number), candidatesTokenCount: 3, totalTokenCount: expect.any(Number) });
    expect(fx.double.received('g')[0]!.path).toBe(`/g/v1beta/models/${model}:streamGenerateContent?alt=sse`);
  });

  it('on the wire: data-only events ending \\r\\n\\r\\n, no event: lines, no [DONE]; function calls one a chunk', async () => {
    const { text, events } = await wire({ toolCallList: [weather, { name: 'g', arguments: '{"b":[1,2]}' }], thoughtSignature: 's' });
    expect(text).toMatch(/^data: \{"candidates":/);
    expect(text.endsWith('}\r\n\r\n')).toBe(true);
    expect(text).not.toContain('event:');
    expect(text).not.toContain('[DONE]');
    expect(events.map((e) => e.candidates![0]!.content!.parts)).toEqual([
      [{ functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: 's' }],
      [{ functionCall: { name: 'g', args: { b: [1, 2] } }, thoughtSignature: 's' }],
    ]);
    expect(events.map((e) => e.candidates![0]!.finishReason)).toEqual([undefined, 'STOP']);
  });

  it('a truncated stream has no finishReason; a dropped one makes the SDK throw', async () => {
    const { events } = await wire({ truncate: true, chunks: 2 });
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.candidates![0]!.finishReason === undefined)).toBe(true);
    fx.double.script('g', { dropAfterChunks: 1 });
    const seen: string[] = [];
    const run = async () => {
      for await (const c of await client().models.generateContentStream(ask)) seen.push(c.text ?? '');
    };
    await expect(run()).rejects.toThrow('terminated');
    expect(seen).toEqual(['Hell']);
  });
});

describe('models.embedContent', () => {
  it('several contents go to :batchEmbedContents, one embedding each', async () => {
    const r = await client().models.embedContent({ model: 'text-embedding-004', contents: ['a', 'b', 'c'] });
    expect(r.embeddings).toEqual([{ values: [0.1, 0.2, 0.3, 0] }, { values: [0.1, 0.2, 0.3, 1] }, { values: [0.1, 0.2, 0.3, 2] }]);
    const got = fx.double.received('g')[0]!;
    expect(got.path).toBe('/g/v1beta/models/text-embedding-004:batchEmbedContents');
    expect(got.body).toEqual({ requests: ['a', 'b', 'c'].map((t) => ({ content: { parts: [{ text: t }], role: 'user' }, model: 'models/text-embedding-004' })) });
  });
});

describe('errors in Google\'s shape', () => {
  const fail = async (b: Behavior) => {
    fx.double.script('g', b);
    const e = await client().models.generateContent(ask).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    return { status: (e as ApiError).status, body: JSON.parse((e as ApiError).message) as unknown };
  };

  it('429 RESOURCE_EXHAUSTED with RetryInfo, not retried; 400 with ErrorInfo; plain statuses', async () => {
    expect(await fail({ geminiError: { status: 429 } })).toEqual({
      status: 429,
      body: { error: { code: 429, message: 'upstream g says 429', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '17s' }] } },
    });
    expect(fx.double.received('g')).toHaveLength(1);
    expect(await fail({ geminiError: { status: 400 } })).toEqual({
      status: 400,
      body: { error: { code: 400, message: 'upstream g says 400', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } },
    });
    for (const [status, name] of [[403, 'PERMISSION_DENIED'], [404, 'NOT_FOUND'], [500, 'INTERNAL'], [503, 'UNAVAILABLE']] as const) {
      expect(await fail({ status })).toEqual({ status, body: { error: { code: status, message: `upstream g says ${status}`, status: name } } });
    }
    fx.double.script('g', { geminiError: { status: 429, retryDelay: '3s' } });
    await expect(client().models.generateContentStream(ask)).rejects.toMatchObject({ status: 429, message: expect.stringContaining('"retryDelay":"3s"') });
  });

  it('the OpenAI routes keep their own error shape', async () => {
    fx.double.script('g', { status: 400 });
    const r = await call(`${fx.double.url('g')}/chat/completions`, { body: { model: 'm', messages: [] } });
    expect(r.json).toMatchObject({ error: { message: 'upstream g says 400', type: 'upstream_error' } });
  });
});
