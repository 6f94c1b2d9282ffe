import { describe, expect, it } from 'vitest';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

/** Providers that say 429: cooldowns from what they say, capped, and a 429 the client can wait out (SPEC §9). */
const fx = useUpstreamDouble();

const twoProviders = (global: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  fx.gateway({
    _global: { default_retry: 0, ...global },
    m: { providers: [provider('a', fx.double.url('a'), { priority: 1, ...extra }), provider('b', fx.double.url('b'), { priority: 2, ...extra })] },
  });

const cooldownSeconds = async (url: string, name: string): Promise<number> => {
  const view = (await call(`${url}/admin/providers/m`)).json.providers.find((p: { name: string }) => p.name === name);
  return view.health.cooldown_until === null ? 0 : (Date.parse(view.health.cooldown_until) - Date.now()) / 1000;
};

describe('when every provider is rate-limited', () => {
  it('the last provider’s 429 reaches the client as a 429 with Retry-After (the earliest usable), not a 502', async () => {
    const gw = await twoProviders();
    fx.double.script('a', { status: 429, retryAfter: 20 });
    fx.double.script('b', { status: 429, retryAfter: 7 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(429);
    expect(r.json.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
    expect(r.json.error.message).toContain('a (429)');
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(6);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(7);
  });

  it('a 429 without Retry-After gives the cooldown as Retry-After', async () => {
    const gw = await twoProviders({ cooldown_seconds: 12 });
    fx.double.script('a', { status: 429 });
    fx.double.script('b', { status: 429 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBe(12);
  });

  it('one provider rate-limited and one over its quota: 429, Retry-After from the sooner of the two', async () => {
    const gw = await fx.gateway({
      _global: { default_retry: 0 },
      m: {
        providers: [
          provider('a', fx.double.url('a'), { priority: 1, rate_limit: { requests_per_period: 0, period_cron: '0 0 1 1 *' } }),
          provider('b', fx.double.url('b'), { priority: 2 }),
        ],
      },
    });
    fx.double.script('b', { status: 429, retryAfter: 9 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(8);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(9);
  });

  it('one 429 and one 503 is still a 502: not every provider said when it would be back', async () => {
    const gw = await twoProviders();
    fx.double.script('a', { status: 429, retryAfter: 5 });
    fx.double.script('b', { status: 503 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(502);
    expect(r.headers['retry-after']).toBeUndefined();
  });
});

describe('cooldowns are capped', () => {
  it('Retry-After: 999999999 cools a provider for max_cooldown_seconds (default 300), not until 2058', async () => {
    const gw = await twoProviders();
    fx.double.script('a', { status: 429, retryAfter: 999_999_999 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.headers['x-gateway-provider']).toBe('b');
    const left = await cooldownSeconds(gw.url, 'a');
    expect(left).toBeGreaterThan(290);
    expect(left).toBeLessThanOrEqual(300);
  });

  it('_global.max_cooldown_seconds caps Retry-After and configured cooldowns alike', async () => {
    const gw = await twoProviders({ max_cooldown_seconds: 5 }, { cooldown_seconds: 3600 });
    fx.double.script('a', { status: 429, retryAfter: 'Wed, 21 Oct 2099 07:28:00 GMT' });
    fx.double.script('b', { status: 503 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(502);
    expect(await cooldownSeconds(gw.url, 'a')).toBeLessThanOrEqual(5);
    expect(await cooldownSeconds(gw.url, 'b')).toBeLessThanOrEqual(5);
    expect(await cooldownSeconds(gw.url, 'b')).toBeGreaterThan(3);
  });
});
