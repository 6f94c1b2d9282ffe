import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

/**
 * SPEC §9 for long agent streams: a stall before the first token fails over with nothing sent
 * twice (chat, Messages and Responses clients, chat / Anthropic / native Responses providers),
 * and a stream that breaks after content ends with its format's error and counts as interrupted.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-agent-streams-key-01';

/** `slow` first (priority 1), `good` second; `kind` sets the slow provider's type. */
const gateway = (slow: Record<string, unknown> = {}, global: Record<string, unknown> = {}) =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0, first_token_timeout: 0.4, ...global },
    m: { providers: [provider('slow', fx.double.url('slow'), { priority: 1, ...slow }), provider('good', fx.double.url('good'), { priority: 2 })] },
  });
const auth = { authorization: `Bearer ${KEY}` };
const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('a stall before the first token fails over within first_token_timeout', () => {
  it('chat stream: the stalled provider’s role chunk never reaches the client; the answer comes whole from the next', async () => {
    const gw = await gateway();
    fx.double.script('slow', { stallAfterRole: true, keepAliveMs: 50 });
    const started = Date.now();
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), auth);
    const took = Date.now() - started;
    expect(s.status).toBe(200);
    expect(s.headers['x-gateway-provider']).toBe('good');
    expect(took).toBeGreaterThanOrEqual(380);
    expect(took).toBeLessThan(2000);
    // One role chunk (the good provider's), its text, one [DONE]; no keep-alive of the stalled one.
    expect(count(s.text, '"role":"assistant"')).toBe(1);
    expect(s.text).not.toContain('keep-alive');
    expect(s.data.filter((d) => d === '[DONE]')).toHaveLength(1);
    const text = s.data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d).choices?.[0]?.delta?.content ?? '').join('');
    expect(text).toBe('Hello from good');
    await expect.poll(() => fx.double.received('slow')[0]?.closedEarly).toBe(true);
    const line = gw.logs.find((l) => String(l.msg).startsWith('Switching provider'));
    expect(line?.reason).toBe('first token timeout');
  });

  it('a stall shorter than the wait is no failure: the held role chunk is relayed once, before the content', async () => {
    const gw = await gateway();
    fx.double.script('slow', { stallAfterRole: 150 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), auth);
    expect(s.headers['x-gateway-provider']).toBe('slow');
    expect(count(s.text, '"role":"assistant"')).toBe(1);
    expect(s.text.indexOf('"role":"assistant"')).toBeLessThan(s.text.indexOf('Hello'));
    expect(fx.double.received('good')).toHaveLength(0);
  });

  it('the official openai client streams through a stall with no error and no duplicated text', async () => {
    const gw = await gateway();
    fx.double.script('slow', { stallAfterRole: true });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    let roles = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.role) roles += 1;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('Hello from good');
    expect(roles).toBe(1);
  });

  it('headers that do not come within the wait (shorter than timeout) are a first-token timeout too', async () => {
    const gw = await gateway({ timeout: 30 });
    fx.double.script('slow', { delayMs: 5000 });
    const started = Date.now();
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), auth);
    expect(s.headers['x-gateway-provider']).toBe('good');
    expect(Date.now() - started).toBeLessThan(2500);
    expect(gw.logs.find((l) => String(l.msg).startsWith('Switching provider'))?.reason).toBe('first token timeout');
  });

  it('a provider’s own first_token_timeout wins over _global’s, and a JSON answer is not bound by it', async () => {
    const gw = await gateway({ first_token_timeout: 3 });
    fx.double.script('slow', { stallAfterRole: 800 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), auth);
    expect(s.headers['x-gateway-provider']).toBe('slow');
    fx.double.script('slow', { delayMs: 800 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(r.headers['x-gateway-provider']).toBe('slow');
  });

  it('a JSON client of a stream-only provider fails over from a stall too', async () => {
    const gw = await gateway({ non_stream_support: false });
    fx.double.script('slow', { stallAfterRole: true });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(r.status).toBe(200);
    expect(r.json.choices[0].message.content).toBe('Hello from good');
  });

  it('Messages client on an Anthropic provider: message_start is held, and sent once, by the provider that answers', async () => {
    const gw = await gateway({ type: 'anthropic', api_key: 'sk-ant-slow-secret', model: 'claude-upstream' });
    fx.double.script('slow', { stallAfterRole: true, keepAliveMs: 50 });
    const s = await readStream(`${gw.url}/v1/messages`, { model: 'm', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' });
    expect(s.headers['x-gateway-provider']).toBe('good');
    expect(count(s.text, 'event: message_start')).toBe(1);
    expect(count(s.text, 'event: message_stop')).toBe(1);
    const text = s.data.map((d) => JSON.parse(d)).filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('');
    expect(text).toBe('Hello from good');
    // The SDK reads it as one message.
    fx.double.script('slow', { stallAfterRole: true });
    const client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 });
    const final = await client.messages.stream({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    expect(final.content).toEqual([expect.objectContaining({ type: 'text', text: 'Hello from good' })]);
  });

  it('a model that thinks longer than the wait is not a stall: its thinking (hidden from a chat client) ends the wait', async () => {
    const gw = await gateway({ type: 'anthropic', api_key: 'sk-ant-slow-secret', model: 'claude-upstream' });
    // message_start, ping, the thinking block's start, its first delta: then 800 ms of more thinking.
    fx.double.script('slow', { thinking: 'Let me think about this carefully.', stallAfterChunks: { after: 4, ms: 800 } });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), auth);
    expect(s.headers['x-gateway-provider']).toBe('slow');
    const text = s.data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d).choices?.[0]?.delta?.content ?? '').join('');
    expect(text).toBe('Hello from slow');
    expect(s.text).not.toContain('think about');
    expect(fx.double.received('good')).toHaveLength(0);
  });

  it('Responses client on a native Responses provider: response.created is held, and sent once', async () => {
    const gw = await gateway({ native_responses: true });
    fx.double.script('slow', { stallAfterRole: true });
    const s = await readStream(`${gw.url}/v1/responses`, { model: 'm', input: 'hi', stream: true }, auth);
    expect(s.headers['x-gateway-provider']).toBe('good');
    expect(count(s.text, 'event: response.created')).toBe(1);
    expect(count(s.text, 'event: response.completed')).toBe(1);
    const seqs = s.data.map((d) => JSON.parse(d).sequence_number as number);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  it('Responses client translated onto a chat provider: the official client gets one whole response', async () => {
    const gw = await gateway();
    fx.double.script('slow', { stallAfterRole: true });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const events: string[] = [];
    const stream = client.responses.stream({ model: 'm', input: 'hi' });
    stream.on('event', (e) => events.push(e.type));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('Hello from good');
    expect(events.filter((t) => t === 'response.created')).toHaveLength(1);
  });
});

describe('a stream that breaks after content reached the client', () => {
  const gw1 = () => fx.gateway({ _global: { api_key: KEY, default_retry: 0 }, m: { providers: [provider('p', fx.double.url('p'))] } });

  it('chat: an error data event, no [DONE]; logged, counted as interrupted in /metrics and the stats, usage recorded', async () => {
    const gw = await gw1();
    fx.double.script('p', { chunks: 6, dropAfterChunks: 3 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), auth);
    expect(s.data).not.toContain('[DONE]');
    expect(JSON.parse(s.data.at(-1)!).error.code).toBe('stream_interrupted');
    await expect.poll(async () => (await call(`${gw.url}/admin/stats`, { headers: auth })).json.m.p.interrupted_streams).toBe(1);
    const stats = (await call(`${gw.url}/admin/stats`, { headers: auth })).json.m.p;
    expect(stats.requests).toBe(1);
    expect(stats.tokens).toBeGreaterThan(0);
    const metrics = (await call(`${gw.url}/metrics`, { headers: auth })).text;
    expect(metrics).toMatch(/gateway_streams_interrupted_total\{model="m",provider="p"\} 1/);
    const line = gw.logs.find((l) => l.interrupted === true);
    expect(line?.streamError).toBeTruthy();
    const view = (await call(`${gw.url}/admin/providers/m`, { headers: auth })).json.providers[0];
    expect(view.health.interrupted_streams).toBe(1);
  });

  it('Messages: event: error, no message_stop', async () => {
    const gw = await gw1();
    fx.double.script('p', { chunks: 6, dropAfterChunks: 3 });
    const s = await readStream(`${gw.url}/v1/messages`, { model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' });
    expect(s.text).toContain('event: error');
    expect(s.text).not.toContain('event: message_stop');
    expect(s.text.trim().split('\n\n').at(-1)).toContain('event: error');
  });

  it('Responses: response.failed, no response.completed', async () => {
    const gw = await gw1();
    fx.double.script('p', { chunks: 6, dropAfterChunks: 3 });
    const s = await readStream(`${gw.url}/v1/responses`, { model: 'm', input: 'hi', stream: true }, auth);
    expect(s.text).toContain('event: response.failed');
    expect(s.text).not.toContain('event: response.completed');
  });
});

describe('health from the provider’s own words', () => {
  const two = (global: Record<string, unknown> = {}) =>
    fx.gateway({
      _global: { api_key: KEY, default_retry: 3, max_cooldown_seconds: 3600, ...global },
      m: { providers: [provider('a', fx.double.url('a'), { priority: 1 }), provider('b', fx.double.url('b'), { priority: 2 })] },
    });
  const view = async (url: string, name = 'a') =>
    (await call(`${url}/admin/providers/m`, { headers: auth })).json.providers.find((p: { name: string }) => p.name === name);
  const secondsLeft = (v: { health: { cooldown_until: string | null } }): number =>
    v.health.cooldown_until === null ? 0 : (Date.parse(v.health.cooldown_until) - Date.now()) / 1000;

  it('x-ratelimit-reset-requests of the exhausted limit sets the cooldown (6m0s), not the tokens one', async () => {
    const gw = await two();
    fx.double.script('a', { status: 429, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s', 'x-ratelimit-remaining-tokens': '5000', 'x-ratelimit-reset-tokens': '1s' } });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(r.headers['x-gateway-provider']).toBe('b');
    const v = await view(gw.url);
    expect(secondsLeft(v)).toBeGreaterThan(355);
    expect(secondsLeft(v)).toBeLessThanOrEqual(360);
    expect(v.health).toMatchObject({ state: 'cooling_down', cooldown_reason: 'rate_limited', cooldown_source: 'x-ratelimit-reset' });
  });

  it('anthropic-ratelimit-*-reset sets it, capped by max_cooldown_seconds', async () => {
    const gw = await two({ max_cooldown_seconds: 90 });
    const at = new Date(Date.now() + 3600_000).toISOString();
    fx.double.script('a', { status: 429, headers: { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': at } });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    const v = await view(gw.url);
    expect(secondsLeft(v)).toBeGreaterThan(85);
    expect(secondsLeft(v)).toBeLessThanOrEqual(90);
    expect(v.health.cooldown_source).toBe('anthropic-ratelimit-reset');
  });

  it('a 503 that says Retry-After is not retried on the same provider (no storm) and cools it down as said', async () => {
    const gw = await two();
    fx.double.script('a', { status: 503, retryAfter: 40, times: 10 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(r.headers['x-gateway-provider']).toBe('b');
    expect(fx.double.received('a')).toHaveLength(1);
    const v = await view(gw.url);
    expect(secondsLeft(v)).toBeGreaterThan(38);
    expect(v.health.cooldown_source).toBe('retry-after');
  });

  it('a rate-limited provider is not asked again before its time, even as a last resort: 429 with the right Retry-After', async () => {
    const gw = await two();
    fx.double.script('a', { status: 429, retryAfter: 30 });
    fx.double.script('b', { status: 429, retryAfter: 12 });
    const first = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(first.status).toBe(429);
    const second = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(second.status).toBe(429);
    expect(second.json.error.code).toBe('rate_limited');
    expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(11);
    expect(Number(second.headers['retry-after'])).toBeLessThanOrEqual(12);
    expect(fx.double.received('a')).toHaveLength(1);
    expect(fx.double.received('b')).toHaveLength(1);
  });

  it('after a cooldown exactly one request probes the provider while the others keep going elsewhere; its success reopens it', async () => {
    const gw = await fx.gateway({
      _global: { api_key: KEY, default_retry: 0 },
      m: { providers: [provider('a', fx.double.url('a'), { priority: 1 }), provider('b', fx.double.url('b'), { priority: 1 })] },
    });
    fx.double.script('a', { status: 429, retryAfter: 1 });
    // Until a serves once, whatever reaches it answers slowly: the probe is still in flight while the others arrive.
    fx.double.setDefault('a', { delayMs: 400 });
    const send = () => call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    await Promise.all([send(), send()]);
    expect(fx.double.received('a')).toHaveLength(1);
    // While it cools down, nothing reaches it.
    await Promise.all(Array.from({ length: 6 }, send));
    expect(fx.double.received('a')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await view(gw.url)).health.probe).toBe('due');
    const burst = await Promise.all(Array.from({ length: 10 }, send));
    expect(burst.every((r) => r.status === 200)).toBe(true);
    expect(burst.filter((r) => r.headers['x-gateway-provider'] === 'a')).toHaveLength(1);
    expect(fx.double.received('a')).toHaveLength(2);
    expect((await view(gw.url)).health).toMatchObject({ state: 'ok', probe: 'none' });
    fx.double.setDefault('a', {});
    const after = await Promise.all(Array.from({ length: 10 }, send));
    expect(after.filter((r) => r.headers['x-gateway-provider'] === 'a').length).toBeGreaterThanOrEqual(4);
  });

  it('a failed probe cools the provider down again', async () => {
    const gw = await fx.gateway({
      _global: { api_key: KEY, default_retry: 0 },
      m: { providers: [provider('a', fx.double.url('a'), { priority: 1 }), provider('b', fx.double.url('b'), { priority: 2 })] },
    });
    fx.double.script('a', { status: 429, retryAfter: 1 }, { status: 429, retryAfter: 20 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    await new Promise((r) => setTimeout(r, 1100));
    const probe = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    expect(probe.status).toBe(200);
    expect(fx.double.received('a')).toHaveLength(2);
    const v = await view(gw.url);
    expect(secondsLeft(v)).toBeGreaterThan(18);
    expect(v.health.probe).toBe('due');
  });
});
