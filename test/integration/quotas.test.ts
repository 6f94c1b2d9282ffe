import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { configFrom, provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

const fx = useUpstreamDouble();
const gateway = fx.gateway;
const redisUrl = inject('redisUrl');

const limited = (rate_limit: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  _global: { default_retry: 0 },
  m: { providers: [provider('p', fx.double.url('p'), { rate_limit, ...extra })] },
});

describe('request quotas are exact under concurrency', () => {
  it('one instance: 100 concurrent requests against a quota of 20 give exactly 20 answers', async () => {
    const gw = await gateway(limited({ requests_per_period: 20 }));
    fx.double.script('p', { delayMs: 50, times: 100 });
    const answers = await Promise.all(Array.from({ length: 100 }, () => call(`${gw.url}/v1/chat/completions`, { body: chat('m') })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(80);
    expect(fx.double.received('p')).toHaveLength(20);
    const stats = await call(`${gw.url}/admin/stats`);
    expect(stats.json.m.p.requests).toBe(20);
  });

  it.skipIf(!redisUrl)('two instances sharing Redis: 100 concurrent requests against a quota of 20 give exactly 20 answers', async () => {
    const prefix = `test-${randomUUID()}:`;
    const a = await gateway(limited({ requests_per_period: 20 }), { store: new RedisStore(redisUrl!, prefix) });
    const b = await gateway(limited({ requests_per_period: 20 }), { store: new RedisStore(redisUrl!, prefix) });
    await new Promise((r) => setTimeout(r, 100));
    fx.double.script('p', { delayMs: 50, times: 100 });
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call(`${(i % 2 ? a : b).url}/v1/chat/completions`, { body: chat('m') })),
    );
    expect(answers.filter((x) => x.status === 200)).toHaveLength(20);
    expect(answers.filter((x) => x.status === 429)).toHaveLength(80);
    expect(fx.double.received('p')).toHaveLength(20);
    // Both instances show the same truth.
    expect((await call(`${a.url}/admin/stats`)).json.m.p.requests).toBe(20);
    expect((await call(`${b.url}/admin/stats`)).json.m.p.requests).toBe(20);
  });

  it('a failed request gives its reservation back: failures never use up the quota', async () => {
    const gw = await gateway(limited({ requests_per_period: 2 }));
    fx.double.script('p', { status: 500, times: 5 });
    for (let i = 0; i < 5; i++) expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(502);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(429);
  });

  it('a client error returned unchanged does not count either', async () => {
    const gw = await gateway(limited({ requests_per_period: 1 }));
    fx.double.script('p', { status: 400 });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(400);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
  });
});

describe('routing with quotas', () => {
  it('skips an exhausted provider for the next one, then answers 429 with Retry-After until the earliest reset', async () => {
    const now = Date.parse('2026-11-27T23:00:00Z');
    const gw = await gateway({
      m: {
        providers: [
          provider('daily', fx.double.url('daily'), { rate_limit: { requests_per_period: 1, period_cron: '0 0 * * *' } }),
          provider('half-hourly', fx.double.url('half-hourly'), { priority: 2, rate_limit: { requests_per_period: 1, period_cron: '*/30 * * * *' } }),
        ],
      },
    }, { now: () => now });
    const first = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(first.headers['x-gateway-provider']).toBe('daily');
    const second = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(second.headers['x-gateway-provider']).toBe('half-hourly');
    const third = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(third.status).toBe(429);
    expect(third.json.error).toMatchObject({ type: 'rate_limit_error', code: 'quota_exceeded' });
    // The half-hourly quota resets at 23:30: 1800 s away.
    expect(third.headers['retry-after']).toBe('1800');
  });

  it('a token quota: once the tokens are used up the provider is skipped', async () => {
    const gw = await gateway(limited({ tokens_per_period: 15 }));
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    const stats = (await call(`${gw.url}/admin/stats`)).json.m.p;
    expect(stats.tokens).toBeGreaterThanOrEqual(15);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(429);
  });

  it('a new period starts by itself: counters are keyed by the period start', async () => {
    let now = Date.parse('2026-11-27T23:59:00Z');
    const gw = await gateway(limited({ requests_per_period: 1 }), { now: () => now });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(429);
    now = Date.parse('2026-11-28T00:00:00Z');
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
  });

  it('skips providers whose max_context_length the prompt exceeds; none fits: 400 context_length_exceeded', async () => {
    const gw = await gateway({
      _global: { default_retry: 0 },
      m: { providers: [provider('small', fx.double.url('small'), { max_context_length: 50 }), provider('big', fx.double.url('big'), { priority: 2, max_context_length: 5000 })] },
      tiny: { providers: [provider('small', fx.double.url('small'), { max_context_length: 50 })] },
    });
    const longPrompt = chat('m', { messages: [{ role: 'user', content: 'word '.repeat(300) }] });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: longPrompt });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('big');
    expect(fx.double.received('small')).toHaveLength(0);
    const short = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(short.headers['x-gateway-provider']).toBe('small');
    const none = await call(`${gw.url}/v1/chat/completions`, { body: { ...longPrompt, model: 'tiny' } });
    expect(none.status).toBe(400);
    expect(none.json.error.code).toBe('context_length_exceeded');
  });
});

describe('token counting', () => {
  it('adds the reported tokens of JSON and streamed answers, and estimated ones marked so', async () => {
    const gw = await gateway(limited({ requests_per_period: 100 }));
    const json = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    await new Promise((r) => setTimeout(r, 20));
    let stats = (await call(`${gw.url}/admin/stats`)).json.m.p;
    // The double reports the same usage for both: prompt tokens + 3.
    expect(stats.requests).toBe(2);
    expect(stats.tokens).toBe(json.json.usage.total_tokens * 2);
    expect(stats.tokens_estimated).toBe(false);
    fx.double.script('p', { usage: false });
    await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    await new Promise((r) => setTimeout(r, 20));
    stats = (await call(`${gw.url}/admin/stats`)).json.m.p;
    expect(stats.tokens).toBeGreaterThan(json.json.usage.total_tokens * 2);
    expect(stats.tokens_estimated).toBe(true);
  });
});

describe('admin', () => {
  it('/admin/stats in the first version’s format', async () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    const gw = await gateway({
      a: { providers: [provider('x', fx.double.url('x'), { rate_limit: { requests_per_period: 10, tokens_per_period: 1000, period_cron: '0 */6 * * *' } })] },
      b: { providers: [provider('y', fx.double.url('y'))] },
    }, { now: () => now, tz: 'Asia/Shanghai' });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('a') });
    const stats = await call(`${gw.url}/admin/stats`);
    expect(stats.status).toBe(200);
    expect(stats.json).toEqual({
      a: { x: { requests: 1, tokens: expect.any(Number), last_reset: '2026-11-27T18:00:00+08:00', limit_requests: 10, limit_tokens: 1000, tokens_estimated: false, cost: null, interrupted_streams: 0 } },
      b: { y: { requests: 0, tokens: 0, last_reset: '2026-11-27T00:00:00+08:00', limit_requests: null, limit_tokens: null, tokens_estimated: false, cost: null, interrupted_streams: 0 } },
    });
  });

  it('/admin/providers/<model> shows usage, remaining quota and the next reset', async () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    const gw = await gateway(limited({ requests_per_period: 5, tokens_per_period: 10000 }), { now: () => now });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    const p = (await call(`${gw.url}/admin/providers/m`)).json.providers[0];
    expect(p.usage).toMatchObject({
      requests: 1, limit_requests: 5, remaining_requests: 4, limit_tokens: 10000,
      period_start: '2026-11-27T00:00:00+00:00', next_reset: '2026-11-28T00:00:00+00:00',
    });
    expect(p.usage.remaining_tokens).toBe(10000 - p.usage.tokens);
  });

  it('POST /admin/usage/reset resets a provider or a whole model by hand', async () => {
    const gw = await gateway({
      m: { providers: [provider('p', fx.double.url('p'), { rate_limit: { requests_per_period: 1 } }), provider('q', fx.double.url('q'), { priority: 2 })] },
    });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    let stats = (await call(`${gw.url}/admin/stats`)).json.m;
    expect([stats.p.requests, stats.q.requests]).toEqual([1, 1]);
    const one = await call(`${gw.url}/admin/usage/reset`, { body: { model: 'm', provider: 'p' } });
    expect(one.json).toEqual({ reset: [{ model: 'm', provider: 'p' }] });
    stats = (await call(`${gw.url}/admin/stats`)).json.m;
    expect([stats.p.requests, stats.q.requests]).toEqual([0, 1]);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('p');
    await call(`${gw.url}/admin/usage/reset`, { body: { model: 'm' } });
    stats = (await call(`${gw.url}/admin/stats`)).json.m;
    expect([stats.p.requests, stats.q.requests]).toEqual([0, 0]);
    expect((await call(`${gw.url}/admin/usage/reset`, { body: { model: 'nope' } })).status).toBe(404);
    expect((await call(`${gw.url}/admin/usage/reset`, { body: { model: 'm', provider: 'zz' } })).status).toBe(404);
    expect((await call(`${gw.url}/admin/usage/reset`, { body: {} })).status).toBe(400);
    expect(gw.logText()).toContain('Reset usage for m/p by hand');
  });
});

describe('periods and reloads', () => {
  it('logs `Reset usage` for each limited provider at each boundary', async () => {
    let now = Date.parse('2026-11-27T23:59:59Z');
    const gw = await gateway({
      m: { providers: [provider('p', fx.double.url('p'), { rate_limit: { requests_per_period: 5 } }), provider('free', fx.double.url('free'))] },
    }, { now: () => now });
    expect(gw.logText()).not.toContain('Reset usage');
    now = Date.parse('2026-11-28T00:00:01Z');
    gw.state.quota.tick();
    const resets = gw.logs.filter((l) => String(l.msg).startsWith('Reset usage'));
    expect(resets.map((l) => l.provider)).toEqual(['m/p']);
    gw.state.quota.tick();
    expect(gw.logs.filter((l) => String(l.msg).startsWith('Reset usage'))).toHaveLength(1);
  });

  it('a reload keeps the counters of unchanged model/provider names and applies new limits at once', async () => {
    const gw = await gateway(limited({ requests_per_period: 5 }));
    for (let i = 0; i < 3; i++) await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    gw.state.swap(configFrom(limited({ requests_per_period: 3 })));
    expect((await call(`${gw.url}/admin/stats`)).json.m.p).toMatchObject({ requests: 3, limit_requests: 3 });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(429);
    gw.state.swap(configFrom(limited({ requests_per_period: 4 })));
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
  });
});

describe('when the shared store is unreachable', () => {
  it('/health says 503; providers without a quota still serve (to the master key); a model whose providers all have quotas gets 503', async () => {
    // Virtual keys cannot be read either: only the master key is known, so requests without it
    // are refused (503) rather than served unchecked.
    const master = { authorization: 'Bearer master-key-of-this-test' };
    const gw = await gateway({
      _global: { api_key: 'master-key-of-this-test' },
      free: { providers: [provider('f', fx.double.url('f'))] },
      capped: { providers: [provider('c', fx.double.url('c'), { rate_limit: { requests_per_period: 10 } })] },
    }, { store: new RedisStore('redis://127.0.0.1:1') });
    const health = await call(`${gw.url}/health`);
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'unavailable', store: 'redis' });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('free'), headers: master })).status).toBe(200);
    const unchecked = await call(`${gw.url}/v1/chat/completions`, { body: chat('free'), headers: { authorization: 'Bearer sk-gw-maybe-a-virtual-key' } });
    expect(unchecked.status).toBe(503);
    expect(unchecked.json.error.code).toBe('usage_store_unavailable');
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('free') })).status).toBe(503);
    const capped = await call(`${gw.url}/v1/chat/completions`, { body: chat('capped'), headers: master });
    expect(capped.status).toBe(503);
    expect(capped.json.error.code).toBe('usage_store_unavailable');
    expect(fx.double.received('c')).toHaveLength(0);
  });
});
