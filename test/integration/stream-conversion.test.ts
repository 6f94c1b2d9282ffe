import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

/** `json-only` answers only JSON, `stream-only` only streams. */
const config = () => ({
  _global: { default_retry: 0 },
  jsononly: { providers: [provider('json-only', fx.double.url('json-only'), { stream_support: false })] },
  streamonly: { providers: [provider('stream-only', fx.double.url('stream-only'), { non_stream_support: false })] },
});
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

describe('client streams, provider answers only JSON', () => {
  it('asks the provider for JSON and answers SSE: role, content, finish, [DONE]', async () => {
    gw = await fx.gateway(config());
    fx.double.script('json-only', { content: 'Converted answer' });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('jsononly', { stream: true }));
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toContain('text/event-stream');
    const sent = fx.double.received('json-only')[0]!.body as Record<string, unknown>;
    expect(sent.stream).toBeUndefined();
    expect(sent.stream_options).toBeUndefined();
    expect(s.data.at(-1)).toBe('[DONE]');
    const chunks = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '', refusal: null });
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Converted answer');
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('adds the usage chunk when the client asked include_usage', async () => {
    gw = await fx.gateway(config());
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('jsononly', { stream: true, stream_options: { include_usage: true } }));
    const chunks = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: expect.any(Number) } });
  });

  it('converts tool calls, and the openai client reads them like native ones', async () => {
    gw = await fx.gateway(config());
    fx.double.script('json-only', { toolCalls: true });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'jsononly', stream: true, messages: [{ role: 'user', content: 'Weather?' }], tools: tools as never });
    const calls: Record<number, { id: string; name: string; args: string }> = {};
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        const c = (calls[tc.index] ??= { id: '', name: '', args: '' });
        c.id += tc.id ?? '';
        c.name += tc.function?.name ?? '';
        c.args += tc.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(calls[0]).toEqual({ id: 'call_double_1', name: 'get_weather', args: '{"city":"Paris","unit":"celsius"}' });
    expect(finish).toBe('tool_calls');
  });

  it('converts /v1/completions too', async () => {
    gw = await fx.gateway(config());
    fx.double.script('json-only', { content: 'legacy text' });
    const s = await readStream(`${gw.url}/v1/completions`, { model: 'jsononly', prompt: 'Say', stream: true });
    const chunks = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe('legacy text');
    expect(chunks.every((c) => c.object === 'text_completion')).toBe(true);
    expect(s.data.at(-1)).toBe('[DONE]');
  });

  it('a failure before any output is a JSON error with its status, not a 200 stream', async () => {
    gw = await fx.gateway(config());
    fx.double.script('json-only', { status: 500 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('jsononly', { stream: true }));
    expect(s.status).toBe(502);
    expect(s.headers['content-type']).toContain('application/json');
    expect(JSON.parse(s.text).error.code).toBe('all_providers_failed');
    fx.double.script('json-only', { status: 400, body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } } });
    const bad = await readStream(`${gw.url}/v1/chat/completions`, chat('jsononly', { stream: true }));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.message).toBe('bad');
  });
});

describe('client wants JSON, provider only streams', () => {
  it('asks the provider to stream (with usage) and answers one chat.completion', async () => {
    gw = await fx.gateway(config());
    fx.double.script('stream-only', { content: 'Folded from five pieces', chunks: 5 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('streamonly') });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('application/json');
    const sent = fx.double.received('stream-only')[0]!.body as Record<string, unknown>;
    expect(sent).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(r.json).toMatchObject({
      object: 'chat.completion',
      model: 'upstream-stream-only',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Folded from five pieces' }, finish_reason: 'stop' }],
      usage: { completion_tokens: 5 },
    });
    expect(r.json.id).toMatch(/^chatcmpl-/);
    expect(typeof r.json.created).toBe('number');
  });

  it('merges tool calls by index, and the openai client reads the answer', async () => {
    gw = await fx.gateway(config());
    fx.double.script('stream-only', { toolCalls: true, chunks: 4 });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'streamonly', messages: [{ role: 'user', content: 'Weather?' }], tools: tools as never });
    expect(r.choices[0]?.finish_reason).toBe('tool_calls');
    expect(r.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_double_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } },
    ]);
  });

  it('folds /v1/completions into one text_completion', async () => {
    gw = await fx.gateway(config());
    fx.double.script('stream-only', { content: 'abcdef', chunks: 3 });
    const r = await call(`${gw.url}/v1/completions`, { body: { model: 'streamonly', prompt: 'x' } });
    expect(r.json).toMatchObject({ object: 'text_completion', choices: [{ text: 'abcdef', finish_reason: 'stop' }] });
  });

  it('a stream cut before its end is a failed try, retried', async () => {
    gw = await fx.gateway({ streamonly: { providers: [provider('stream-only', fx.double.url('stream-only'), { non_stream_support: false, retry: 1 })] } });
    fx.double.script('stream-only', { chunks: 5, dropAfterChunks: 3 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('streamonly') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-tries']).toBe('2');
    expect(fx.double.received('stream-only')).toHaveLength(2);
  });
});
