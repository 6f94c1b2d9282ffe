import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * `/v1/responses` to providers marked `native_responses: true`: passed through untranslated
 * (only `model` rewritten), answers naming the client's model, usage counted, mixed with chat
 * providers in one model.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-native-responses-key';

const start = (p: Record<string, unknown> = {}) =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0 },
    'gw-coder': {
      providers: [
        provider('n', fx.double.url('n'), { priority: 1, native_responses: true, ...p }),
        provider('c', fx.double.url('c'), { priority: 2 }),
      ],
    },
  });
const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
const received = (p: string, i = 0) => fx.double.received(p)[i]!;

describe('the upstream double speaks the Responses API as the official client reads it', () => {
  it('create and stream, straight to the double', async () => {
    const direct = new OpenAI({ baseURL: fx.double.url('n'), apiKey: 'x', maxRetries: 0 });
    const r = await direct.responses.create({ model: 'm', input: 'hi' });
    expect(r.output_text).toBe('Hello from n');
    expect(r.usage?.input_tokens).toBeGreaterThan(0);
    const stream = direct.responses.stream({ model: 'm', input: 'hi' });
    const types: string[] = [];
    for await (const e of stream) types.push(e.type);
    expect((await stream.finalResponse()).output_text).toBe('Hello from n');
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    fx.double.script('n', { toolCall: { name: 'f', arguments: '{"a":1}', id: 'call_1' } });
    const t = await direct.responses.create({ model: 'm', input: 'hi' });
    expect(t.output[0]).toMatchObject({ type: 'function_call', name: 'f', arguments: '{"a":1}', call_id: 'call_1' });
  });
});

describe('native pass-through', () => {
  it('a JSON request goes as the client sent it (model rewritten); the answer names the client\'s model; usage counts', async () => {
    const gw = await start();
    const body = {
      model: 'gw-coder', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
      reasoning: { effort: 'high', summary: 'auto' }, include: ['reasoning.encrypted_content'], store: false,
      tools: [{ type: 'web_search' }], text: { verbosity: 'low' }, prompt_cache_key: 'k1',
    };
    const r = await call(`${gw.url}/v1/responses`, { body, headers: { authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(200);
    expect(received('n').path).toBe('/n/v1/responses');
    expect(received('n').body).toEqual({ ...body, model: 'upstream-n' });
    expect(r.json).toMatchObject({ object: 'response', model: 'gw-coder', status: 'completed' });
    expect((r.json as { id: string }).id).toMatch(/^resp_double/);
    const stats = await call(`${gw.url}/admin/stats`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    const n = (stats.json as Record<string, Record<string, { requests: number; tokens: number; tokens_estimated: boolean }>>)['gw-coder']!.n!;
    expect(n.requests).toBe(1);
    expect(n.tokens).toBe((r.json as { usage: { total_tokens: number } }).usage.total_tokens);
    expect(n.tokens_estimated).toBe(false);
  });

  it('a stream passes through event by event; only the events with the whole response are rewritten', async () => {
    const gw = await start();
    const stream = client(gw.url).responses.stream({ model: 'gw-coder', input: 'hi' });
    const events: ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const final = await stream.finalResponse();
    expect(final.model).toBe('gw-coder');
    expect(final.output_text).toBe('Hello from n');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const created = events[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>;
    expect(created.response.model).toBe('gw-coder');
    expect(received('n').body).toEqual({ model: 'upstream-n', input: 'hi', stream: true });
    const stats = await call(`${gw.url}/admin/stats`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    const n = (stats.json as Record<string, Record<string, { tokens: number; tokens_estimated: boolean }>>)['gw-coder']!.n!;
    expect(n.tokens).toBe(final.usage!.total_tokens);
    expect(n.tokens_estimated).toBe(false);
  });

  it('a native stream that breaks after its first content ends with response.failed', async () => {
    const gw = await start();
    // created, in_progress, output_item.added, content_part.added, then the first delta: the break comes after it.
    fx.double.script('n', { dropAfterChunks: 5 });
    const r = await call(`${gw.url}/v1/responses`, { body: { model: 'gw-coder', input: 'hi', stream: true }, headers: { authorization: `Bearer ${KEY}` } });
    const types = [...r.text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(types.at(-1)).toBe('response.failed');
    const last = JSON.parse(r.text.trim().split('\n').at(-1)!.slice(6)) as { sequence_number: number };
    expect(last.sequence_number).toBe(5);
  });

  it('fails over from a native provider to a chat provider, translated', async () => {
    const gw = await start();
    fx.double.script('n', { status: 503 });
    const r = await client(gw.url).responses.create({ model: 'gw-coder', input: 'hi' });
    expect(r.output_text).toBe('Hello from c');
    expect(r.model).toBe('gw-coder');
    expect(received('c').path).toBe('/c/v1/chat/completions');
  });

  it('a native provider that cannot answer the way the client asked is translated for', async () => {
    const gw = await start({ stream_support: false });
    const final = await client(gw.url).responses.stream({ model: 'gw-coder', input: 'hi' }).finalResponse();
    expect(final.output_text).toBe('Hello from n');
    expect(received('n').path).toBe('/n/v1/chat/completions');
  });

  it('continuing a stored response on a native provider sends the whole conversation, without previous_response_id', async () => {
    const gw = await start();
    const c = client(gw.url);
    const first = await c.responses.create({ model: 'gw-coder', input: 'first' });
    const second = await c.responses.create({ model: 'gw-coder', input: 'second', previous_response_id: first.id });
    expect(second.status).toBe('completed');
    const sent = received('n', 1).body as { input: unknown[]; previous_response_id?: string };
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input).toEqual([
      { type: 'message', role: 'user', content: 'first' },
      first.output[0],
      { type: 'message', role: 'user', content: 'second' },
    ]);
    expect((await c.responses.retrieve(second.id)).id).toBe(second.id);
  });
});
