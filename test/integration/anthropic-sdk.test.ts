import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * The official `@anthropic-ai/sdk` through `/v1/messages`, translated onto OpenAI-format
 * providers (the upstream double): create, stream with its helpers, tool round trips, errors.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-anthropic-sdk-key-01';

const start = (extra: Record<string, unknown> = {}) =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0 },
    'claude-main': {
      aliases: ['claude-*'],
      providers: [provider('p', fx.double.url('p'), { priority: 1, ...extra }), provider('q', fx.double.url('q'), { priority: 2 })],
    },
  });

const client = (url: string, opts: Record<string, unknown> = {}) => new Anthropic({ baseURL: url, apiKey: KEY, maxRetries: 0, ...opts });

const weather: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

describe('messages.create', () => {
  it('answers a Message: id, model as asked, text, stop reason, usage', async () => {
    const gw = await start();
    fx.double.script('p', { content: 'Bonjour!' });
    const m = await client(gw.url).messages.create({
      model: 'claude-main', max_tokens: 100, system: 'Be brief.',
      messages: [{ role: 'user', content: 'Say hello in French' }], stop_sequences: ['END'],
    });
    expect(m.id).toMatch(/^msg_/);
    expect(m.type).toBe('message');
    expect(m.role).toBe('assistant');
    expect(m.model).toBe('claude-main');
    expect(m.content).toEqual([{ type: 'text', text: 'Bonjour!' }]);
    expect(m.stop_reason).toBe('end_turn');
    expect(m.usage.input_tokens).toBeGreaterThan(0);
    expect(m.usage.output_tokens).toBeGreaterThan(0);
    const sent = fx.double.received('p')[0]!.body as Record<string, unknown>;
    expect(sent).toMatchObject({
      model: 'upstream-p', max_tokens: 100, stop: ['END'],
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello in French' }],
    });
    expect(sent).not.toHaveProperty('system');
    expect(sent).not.toHaveProperty('stop_sequences');
  });

  it('accepts an alias (claude-*) and names the model the client asked for', async () => {
    const gw = await start();
    const m = await client(gw.url).messages.create({ model: 'claude-opus-4-8', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    expect(m.model).toBe('claude-opus-4-8');
    expect(fx.double.received('p')).toHaveLength(1);
    // Logged and counted under the configured model it resolved to.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !gw.logs.some((l) => l.path === '/v1/messages')) await new Promise((r) => setTimeout(r, 10));
    expect(gw.logs.find((l) => l.path === '/v1/messages')?.model).toBe('claude-main');
  });

  it('round trips a tool call: tool_use with a parsed input, then tool_result as a tool message', async () => {
    const gw = await start();
    fx.double.script('p', { toolCall: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}', id: 'call_w1' } }, { content: 'It is sunny.' });
    const c = client(gw.url);
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await c.messages.create({ model: 'claude-main', max_tokens: 200, tools: [weather], tool_choice: { type: 'auto' }, messages });
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(use).toMatchObject({ id: 'call_w1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } });
    const sentTools = (fx.double.received('p')[0]!.body as { tools: unknown[] }).tools;
    expect(sentTools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: weather.input_schema } }]);

    messages.push({ role: 'assistant', content: first.content });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_w1', content: '22 °C, clear' }] });
    const second = await c.messages.create({ model: 'claude-main', max_tokens: 200, tools: [weather], messages });
    expect(second.content).toEqual([{ type: 'text', text: 'It is sunny.' }]);
    const turn = (fx.double.received('p')[1]!.body as { messages: Array<Record<string, unknown>> }).messages;
    expect(turn[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather' } }] });
    expect(JSON.parse((turn[1]!.tool_calls as Array<{ function: { arguments: string } }>)[0]!.function.arguments)).toEqual({ city: 'Paris', unit: 'celsius' });
    expect(turn[2]).toEqual({ role: 'tool', tool_call_id: 'call_w1', content: '22 °C, clear' });
  });
});

describe('messages.stream', () => {
  it('streams text events and a finalMessage, with event: lines in Anthropic order', async () => {
    const gw = await start();
    fx.double.script('p', { content: 'one two three four', chunks: 4 });
    const stream = client(gw.url).messages.stream({ model: 'claude-main', max_tokens: 50, messages: [{ role: 'user', content: 'count' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const final = await stream.finalMessage();
    expect(texts.join('')).toBe('one two three four');
    expect(texts.length).toBeGreaterThan(1);
    expect(final.content).toEqual([{ type: 'text', text: 'one two three four' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(4);
    // The upstream was asked to stream, with usage.
    expect(fx.double.received('p')[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('streams a tool call as input_json_delta, whole in finalMessage', async () => {
    const gw = await start();
    fx.double.script('p', { toolCall: { name: 'get_weather', arguments: '{"city":"Lyon"}', id: 'call_s1' }, chunks: 3 });
    const stream = client(gw.url).messages.stream({ model: 'claude-main', max_tokens: 50, tools: [weather], messages: [{ role: 'user', content: 'weather?' }] });
    const partial: string[] = [];
    stream.on('inputJson', (p) => partial.push(p));
    const final = await stream.finalMessage();
    expect(partial.join('')).toBe('{"city":"Lyon"}');
    expect(final.content).toEqual([{ type: 'tool_use', id: 'call_s1', name: 'get_weather', input: { city: 'Lyon' } }]);
    expect(final.stop_reason).toBe('tool_use');
  });

  it('the raw stream carries event: lines, message_start first and message_stop last', async () => {
    const gw = await start();
    const r = await call(`${gw.url}/v1/messages?beta=true`, {
      body: { model: 'claude-main', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'hi' }] },
      headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
    });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = r.text.split('\n').filter((l) => l.startsWith('event: ')).map((l) => l.slice(7));
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
    expect(events).toContain('content_block_delta');
    expect(events.at(-2)).toBe('message_delta');
  });

  it('a provider that only answers JSON still streams to the client', async () => {
    const gw = await start({ stream_support: false });
    fx.double.script('p', { content: 'whole answer' });
    const final = await client(gw.url).messages.stream({ model: 'claude-main', max_tokens: 50, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'whole answer' }]);
    expect(fx.double.received('p')[0]!.body).not.toHaveProperty('stream', true);
  });

  it('fails over before the first event, as chat does', async () => {
    const gw = await start();
    fx.double.script('p', { status: 503 });
    fx.double.script('q', { content: 'from backup' });
    const final = await client(gw.url).messages.stream({ model: 'claude-main', max_tokens: 50, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'from backup' }]);
  });

  it('a break after the start ends with event: error, which the SDK raises', async () => {
    const gw = await start();
    fx.double.script('p', { chunks: 6, dropAfterChunks: 3, chunkDelayMs: 5 });
    const stream = client(gw.url).messages.stream({ model: 'claude-main', max_tokens: 50, messages: [{ role: 'user', content: 'x' }] });
    await expect(stream.finalMessage()).rejects.toThrow(/incomplete|broke/);
  });
});

describe('errors in Anthropic shape, as the SDK classes', () => {
  it('401 authentication_error for a wrong key (x-api-key or Bearer)', async () => {
    const gw = await start();
    const err = await client(gw.url, { apiKey: 'wrong-key-0000000' }).messages.create({ model: 'claude-main', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    const raw = await call(`${gw.url}/v1/messages`, { body: { model: 'claude-main', max_tokens: 5, messages: [] }, headers: { 'x-api-key': 'nope' } });
    expect(raw.json).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.any(String) } });
  });

  it('400 invalid_request_error for a request Anthropic would refuse (no max_tokens)', async () => {
    const gw = await start();
    const raw = await call(`${gw.url}/v1/messages`, { body: { model: 'claude-main', messages: [{ role: 'user', content: 'x' }] }, headers: { 'x-api-key': KEY } });
    expect(raw.status).toBe(400);
    expect(raw.json.type).toBe('error');
    expect(raw.json.error.type).toBe('invalid_request_error');
    expect(fx.double.received('p')).toHaveLength(0);
  });

  it('404 not_found_error for an unknown model', async () => {
    const gw = await start();
    const err = await client(gw.url).messages.create({ model: 'gpt-unknown', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
  });

  it('429 rate_limit_error with retry-after when every provider is rate-limited', async () => {
    const gw = await start();
    fx.double.script('p', { status: 429, retryAfter: 3 });
    fx.double.script('q', { status: 429, retryAfter: 3 });
    const err = await client(gw.url).messages.create({ model: 'claude-main', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as APIError).headers?.get('retry-after')).toBe('3');
  });

  it('502 api_error when every provider failed; an upstream 400 comes back as invalid_request_error', async () => {
    const gw = await start();
    fx.double.script('p', { status: 500 });
    fx.double.script('q', { status: 500 });
    const err = await client(gw.url).messages.create({ model: 'claude-main', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as APIError).status).toBe(502);
    fx.double.script('p', { status: 400, body: { error: { message: 'bad thing', type: 'invalid_request_error', param: null, code: null } } });
    const bad = await client(gw.url).messages.create({ model: 'claude-main', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
    expect((bad as APIError).message).toContain('bad thing');
  });
});

describe('every error type', () => {
  it('413 request_too_large and 503 overloaded_error (every provider disabled), 403 for a cross-site write', async () => {
    const gw = await fx.gateway({
      _global: { api_key: KEY, max_body_bytes: 2048 },
      off: { providers: [provider('p', fx.double.url('p'), { enabled: false })] },
    });
    const headers = { 'x-api-key': KEY };
    const big = await call(`${gw.url}/v1/messages`, { body: { model: 'off', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(5000) }] }, headers });
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    const off = await call(`${gw.url}/v1/messages`, { body: { model: 'off', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, headers });
    expect(off.status).toBe(503);
    expect(off.json).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    const cross = await call(`${gw.url}/v1/messages`, { body: { model: 'off', max_tokens: 5, messages: [] }, headers: { ...headers, origin: 'https://evil.example' } });
    expect(cross.status).toBe(403);
    expect(cross.json).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
  });
});

describe('count_tokens and accounting', () => {
  it('messages.countTokens answers an estimate', async () => {
    const gw = await start();
    const r = await client(gw.url).messages.countTokens({ model: 'claude-main', system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there, how are you today?' }] });
    expect(r.input_tokens).toBeGreaterThan(5);
    expect(r.input_tokens).toBeLessThan(40);
  });

  it('counts against the provider quota and stats like chat, and logs the endpoint', async () => {
    const gw = await start();
    await client(gw.url).messages.create({ model: 'claude-main', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    await client(gw.url).messages.stream({ model: 'claude-main', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && gw.logs.filter((l) => l.path === '/v1/messages').length < 2) await new Promise((r) => setTimeout(r, 10));
    const stats = (await call(`${gw.url}/admin/stats`, { headers: { authorization: `Bearer ${KEY}` } })).json;
    expect(stats['claude-main'].p.requests).toBe(2);
    expect(stats['claude-main'].p.tokens).toBeGreaterThan(0);
    expect(gw.logs.filter((l) => l.path === '/v1/messages').map((l) => l.status)).toEqual([200, 200]);
    // Metrics tell the endpoints apart.
    const metrics = (await call(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text;
    expect(metrics).toMatch(/gateway_requests_total\{endpoint="\/v1\/messages",model="claude-main",provider="p",status="200",stream="true"\} 1/);
    expect(metrics).toMatch(/gateway_requests_total\{endpoint="\/v1\/messages",model="claude-main",provider="p",status="200",stream="false"\} 1/);
  });
});
