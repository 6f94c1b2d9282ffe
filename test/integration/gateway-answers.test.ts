import { Readable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const simple = (global: Record<string, unknown> = {}) => ({
  _global: global,
  m: { providers: [provider('p', fx.double.url('p'))] },
  off: { providers: [provider('p', fx.double.url('p'), { enabled: false })] },
});

function expectOpenAiError(r: { json: any }, code: string): void {
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(r.json.error.code).toBe(code);
  expect(typeof r.json.error.message).toBe('string');
}

describe('malformed requests get 400 in OpenAI format', () => {
  it.each([
    ['not JSON', '{"model": "m", messages: ['],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"hello"'],
    ['an empty body', ''],
  ])('%s', async (_name, raw) => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/v1/chat/completions`, { raw, method: 'POST' });
    expect(r.status).toBe(400);
    expect(r.json.error.type).toBe('invalid_request_error');
    expect(fx.double.received('p')).toHaveLength(0);
  });

  it.each([
    ['no model', { messages: [] }, 'model'],
    ['model not a string', { model: 5, messages: [] }, 'model'],
    ['messages not an array', { model: 'm', messages: {} }, 'messages'],
    ['stream not a boolean', { model: 'm', messages: [], stream: 'yes' }, 'stream'],
  ])('%s', async (_name, body, param) => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/v1/chat/completions`, { body });
    expect(r.status).toBe(400);
    expectOpenAiError(r, 'invalid_request');
    expect(r.json.error.param).toBe(param);
  });

  it('415 for a body that is not sent as JSON (a cross-site form can send text/plain), 200 with a charset', async () => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/v1/chat/completions`, { raw: JSON.stringify(chat('m')), method: 'POST', headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(415);
    expectOpenAiError(r, 'unsupported_media_type');
    expect(fx.double.received('p')).toHaveLength(0);
    const ok = await call(`${gw.url}/v1/chat/completions`, { raw: JSON.stringify(chat('m')), method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(ok.status).toBe(200);
  });
});

describe('the gateway’s own answers', () => {
  it('404 model_not_found for an unknown model', async () => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('nope') });
    expect(r.status).toBe(404);
    expectOpenAiError(r, 'model_not_found');
    expect(r.json.error.param).toBe('model');
  });

  it('404 in JSON for an unknown path or a wrong method', async () => {
    gw = await fx.gateway(simple());
    const a = await call(`${gw.url}/v1/nothing`);
    expect(a.status).toBe(404);
    expectOpenAiError(a, 'not_found');
    const b = await call(`${gw.url}/v1/chat/completions`, { method: 'GET' });
    expect(b.status).toBe(404);
    expectOpenAiError(b, 'not_found');
  });

  it('413 for a body over max_body_bytes, declared or streamed', async () => {
    gw = await fx.gateway(simple({ max_body_bytes: 1000 }));
    const big = JSON.stringify(chat('m', { pad: 'x'.repeat(2000) }));
    const r = await call(`${gw.url}/v1/chat/completions`, { raw: big, method: 'POST' });
    expect(r.status).toBe(413);
    expectOpenAiError(r, 'request_too_large');
    // Chunked, with no Content-Length: cut off once it grows past the limit.
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.from([Buffer.from(big.slice(0, 800)), Buffer.from(big.slice(800))]),
    });
    expect(res.statusCode).toBe(413);
    expect((await res.body.json()) as any).toMatchObject({ error: { code: 'request_too_large' } });
    expect(fx.double.received('p')).toHaveLength(0);
    const ok = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(ok.status).toBe(200);
  });

  it('503 when every provider of the model is disabled', async () => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('off') });
    expect(r.status).toBe(503);
    expectOpenAiError(r, 'no_provider_available');
  });

  it('/v1/models lists the models that have an enabled provider', async () => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/v1/models`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ object: 'list', data: [{ id: 'm', object: 'model', created: 0, owned_by: 'api-gateway' }] });
  });

  it('/health answers 200', async () => {
    gw = await fx.gateway(simple());
    const r = await call(`${gw.url}/health`);
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('ok');
  });
});

describe('request ids', () => {
  it('keeps the client’s x-request-id and makes one otherwise', async () => {
    gw = await fx.gateway(simple());
    const mine = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { 'x-request-id': 'client-id-42' } });
    expect(mine.headers['x-request-id']).toBe('client-id-42');
    const made = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const onError = await call(`${gw.url}/v1/chat/completions`, { body: chat('nope') });
    expect(onError.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await call(`${gw.url}/v1/models`, { headers: { 'x-request-id': 'a b\tc' } });
    expect(hostile.headers['x-request-id']).not.toBe('a b\tc');
  });
});

describe('gateway key', () => {
  const key = 'gw-secret-key-0123456789';
  it('guards every endpoint but /health, by Bearer or x-api-key, never by query string', async () => {
    gw = await fx.gateway(simple({ api_key: key }));
    const none = await call(`${gw.url}/v1/models`);
    expect(none.status).toBe(401);
    expectOpenAiError(none, 'invalid_api_key');
    const wrong = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual(none.json);
    expect((await call(`${gw.url}/v1/models?api_key=${key}`)).status).toBe(401);
    expect((await call(`${gw.url}/v1/models?key=${key}`)).status).toBe(401);
    expect((await call(`${gw.url}/v1/nothing`)).status).toBe(401);
    expect((await call(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect((await call(`${gw.url}/v1/models`, { headers: { 'x-api-key': key } })).status).toBe(200);
    expect((await call(`${gw.url}/health`)).status).toBe(200);
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { authorization: `Bearer ${key}` } });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(key);
  });

  it('no key configured: open', async () => {
    gw = await fx.gateway(simple());
    expect((await call(`${gw.url}/v1/models`)).status).toBe(200);
  });
});
