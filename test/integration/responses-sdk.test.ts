import OpenAI, { APIError, NotFoundError } from 'openai';
import type { ResponseInputItem, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * The official `openai` client's Responses API through `/v1/responses`, translated onto
 * OpenAI-format chat providers (the upstream double): create, stream, tool round trips with
 * and without `previous_response_id`, retrieve, delete, errors.
 */
const fx = useUpstreamDouble();
const KEY = 'gw-responses-sdk-key-01';

const start = (global: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0, ...global },
    'gw-coder': {
      aliases: ['gpt-*'],
      providers: [provider('p', fx.double.url('p'), { priority: 1, ...extra }), provider('q', fx.double.url('q'), { priority: 2 })],
    },
  });

const client = (url: string, apiKey = KEY) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

const sent = (i = 0, p = 'p') => fx.double.received(p)[i]!.body as Record<string, unknown> & { messages: Array<Record<string, unknown>> };

describe('responses.create', () => {
  it('answers a response: id, model as asked, output text, usage; the chat body has what chat takes', async () => {
    const gw = await start();
    fx.double.script('p', { content: 'Bonjour!', usageValue: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 2 } } });
    const r = await client(gw.url).responses.create({
      model: 'gw-coder', instructions: 'Be brief.', input: 'Say hello in French', max_output_tokens: 50, temperature: 0.2, top_p: 0.9,
      user: 'u-1', metadata: { team: 'a' }, prompt_cache_key: 'sess-1', store: true,
    });
    expect(r.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(r.object).toBe('response');
    expect(r.status).toBe('completed');
    expect(r.model).toBe('gw-coder');
    expect(r.output_text).toBe('Bonjour!');
    expect(r.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Bonjour!', annotations: [] }] });
    expect(r.usage).toEqual({ input_tokens: 20, input_tokens_details: { cached_tokens: 8 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 25 });
    expect(r.instructions).toBe('Be brief.');
    expect(r.metadata).toEqual({ team: 'a' });
    expect(sent()).toEqual({
      model: 'upstream-p', max_tokens: 50, temperature: 0.2, top_p: 0.9, user: 'u-1',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello in French' }],
    });
  });

  it('translates items: developer → system, parts, images, assistant output_text, json_schema → response_format', async () => {
    const gw = await start();
    fx.double.script('p', { content: '{"ok":true}' });
    await client(gw.url).responses.create({
      model: 'gw-coder',
      input: [
        { role: 'developer', content: 'You are terse.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is this?' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'A pixel.', annotations: [] }] } as unknown as ResponseInputItem,
        { role: 'user', content: 'Answer in JSON.' },
      ],
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { ok: { type: 'boolean' } } }, strict: true } },
    });
    expect(sent().messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
      { role: 'assistant', content: 'A pixel.' },
      { role: 'user', content: 'Answer in JSON.' },
    ]);
    expect(sent().response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object', properties: { ok: { type: 'boolean' } } }, strict: true } });
  });

  it('round trips a function call by sending the whole conversation back', async () => {
    const gw = await start();
    fx.double.script('p', { toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_w1' } }, { content: 'It is sunny.' });
    const c = client(gw.url);
    const input: ResponseInputItem[] = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await c.responses.create({ model: 'gw-coder', input, tools: [weather], tool_choice: 'auto', parallel_tool_calls: false, store: false });
    const fc = first.output.find((o) => o.type === 'function_call');
    expect(fc).toMatchObject({ type: 'function_call', call_id: 'call_w1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' });
    expect(sent().tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: weather.parameters, strict: true } }]);
    expect(sent()).toMatchObject({ tool_choice: 'auto', parallel_tool_calls: false });
    input.push(...(first.output as ResponseInputItem[]), { type: 'function_call_output', call_id: 'call_w1', output: '22 °C, clear' });
    const second = await c.responses.create({ model: 'gw-coder', input, tools: [weather], store: false });
    expect(second.output_text).toBe('It is sunny.');
    expect(sent(1).messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_w1', content: '22 °C, clear' },
    ]);
  });

  it('continues a stored conversation with previous_response_id (instructions are not carried over)', async () => {
    const gw = await start();
    fx.double.script('p', { toolCall: { name: 'get_weather', arguments: '{"city":"Oslo"}', id: 'call_o1' } }, { content: 'Cold.' }, { content: 'You asked about Oslo.' });
    const c = client(gw.url);
    const first = await c.responses.create({ model: 'gw-coder', instructions: 'Be brief.', input: 'Weather in Oslo?', tools: [weather] });
    const second = await c.responses.create({
      model: 'gw-coder', previous_response_id: first.id, tools: [weather],
      input: [{ type: 'function_call_output', call_id: 'call_o1', output: '-5 °C' }],
    });
    expect(second.output_text).toBe('Cold.');
    expect(second.previous_response_id).toBe(first.id);
    expect(sent(1).messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_o1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_o1', content: '-5 °C' },
    ]);
    const third = await c.responses.create({ model: 'gw-coder', previous_response_id: second.id, input: 'What did I ask?' });
    expect(third.output_text).toBe('You asked about Oslo.');
    expect(sent(2).messages.at(-2)).toEqual({ role: 'assistant', content: 'Cold.' });
    expect(sent(2).messages.at(-1)).toEqual({ role: 'user', content: 'What did I ask?' });
  });

  it('several function calls in one answer, as items in order', async () => {
    const gw = await start();
    fx.double.script('p', { toolCallList: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'c1' }, { name: 'get_weather', arguments: '{"city":"Rome"}', id: 'c2' }] });
    const r = await client(gw.url).responses.create({ model: 'gw-coder', input: 'Paris and Rome?', tools: [weather] });
    expect(r.output.map((o) => (o.type === 'function_call' ? [o.call_id, o.arguments] : o.type))).toEqual([['c1', '{"city":"Paris"}'], ['c2', '{"city":"Rome"}']]);
    expect(new Set(r.output.map((o) => o.id)).size).toBe(2);
  });

  it('incomplete when the upstream stopped at its token limit', async () => {
    const gw = await start();
    fx.double.script('p', { content: 'Once upon a', finishReason: 'length' });
    const r = await client(gw.url).responses.create({ model: 'gw-coder', input: 'A story', max_output_tokens: 3 });
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });
});

describe('what the gateway does for chat applies', () => {
  it('quotas and stats count the tokens of the translated answer; metrics and the log line name /v1/responses', async () => {
    const gw = await start({}, { rate_limit: { requests_per_period: 100, tokens_per_period: 100_000 } });
    const r = await client(gw.url).responses.create({ model: 'gpt-4.1', input: 'Count me' });
    const final = await client(gw.url).responses.stream({ model: 'gw-coder', input: 'And me' }).finalResponse();
    const stats = await call(`${gw.url}/admin/stats`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    const p = (stats.json as Record<string, Record<string, { requests: number; tokens: number; tokens_estimated: boolean }>>)['gw-coder']!.p!;
    expect(p).toMatchObject({ requests: 2, tokens: r.usage!.total_tokens + final.usage!.total_tokens, tokens_estimated: false });
    const metrics = (await call(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } })).text;
    expect(metrics).toMatch(/gateway_requests_total\{endpoint="\/v1\/responses",model="gw-coder",provider="p",status="200",stream="false"\} 1/);
    expect(metrics).toMatch(/gateway_requests_total\{endpoint="\/v1\/responses",model="gw-coder",provider="p",status="200",stream="true"\} 1/);
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && gw.logs.filter((l) => l.path === '/v1/responses').length < 2) await new Promise((res) => setTimeout(res, 10));
    expect(gw.logs.filter((l) => l.path === '/v1/responses').map((l) => l.model)).toEqual(['gw-coder', 'gw-coder']);
  });

  it('Codex\'s hosted tools are dropped with a log line, not refused', async () => {
    const gw = await start();
    const r = await client(gw.url).responses.create({
      model: 'gw-coder', input: 'hi', store: false,
      tools: [weather, { type: 'web_search' } as never],
    });
    expect(r.status).toBe('completed');
    expect((sent().tools as unknown[]).length).toBe(1);
    expect(gw.logText()).toContain('Dropped what a chat provider cannot run: web_search');
  });
});

describe('responses.stream', () => {
  it('streams the real event sequence with increasing sequence numbers; finalResponse() is whole', async () => {
    const gw = await start();
    fx.double.script('p', { content: 'Hello there, friend' });
    const stream = client(gw.url).responses.stream({ model: 'gw-coder', input: 'hi' });
    const events: ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const final = await stream.finalResponse();
    expect(events.map((e) => e.type)).toEqual([
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      ...events.filter((e) => e.type === 'response.output_text.delta').map(() => 'response.output_text.delta'),
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
    expect(events.filter((e) => e.type === 'response.output_text.delta').length).toBeGreaterThan(1);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(final.output_text).toBe('Hello there, friend');
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
    expect(final.id).toMatch(/^resp_/);
    expect(events.every((e) => !('response' in e) || e.response.id === final.id)).toBe(true);
    const sentBody = sent();
    expect(sentBody).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('streams several function calls: added, argument deltas, done, item done, each with its own output_index', async () => {
    const gw = await start();
    fx.double.script('p', { toolCallList: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'c1' }, { name: 'get_weather', arguments: '{"city":"Rome"}', id: 'c2' }] });
    const stream = client(gw.url).responses.stream({ model: 'gw-coder', input: 'Paris and Rome?', tools: [weather] });
    const events: ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const final = await stream.finalResponse();
    const done = events.filter((e): e is Extract<ResponseStreamEvent, { type: 'response.function_call_arguments.done' }> => e.type === 'response.function_call_arguments.done');
    expect(done.map((e) => [e.output_index, e.arguments])).toEqual([[0, '{"city":"Paris"}'], [1, '{"city":"Rome"}']]);
    const itemsDone = events.filter((e) => e.type === 'response.output_item.done');
    expect(itemsDone).toHaveLength(2);
    const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta') as Array<{ output_index: number; delta: string }>;
    expect(deltas.filter((d) => d.output_index === 1).map((d) => d.delta).join('')).toBe('{"city":"Rome"}');
    expect(final.output.map((o) => o.type === 'function_call' && o.call_id)).toEqual(['c1', 'c2']);
  });

  it('a stream that breaks after its start ends with response.failed', async () => {
    const gw = await start();
    fx.double.script('p', { chunks: 6, dropAfterChunks: 3 });
    const r = await call(`${gw.url}/v1/responses`, { body: { model: 'gw-coder', input: 'hi', stream: true }, headers: { authorization: `Bearer ${KEY}` } });
    const types = [...r.text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.failed');
    expect(types).not.toContain('response.completed');
    const last = JSON.parse(r.text.trim().split('\n').at(-1)!.slice(6)) as { response: { status: string; error: { code: string } } };
    expect(last.response.status).toBe('failed');
    expect(last.response.error.code).toBe('server_error');
  });

  it('a provider that only answers JSON still gives the client a stream', async () => {
    const gw = await start({}, { stream_support: false });
    fx.double.script('p', { content: 'Folded answer' });
    const final = await client(gw.url).responses.stream({ model: 'gw-coder', input: 'hi' }).finalResponse();
    expect(final.output_text).toBe('Folded answer');
    expect(sent().stream).toBeUndefined();
  });
});

describe('stored responses', () => {
  it('retrieve returns the stored response; delete removes it; both 404 afterwards', async () => {
    const gw = await start();
    const c = client(gw.url);
    const r = await c.responses.create({ model: 'gw-coder', input: 'hi' });
    const got = await c.responses.retrieve(r.id);
    expect(got.id).toBe(r.id);
    expect(got.output_text).toBe(r.output_text);
    await c.responses.delete(r.id);
    await expect(c.responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(c.responses.delete(r.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(c.responses.create({ model: 'gw-coder', input: 'more', previous_response_id: r.id })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('store: false keeps nothing', async () => {
    const gw = await start();
    const c = client(gw.url);
    const r = await c.responses.create({ model: 'gw-coder', input: 'hi', store: false });
    await expect(c.responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a streamed response is stored by the time the stream has ended', async () => {
    const gw = await start();
    const c = client(gw.url);
    const final = await c.responses.stream({ model: 'gw-coder', input: 'hi' }).finalResponse();
    expect((await c.responses.retrieve(final.id)).output_text).toBe(final.output_text);
  });

  it('unknown ids are 404 in OpenAI format', async () => {
    const gw = await start();
    const r = await call(`${gw.url}/v1/responses/resp_0123456789abcdef0123456789abcdef`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ error: { type: 'invalid_request_error', code: 'response_not_found' } });
    const odd = await call(`${gw.url}/v1/responses/not-an-id`, { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    expect(odd.status).toBe(404);
  });
});

describe('errors', () => {
  it('a malformed request is a 400 naming the field, in OpenAI format', async () => {
    const gw = await start();
    const c = client(gw.url);
    const e = await c.responses.create({ model: 'gw-coder', input: [{ type: 'bogus_item' } as unknown as ResponseInputItem] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(APIError);
    expect((e as APIError).status).toBe(400);
    expect((e as APIError).param).toBe('input[0].type');
    const r = await call(`${gw.url}/v1/responses`, { body: { model: 'gw-coder', input: 'x', temperature: 'hot' }, headers: { authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { param: 'temperature', type: 'invalid_request_error' } });
  });

  it('unknown model 404, wrong key 401, upstream 400 passed on scrubbed', async () => {
    const gw = await start();
    await expect(client(gw.url).responses.create({ model: 'nope', input: 'x' })).rejects.toMatchObject({ status: 404 });
    await expect(client(gw.url, 'wrong').responses.create({ model: 'gw-coder', input: 'x' })).rejects.toMatchObject({ status: 401 });
    fx.double.script('p', { status: 400, body: { error: { message: 'bad things at http://10.0.0.1/x with sk-abcdefabcdefabcdefabcdef', type: 'invalid_request_error', param: null, code: null } } });
    const e = (await client(gw.url).responses.create({ model: 'gw-coder', input: 'x' }).catch((err: unknown) => err)) as APIError;
    expect(e.status).toBe(400);
    expect(e.message).not.toContain('10.0.0.1');
    expect(e.message).not.toContain('sk-abcdef');
  });

  it('every provider failing is a 502 the client sees as an APIError', async () => {
    const gw = await start();
    fx.double.script('p', { status: 503 });
    fx.double.script('q', { status: 503 });
    await expect(client(gw.url).responses.create({ model: 'gw-coder', input: 'x' })).rejects.toMatchObject({ status: 502 });
  });
});
