import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat, type Answer } from '../helpers/http.js';
import { rawExchange, statusOf } from '../helpers/raw.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

/** The shipped setup: no key at all. */
const noKey = () => ({ m: { providers: [provider('p', fx.double.url('p'), { rate_limit: { requests_per_period: 10 } })] } });

function fromFile(raw: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-cross-site-')), 'provider.json');
  writeFileSync(path, JSON.stringify(raw));
  return path;
}

function expectError(r: Answer, status: number, code: string): void {
  expect(r.status).toBe(status);
  expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(r.json.error.code).toBe(code);
}

/** Requests made by `url`'s gateway: 1 request of m/p counted after one chat. */
async function usedRequests(g: RunningGateway): Promise<number> {
  return (await call(`${g.url}/admin/stats`)).json.m.p.requests;
}

describe('only JSON bodies are accepted', () => {
  it.each([
    ['text/plain', '{"model":"m"}'],
    ['text/plain;charset=UTF-8', '{"model":"m"}'],
    ['application/x-www-form-urlencoded', 'model=m'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--x--\r\n'],
    ['application/jsonp', '{"model":"m"}'],
  ])('a POST with Content-Type %s gets 415 and changes nothing', async (type, raw) => {
    gw = await fx.gateway(noKey());
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    for (const path of ['/admin/usage/reset', '/admin/reload', '/v1/chat/completions']) {
      const r = await call(`${gw.url}${path}`, { method: 'POST', raw, headers: { 'content-type': type } });
      expectError(r, 415, 'unsupported_media_type');
      expect(r.json.error.message).toContain('application/json');
    }
    expect(await usedRequests(gw)).toBe(1);
    expect(fx.double.received('p')).toHaveLength(1);
  });

  it('a body with no Content-Type gets 415; a POST with no body needs none', async () => {
    gw = await fx.gateway(noKey());
    const p = Number(new URL(gw.url).port);
    const body = JSON.stringify(chat('m'));
    const r = await rawExchange(p, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(statusOf(r.text)).toBe(415);
    const empty = await rawExchange(p, 'POST /admin/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    expect(statusOf(empty.text)).toBe(400); // not 415: this gateway has no file to reload, and says so
    expect(empty.text).toContain('not started from a configuration file');
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON', ' application/json ;charset=UTF-8', 'application/vnd.api+json'])(
    'Content-Type %j is JSON',
    async (type) => {
      gw = await fx.gateway(noKey());
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { 'content-type': type } });
      expect(r.status).toBe(200);
    },
  );

  it('the official openai client sends JSON', async () => {
    gw = await fx.gateway(noKey());
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from p');
    expect(String(fx.double.received('p')[0]!.headers['content-type'])).toContain('application/json');
  });
});

describe('browser requests from another site are refused', () => {
  const attempts: Array<[string, Record<string, string>]> = [
    ['an Origin of another site', { origin: 'http://evil.example' }],
    ['an Origin of another port of the same host', { origin: 'http://127.0.0.1:1' }],
    ['Origin: null (a sandboxed page)', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
    ['Sec-Fetch-Site: cross-site with a matching Origin', { 'sec-fetch-site': 'cross-site', origin: 'SELF' }],
  ];
  it.each(attempts)('%s gets 403 for every write, key or no key, JSON or not', async (_name, given) => {
    gw = await fx.gateway(noKey());
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    const headers = Object.fromEntries(Object.entries(given).map(([k, v]) => [k, v === 'SELF' ? gw!.url : v]));
    for (const [path, raw, type] of [
      ['/admin/usage/reset', '{"model":"m"}', 'text/plain'],
      ['/admin/usage/reset', '{"model":"m"}', 'application/json'],
      ['/admin/reload', undefined, undefined],
      ['/v1/chat/completions', JSON.stringify(chat('m')), 'application/json'],
    ] as const) {
      const r = await call(`${gw.url}${path}`, { method: 'POST', ...(raw ? { raw } : {}), headers: { ...headers, ...(type ? { 'content-type': type } : {}) } });
      expectError(r, 403, 'cross_site_request');
    }
    expect(await usedRequests(gw)).toBe(1);
    expect(fx.double.received('p')).toHaveLength(1);
  });

  it('a cross-site request gets 403 even when a key is set, before the key is checked', async () => {
    gw = await fx.gateway({ _global: { api_key: 'gw-key-cross-site-1' }, ...noKey() });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { origin: 'https://evil.example', authorization: 'Bearer gw-key-cross-site-1' } });
    expectError(r, 403, 'cross_site_request');
  });

  it('reads from another site are left to the browser (no CORS header lets the page see them)', async () => {
    gw = await fx.gateway(noKey());
    const r = await call(`${gw.url}/v1/models`, { headers: { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('same-origin requests, as the dashboard sends them, still work', () => {
  it('reload and usage reset from the gateway’s own page', async () => {
    gw = await fx.gatewayFromFile(fromFile(noKey()));
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(await usedRequests(gw)).toBe(1);
    // What a browser sends for the dashboard's fetch() calls (web/app.ts).
    const page = { origin: gw.url, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' };
    const reload = await call(`${gw.url}/admin/reload`, { method: 'POST', headers: { ...page, 'content-length': '0' } });
    expect(reload.status).toBe(200);
    expect(reload.json.status).toBe('reloaded');
    const reset = await call(`${gw.url}/admin/usage/reset`, { body: { model: 'm' }, headers: page });
    expect(reset.status).toBe(200);
    expect(await usedRequests(gw)).toBe(0);
  });

  it('a browser without Sec-Fetch-Site is judged by Origin against Host (or X-Forwarded-Host)', async () => {
    gw = await fx.gatewayFromFile(fromFile(noKey()));
    const own = await call(`${gw.url}/admin/reload`, { method: 'POST', headers: { origin: gw.url } });
    expect(own.status).toBe(200);
    const proxied = await call(`${gw.url}/admin/reload`, { method: 'POST', headers: { origin: 'https://gateway.example.com', 'x-forwarded-host': 'gateway.example.com' } });
    expect(proxied.status).toBe(200);
    const defaultPort = await call(`${gw.url}/admin/reload`, { method: 'POST', headers: { origin: 'https://gateway.example.com', 'x-forwarded-host': 'gateway.example.com:443' } });
    expect(defaultPort.status).toBe(200);
  });

  it('behind a proxy that rewrites Host, Sec-Fetch-Site: same-origin is trusted (pages cannot set it)', async () => {
    gw = await fx.gatewayFromFile(fromFile(noKey()));
    const r = await call(`${gw.url}/admin/reload`, { method: 'POST', headers: { origin: 'https://gateway.example.com', 'sec-fetch-site': 'same-origin' } });
    expect(r.status).toBe(200);
  });
});
