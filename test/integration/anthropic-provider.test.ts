import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * Providers of `type: "anthropic"` (SPEC §7): chat (and Responses) clients translated to the
 * Messages API and back, streams included; `/v1/messages` clients passed through untranslated;
 * mixed with OpenAI providers in one model; only candidates for what they can serve.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-anthropic-provider-key';

const anthropicProvider = (name: string, extra: Record<string, unknown> = {}) =>
  provider(name, fx.double.url(name), { type: 'anthropic', api_key: `sk-ant-${name}-secret`, model: 'claude-upstream', ...extra });

const start = (models: Record<string, unknown>) => fx.gateway({ _global: { api_key: KEY, default_retry: 0 }, ...models });
const onlyAnthropic = (extra: Record<string, unknown> = {}) => start({ claude: { providers: [anthropicProvider('a', extra)] } });
const openai = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
const received = (p: string, i = 0) => fx.double.received(p)[i]!;
const body = (p: string, i = 0) => received(p, i).body as Record<string, unknown>;

describe('chat clients on an Anthropic provider', () => {
  it('a chat request is sent as a Messages request with Anthropic\'s headers; the answer comes back as chat', async () => {
    const gw = await onlyAnthropic({ default_max_tokens: 1000 });
    const r = await openai(gw.url).chat.completions.create({
      model: 'claude', temperature: 1.5, stop: 'END', user: 'u-1',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }],
    });
    expect(r.choices[0]?.message.content).toBe('Hello from a');
    expect(r.choices[0]?.finish_reason).toBe('stop');
    expect(r.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(received('a').path).toBe('/a/v1/messages');
    expect(received('a').headers['x-api-key']).toBe('sk-ant-a-secret');
    expect(received('a').headers['anthropic-version']).toBe('2023-06-01');
    expect(received('a').headers.authorization).toBeUndefined();
    expect(body('a')).toEqual({
      model: 'claude-upstream', max_tokens: 1000, system: 'Be brief.', temperature: 1, stop_sequences: ['END'], metadata: { user_id: 'u-1' },
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }],
    });
  });

  it('streams text to a chat client, with usage when asked', async () => {
    const gw = await onlyAnthropic();
    const stream = await openai(gw.url).chat.completions.create({ model: 'claude', stream: true, stream_options: { include_usage: true }, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('Hello from a');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(body('a')).toMatchObject({ stream: true, max_tokens: 50 });
  });

  it('tool calls both ways: tool_use → tool_calls, then tool messages → tool_result', async () => {
    const gw = await onlyAnthropic();
    fx.double.script('a', { toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'toolu_1' } }, { content: 'Sunny.' });
    const c = openai(gw.url);
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await c.chat.completions.create({ model: 'claude', messages, tools, tool_choice: 'required', parallel_tool_calls: false });
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    const callMade = first.choices[0]!.message.tool_calls![0]!;
    expect(callMade).toMatchObject({ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(body('a')).toMatchObject({
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    messages.push(first.choices[0]!.message, { role: 'tool', tool_call_id: 'toolu_1', content: '22 °C' });
    const second = await c.chat.completions.create({ model: 'claude', messages, tools });
    expect(second.choices[0]?.message.content).toBe('Sunny.');
    expect(body('a', 1).messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '22 °C' }] },
    ]);
  });

  it('a streamed tool call reaches a chat client as tool_calls deltas', async () => {
    const gw = await onlyAnthropic();
    fx.double.script('a', { toolCall: { name: 'get_weather', arguments: '{"city":"Oslo"}', id: 'toolu_2' } });
    const final = await openai(gw.url).chat.completions.stream({ model: 'claude', messages: [{ role: 'user', content: 'Oslo?' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }).finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({ id: 'toolu_2', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } });
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('a Responses client is served by an Anthropic provider too', async () => {
    const gw = await onlyAnthropic();
    const r = await openai(gw.url).responses.create({ model: 'claude', input: 'hi', max_output_tokens: 64 });
    expect(r.output_text).toBe('Hello from a');
    expect(body('a')).toMatchObject({ max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] });
  });

  it('an upstream 400 comes back to the chat client with its message, scrubbed', async () => {
    const gw = await onlyAnthropic();
    fx.double.script('a', { status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: too large for sk-ant-a-secret' } } });
    const e = (await openai(gw.url).chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] }).catch((err: unknown) => err)) as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(400);
    expect(e.message).toContain('max_tokens: too large');
    expect(e.message).not.toContain('sk-ant-a-secret');
  });

  it('529 overloaded is retried; 429 switches to the next provider', async () => {
    const gw = await start({
      claude: { providers: [anthropicProvider('a', { retry: 1 }), anthropicProvider('b', { priority: 2 })] },
    });
    fx.double.script('a', { status: 529 }, { content: 'after 529' });
    expect((await openai(gw.url).chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] })).choices[0]?.message.content).toBe('after 529');
    fx.double.script('a', { status: 429, headers: { 'anthropic-ratelimit-requests-reset': new Date(Date.now() + 5000).toISOString() } });
    expect((await openai(gw.url).chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] })).choices[0]?.message.content).toBe('Hello from b');
  });
});

describe('one model, OpenAI and Anthropic providers', () => {
  const mixed = () => start({
    assistant: { providers: [provider('o', fx.double.url('o')), anthropicProvider('a', { priority: 2 })] },
    'claude-only': { providers: [anthropicProvider('c')] },
  });

  it('fails over from OpenAI to Anthropic, translated, for chat and streams', async () => {
    const gw = await mixed();
    fx.double.script('o', { status: 503, times: 2 });
    const r = await openai(gw.url).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from a');
    const s = await openai(gw.url).chat.completions.stream({ model: 'assistant', messages: [{ role: 'user', content: 'x' }] }).finalChatCompletion();
    expect(s.choices[0]?.message.content).toBe('Hello from a');
  });

  it('a request an Anthropic provider cannot take (an audio part) goes to the next provider, named in the log', async () => {
    const gw = await start({ both: { providers: [anthropicProvider('a'), provider('o', fx.double.url('o'), { priority: 2 })] } });
    const r = await openai(gw.url).chat.completions.create({
      model: 'both', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }],
    });
    expect(r.choices[0]?.message.content).toBe('Hello from o');
    expect(fx.double.received('a')).toHaveLength(0);
    expect(gw.logText()).toContain('a cannot take this request');
  });

  it('embeddings and legacy completions never go to an Anthropic provider; with none other, a clear 400', async () => {
    const gw = await mixed();
    fx.double.script('o', { status: 503 });
    await expect(openai(gw.url).embeddings.create({ model: 'assistant', input: 'x' })).rejects.toMatchObject({ status: 502 });
    expect(fx.double.received('a')).toHaveLength(0);
    const e = await call(`${gw.url}/v1/embeddings`, { body: { model: 'claude-only', input: 'x' }, headers: { authorization: `Bearer ${KEY}` } });
    expect(e.status).toBe(400);
    expect(e.json).toMatchObject({ error: { code: 'endpoint_not_supported' } });
    const c = await call(`${gw.url}/v1/completions`, { body: { model: 'claude-only', prompt: 'x' }, headers: { authorization: `Bearer ${KEY}` } });
    expect(c.status).toBe(400);
  });
});

describe('/v1/messages to an Anthropic provider: passed through', () => {
  const anthropic = (url: string) => new Anthropic({ baseURL: url, apiKey: KEY, maxRetries: 0 });

  it('the body goes as the client sent it (model rewritten), with anthropic-beta; the answer names the client\'s model', async () => {
    const gw = await onlyAnthropic();
    fx.double.script('a', { thinking: true });
    const req = {
      model: 'claude', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 },
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }],
    } as const;
    const m = await anthropic(gw.url).messages.create(req as unknown as Anthropic.MessageCreateParamsNonStreaming, { headers: { 'anthropic-beta': 'context-management-2025-06-27' } });
    expect(body('a')).toEqual({ ...req, model: 'claude-upstream' });
    expect(received('a').headers['anthropic-beta']).toBe('context-management-2025-06-27');
    expect(m.model).toBe('claude');
    expect(m.content[0]?.type).toBe('thinking');
    expect(m.content.at(-1)).toMatchObject({ type: 'text', text: 'Hello from a' });
  });

  it('a stream passes through event by event (thinking included); usage is counted', async () => {
    const gw = await onlyAnthropic();
    fx.double.script('a', { thinking: true });
    const stream = anthropic(gw.url).messages.stream({ model: 'claude', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    const final = await stream.finalMessage();
    expect(final.model).toBe('claude');
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    const stats = await call(`${gw.url}/admin/stats`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    const a = (stats.json as Record<string, Record<string, { tokens: number; tokens_estimated: boolean }>>).claude!.a!;
    expect(a.tokens).toBe(final.usage.input_tokens + final.usage.output_tokens);
    expect(a.tokens_estimated).toBe(false);
  });

  it('an OpenAI provider of the same model is translated for, as before', async () => {
    const gw = await start({ claude: { providers: [anthropicProvider('a'), provider('o', fx.double.url('o'), { priority: 2 })] } });
    fx.double.script('a', { status: 503 });
    const m = await anthropic(gw.url).messages.create({ model: 'claude', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    expect(m.content[0]).toMatchObject({ type: 'text', text: 'Hello from o' });
    expect(received('o').path).toBe('/o/v1/chat/completions');
  });
});

describe('configuration', () => {
  it('default_max_tokens only for anthropic; native_responses and reasoning not for anthropic', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    const errs = (p: Record<string, unknown>) => {
      const r = parseConfig(JSON.stringify({ m: { providers: [{ name: 'x', endpoint: 'https://e.example/v1', api_key: 'k', model: 'u', ...p }] } }), { env: {}, tz: 'UTC' });
      return r.ok ? [] : r.errors;
    };
    expect(errs({ default_max_tokens: 100 })).toEqual(['model "m", provider "x": default_max_tokens: only for providers of type "anthropic"']);
    expect(errs({ type: 'anthropic', native_responses: true })[0]).toContain('native_responses: only for providers of type "openai" or "azure"');
    expect(errs({ type: 'anthropic', default_max_tokens: 100 })).toEqual([]);
  });
});
