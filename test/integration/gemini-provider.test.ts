import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';

/**
 * Providers of `type: "gemini"` (SPEC §7): chat to `generateContent` / `streamGenerateContent`,
 * tool calls both ways (thought signatures carried in the call id), embeddings to
 * `batchEmbedContents` in the encoding the client asked for, Google's failures in its own terms.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-gemini-provider-key';

const geminiProvider = (name: string, extra: Record<string, unknown> = {}) =>
  provider(name, fx.double.url(name).replace(/\/v1$/, '/v1beta'), { type: 'gemini', api_key: `gm-${name}-secret-key`, model: 'gemini-3-pro', ...extra });
const start = (providers: unknown[]) => fx.gateway({ _global: { api_key: KEY, default_retry: 0 }, gem: { providers } });
const openai = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
const received = (p: string, i = 0) => fx.double.received(p)[i]!;
const body = (p: string, i = 0) => received(p, i).body as Record<string, unknown>;

describe('chat clients on a Gemini provider', () => {
  it('a chat request becomes generateContent; the answer comes back as chat with usage', async () => {
    const gw = await start([geminiProvider('g')]);
    const r = await openai(gw.url).chat.completions.create({
      model: 'gem', max_tokens: 100, temperature: 0.5, top_p: 0.9, stop: ['END'],
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
      response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object' } } },
    });
    expect(r.choices[0]?.message.content).toBe('Hello from g');
    expect(r.usage?.total_tokens).toBeGreaterThan(0);
    expect(received('g').path).toBe('/g/v1beta/models/gemini-3-pro:generateContent');
    expect(received('g').headers['x-goog-api-key']).toBe('gm-g-secret-key');
    expect(received('g').headers.authorization).toBeUndefined();
    expect(body('g')).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }] }],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { maxOutputTokens: 100, temperature: 0.5, topP: 0.9, stopSequences: ['END'], responseMimeType: 'application/json', responseJsonSchema: { type: 'object' } },
    });
  });

  it('streams from streamGenerateContent?alt=sse; usage is the last usageMetadata', async () => {
    const gw = await start([geminiProvider('g')]);
    const stream = await openai(gw.url).chat.completions.create({ model: 'gem', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('Hello from g');
    expect(received('g').path).toBe('/g/v1beta/models/gemini-3-pro:streamGenerateContent?alt=sse');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
  });

  it('tool calls both ways: functionCall → tool_calls (the thought signature rides in the id), tool results as functionResponse named after the call', async () => {
    const gw = await start([geminiProvider('g')]);
    fx.double.script('g', { toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}' }, thoughtSignature: 'c2lnLTEyMw==' }, { content: 'Sunny.' });
    const c = openai(gw.url);
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await c.chat.completions.create({ model: 'gem', messages, tools, tool_choice: 'required' });
    const made = first.choices[0]!.message.tool_calls![0]!;
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(made).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(made.id).toContain('c2lnLTEyMw==');
    expect(body('g')).toMatchObject({
      tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } } } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
    });
    messages.push(first.choices[0]!.message, { role: 'tool', tool_call_id: made.id, content: '22 °C' });
    const second = await c.chat.completions.create({ model: 'gem', messages, tools });
    expect(second.choices[0]?.message.content).toBe('Sunny.');
    expect(body('g', 1).contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2lnLTEyMw==' }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { result: '22 °C' } } }] },
    ]);
  });

  it('MAX_TOKENS is length', async () => {
    const gw = await start([geminiProvider('g')]);
    fx.double.script('g', { finishReason: 'length' });
    const r = await openai(gw.url).chat.completions.create({ model: 'gem', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0]?.finish_reason).toBe('length');
  });
});

describe('embeddings', () => {
  it('batchEmbedContents, answered in the encoding the openai client asks for (base64)', async () => {
    const gw = await start([geminiProvider('g')]);
    const e = await openai(gw.url).embeddings.create({ model: 'gem', input: ['a', 'b'] });
    expect(e.data.map((d) => d.index)).toEqual([0, 1]);
    expect(e.data[1]!.embedding.map((v) => Math.round(v * 10) / 10)).toEqual([0.1, 0.2, 0.3, 1]);
    expect(received('g').path).toBe('/g/v1beta/models/gemini-3-pro:batchEmbedContents');
    expect(body('g')).toEqual({ requests: [
      { model: 'models/gemini-3-pro', content: { parts: [{ text: 'a' }] } },
      { model: 'models/gemini-3-pro', content: { parts: [{ text: 'b' }] } },
    ] });
    const floats = await openai(gw.url).embeddings.create({ model: 'gem', input: 'a', encoding_format: 'float' });
    expect(floats.data[0]!.embedding).toHaveLength(4);
  });
});

describe('Google\'s failures in its own terms', () => {
  it('400 API_KEY_INVALID switches provider like a 401; INVALID_ARGUMENT goes back to the client', async () => {
    const gw = await start([geminiProvider('g'), geminiProvider('h', { priority: 2 })]);
    fx.double.script('g', { geminiError: { status: 400, reason: 'API_KEY_INVALID' } });
    const r = await openai(gw.url).chat.completions.create({ model: 'gem', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from h');
    fx.double.script('g', { status: 400 });
    fx.double.script('h', { status: 400 });
    const e = await openai(gw.url).chat.completions.create({ model: 'gem', messages: [{ role: 'user', content: 'x' }] }).catch((err: unknown) => err);
    expect((e as { status: number }).status).toBe(400);
    expect(String((e as Error).message)).toContain('says 400');
  });

  it('429 RESOURCE_EXHAUSTED: its retryDelay is the cooldown; 503 UNAVAILABLE is retried', async () => {
    const gw = await start([geminiProvider('g', { retry: 1 }), geminiProvider('h', { priority: 2 })]);
    fx.double.script('g', { geminiError: { status: 429, retryDelay: '17s' } });
    expect((await openai(gw.url).chat.completions.create({ model: 'gem', messages: [{ role: 'user', content: 'x' }] })).choices[0]?.message.content).toBe('Hello from h');
    const until = gw.state.health.coolingUntil(gw.state.config().providers.get('gem/g')!.id, Date.now());
    expect(until - Date.now()).toBeGreaterThan(15_000);
    expect(until - Date.now()).toBeLessThanOrEqual(17_000);
    const gw2 = await start([geminiProvider('g', { retry: 1 })]);
    fx.double.script('g', { status: 503 }, { content: 'after 503' });
    expect((await openai(gw2.url).chat.completions.create({ model: 'gem', messages: [{ role: 'user', content: 'x' }] })).choices[0]?.message.content).toBe('after 503');
  });

  it('legacy completions are not served by Gemini: 400 endpoint_not_supported', async () => {
    const gw = await start([geminiProvider('g')]);
    await expect(openai(gw.url).completions.create({ model: 'gem', prompt: 'x' })).rejects.toMatchObject({ status: 400 });
  });
});

describe('embeddings from an OpenAI-compatible provider that ignores encoding_format', () => {
  it('are converted to the encoding the client asked for', async () => {
    const gw = await fx.gateway({ _global: { api_key: KEY, default_retry: 0 }, emb: { providers: [provider('o', fx.double.url('o'))] } });
    fx.double.script('o', { ignoreEncoding: true }, { ignoreEncoding: true });
    const e = await openai(gw.url).embeddings.create({ model: 'emb', input: ['a', 'b'] });
    expect((body('o') as { encoding_format: string }).encoding_format).toBe('base64');
    expect(e.data[1]!.embedding.map((v) => Math.round(v * 10) / 10)).toEqual([0.1, 0.2, 0.3, 1]);
    const raw = await fetch(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'emb', input: 'a', encoding_format: 'base64' }) });
    expect(typeof ((await raw.json()) as { data: Array<{ embedding: unknown }> }).data[0]!.embedding).toBe('string');
  });
});
