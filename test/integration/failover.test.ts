import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

/** primary (priority 1) and backup (priority 2) on the double. */
function twoTier(primaryExtra: Record<string, unknown> = {}, backupExtra: Record<string, unknown> = {}, global: Record<string, unknown> = {}) {
  return {
    _global: { default_retry: 2, ...global },
    m: { providers: [provider('primary', fx.double.url('primary'), { priority: 1, ...primaryExtra }), provider('backup', fx.double.url('backup'), { priority: 2, ...backupExtra })] },
  };
}

const count = (name: string): number => fx.double.received(name).length;

describe('priority tiers', () => {
  it('sends every request to the lowest priority number while it answers', async () => {
    gw = await fx.gateway(twoTier());
    for (let i = 0; i < 5; i++) {
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
      expect(r.status).toBe(200);
      expect(r.headers['x-gateway-provider']).toBe('primary');
      expect(r.headers['x-gateway-tries']).toBe('1');
      expect(r.json.choices[0].message.content).toBe('Hello from primary');
    }
    expect(count('primary')).toBe(5);
    expect(count('backup')).toBe(0);
  });
});

describe('retries on 5xx, network errors and timeouts', () => {
  it('retries a 5xx on the same provider `retry` times (retry: 2 = 3 tries), then switches', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { status: 503, times: 3 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(r.headers['x-gateway-tries']).toBe('4');
    expect(count('primary')).toBe(3);
    expect(count('backup')).toBe(1);
  });

  it('stays on the provider when a retry succeeds', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { status: 500 }, { status: 502 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('primary');
    expect(r.headers['x-gateway-tries']).toBe('3');
    expect(count('backup')).toBe(0);
  });

  it('uses the provider retry over default_retry', async () => {
    gw = await fx.gateway(twoTier({ retry: 0 }));
    fx.double.script('primary', { status: 500, times: 5 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(count('primary')).toBe(1);
  });

  it('retries a reset connection', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { reset: true });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('primary');
    expect(count('primary')).toBe(2);
  });

  it('gives up on a provider that does not answer within its timeout', async () => {
    gw = await fx.gateway(twoTier({ timeout: 1, retry: 0 }));
    fx.double.script('primary', { hang: true });
    const started = Date.now();
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const switched = gw.logs.find((l) => String(l.msg).startsWith('Switching provider'));
    expect(switched?.reason).toBe('timeout');
  });

  it('treats a 200 with HTML or invalid JSON as a failed try', async () => {
    gw = await fx.gateway(twoTier({ retry: 1 }));
    fx.double.script('primary', { html: true }, { invalidJson: true });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(r.json.choices[0].message.content).toBe('Hello from backup');
    expect(count('primary')).toBe(2);
  });
});

describe('statuses that switch at once or go back to the client', () => {
  it.each([401, 403, 429])('switches provider at once on %i', async (status) => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { status });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(count('primary')).toBe(1);
  });

  it.each([400, 404, 422])('returns %i with the upstream body unchanged, without switching', async (status) => {
    gw = await fx.gateway(twoTier());
    const body = { error: { message: 'bad temperature', type: 'invalid_request_error', param: 'temperature', code: null } };
    fx.double.script('primary', { status, body });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(status);
    expect(r.json).toEqual(body);
    expect(r.headers['x-gateway-provider']).toBe('primary');
    expect(count('primary')).toBe(1);
    expect(count('backup')).toBe(0);
  });

  it('never follows a redirect: the key does not travel to the other host', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { redirect: `${fx.double.url('attacker')}/chat/completions` });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(count('attacker')).toBe(0);
    expect(count('primary')).toBe(1);
  });
});

describe('when no provider is left', () => {
  it('answers 502 listing each provider tried with its statuses, never a key or host', async () => {
    gw = await fx.gateway(twoTier({ retry: 1 }, { retry: 0 }));
    fx.double.script('primary', { status: 503, times: 2 });
    fx.double.script('backup', { status: 401 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(502);
    expect(r.json.error.type).toBe('upstream_error');
    expect(r.json.error.code).toBe('all_providers_failed');
    expect(r.json.error.message).toContain('primary (503, 503)');
    expect(r.json.error.message).toContain('backup (401)');
    expect(r.text).not.toContain('127.0.0.1');
    expect(r.text).not.toContain(String(fx.double.port));
    expect(r.text).not.toContain('sk-test');
  });

  it('names a refused connection without the address', async () => {
    gw = await fx.gateway({ m: { providers: [provider('gone', 'http://127.0.0.1:9/v1', { retry: 0 })] } });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(502);
    expect(r.json.error.message).toContain('gone (connection refused)');
    expect(r.text).not.toContain('127.0.0.1');
  });

  it('tries each provider at most once per request', async () => {
    gw = await fx.gateway({
      m: { providers: ['a', 'b', 'c'].map((n) => provider(n, fx.double.url(n), { retry: 0, priority: 1 })) },
    });
    for (const n of ['a', 'b', 'c']) fx.double.script(n, { status: 429, times: 10 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    // Each said 429: the client gets a 429 it can wait out, not a 502 (SPEC §9).
    expect(r.status).toBe(429);
    expect([count('a'), count('b'), count('c')]).toEqual([1, 1, 1]);
  });
});

describe('weighted round-robin', () => {
  it('splits 10:30 exactly over 40 requests, interleaved', async () => {
    gw = await fx.gateway({
      m: { providers: [provider('light', fx.double.url('light'), { weight: 10 }), provider('heavy', fx.double.url('heavy'), { weight: 30 })] },
    });
    const served: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
      served.push(String(r.headers['x-gateway-provider']));
    }
    expect(count('light')).toBe(10);
    expect(count('heavy')).toBe(30);
    // Smooth: the light provider is spread out, never twice in a row.
    expect(served.join(',')).not.toContain('light,light');
  });
});

describe('cooldown', () => {
  it('skips a failed provider for cooldown_seconds, then uses it again', async () => {
    let now = 1_000_000;
    gw = await fx.gateway(twoTier({ retry: 0 }, {}, { cooldown_seconds: 30 }), { now: () => now });
    fx.double.script('primary', { status: 500 });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('backup');
    const r2 = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r2.headers['x-gateway-provider']).toBe('backup');
    expect(r2.headers['x-gateway-tries']).toBe('1');
    expect(count('primary')).toBe(1);
    now += 30_001;
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('primary');
  });

  it('cools a 429 for its Retry-After instead', async () => {
    let now = 1_000_000;
    gw = await fx.gateway(twoTier({}, {}, { cooldown_seconds: 30 }), { now: () => now });
    fx.double.script('primary', { status: 429, retryAfter: 120 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    now += 60_000;
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('backup');
    now += 60_001;
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('primary');
  });

  it('does not cool down with cooldown_seconds 0', async () => {
    gw = await fx.gateway(twoTier({ retry: 0, cooldown_seconds: 0 }));
    fx.double.script('primary', { status: 500 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('primary');
  });

  it('still tries providers in order when every one is cooling down', async () => {
    gw = await fx.gateway(twoTier({ retry: 0 }, { retry: 0 }));
    fx.double.script('primary', { status: 500 });
    fx.double.script('backup', { status: 500 });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(502);
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('primary');
  });

  it('falls back to a cooling provider when the ready ones fail', async () => {
    gw = await fx.gateway(twoTier({ retry: 0 }, { retry: 0 }));
    fx.double.script('primary', { status: 500 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    fx.double.script('backup', { status: 500 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('primary');
    expect(r.headers['x-gateway-tries']).toBe('2');
  });
});

describe('what the upstream receives', () => {
  it('the provider key, custom headers and model; the body otherwise unchanged; no client credentials', async () => {
    gw = await fx.gateway({
      _global: { api_key: 'gw-client-key-123456' },
      m: { providers: [provider('p', fx.double.url('p'), { model: 'real-model-x', custom_headers: { 'X-Org': 'org-1', 'api-version': '2024-01' } })] },
    });
    const body = chat('m', { temperature: 0.2, user: 'u1', tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] });
    const r = await call(`${gw.url}/v1/chat/completions`, {
      body,
      headers: { authorization: 'Bearer gw-client-key-123456', 'x-api-key': 'gw-client-key-123456', cookie: 'a=b', 'x-custom-client': 'kept?' },
    });
    expect(r.status).toBe(200);
    const got = fx.double.received('p')[0]!;
    expect(got.headers.authorization).toBe('Bearer sk-test-p-secret-key');
    expect(got.headers['x-org']).toBe('org-1');
    expect(got.headers['api-version']).toBe('2024-01');
    expect(got.headers['x-api-key']).toBeUndefined();
    expect(got.headers.cookie).toBeUndefined();
    expect(JSON.stringify(got.headers)).not.toContain('gw-client-key');
    expect(got.body).toEqual({ ...body, model: 'real-model-x' });
    expect(got.path).toBe('/p/v1/chat/completions');
  });

  it('sends the same body on every try, and body fields never choose the endpoint', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { status: 500 });
    const body = chat('m', { api_base: `${fx.double.url('attacker')}`, base_url: fx.double.url('attacker') });
    await call(`${gw.url}/v1/chat/completions`, { body });
    const [first, second] = fx.double.received('primary');
    expect(first!.body).toEqual(second!.body);
    expect(count('attacker')).toBe(0);
  });

  it('proxies /v1/completions and /v1/embeddings to the matching paths', async () => {
    gw = await fx.gateway(twoTier());
    const c = await call(`${gw.url}/v1/completions`, { body: { model: 'm', prompt: 'Once upon' } });
    expect(c.status).toBe(200);
    expect(c.json.object).toBe('text_completion');
    const e = await call(`${gw.url}/v1/embeddings`, { body: { model: 'm', input: ['a', 'b'] } });
    expect(e.status).toBe(200);
    expect(e.json.data).toHaveLength(2);
    expect(fx.double.received('primary').map((x) => x.path)).toEqual(['/primary/v1/completions', '/primary/v1/embeddings']);
  });
});

describe('discarded answers', () => {
  it('consumes or closes every failed answer: connections stay few and are reused', async () => {
    gw = await fx.gateway(twoTier({ retry: 0, cooldown_seconds: 0 }));
    fx.double.script('primary', { status: 503, body: { error: { message: 'x'.repeat(1_000_000) } }, times: 60 });
    for (let i = 0; i < 60; i++) {
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
      expect(r.headers['x-gateway-provider']).toBe('backup');
    }
    // Sequential requests over keep-alive: one connection per provider would do; a leak would hold 60.
    expect(fx.double.openConnections()).toBeLessThanOrEqual(4);
  });

  it('waits for a slow first byte within the timeout', async () => {
    gw = await fx.gateway(twoTier({ timeout: 2, retry: 0 }));
    fx.double.script('primary', { delayMs: 600 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.headers['x-gateway-provider']).toBe('primary');
    expect(r.headers['x-gateway-tries']).toBe('1');
  });
});
