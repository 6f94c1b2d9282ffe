import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { diffConfigs } from '../../src/config/diff.js';
import { providerId } from '../../src/config/load.js';
import { RedisStore } from '../../src/usage/redis-store.js';
import type { UsageStore } from '../../src/usage/store.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { configFrom, provider } from '../helpers/gateway.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
const redisUrl = inject('redisUrl');

/** Model `x/y` with provider `z`, and model `x` with provider `y/z`: both were `x/y/z`. */
const colliding = () => ({
  _global: { default_retry: 0, cooldown_seconds: 0 },
  'x/y': { providers: [provider('z', fx.double.url('first'), { rate_limit: { requests_per_period: 1 } })] },
  x: { providers: [provider('y/z', fx.double.url('second'), { rate_limit: { requests_per_period: 1 } })] },
});

async function redisStore(prefix: string): Promise<RedisStore> {
  const s = new RedisStore(redisUrl!, prefix);
  await s.ready();
  return s;
}

const stores: Array<[string, () => Promise<UsageStore | undefined>]> = [
  ['embedded store', async () => undefined],
  ...(redisUrl ? [['Redis store', () => redisStore(`test-${randomUUID()}:`)] as [string, () => Promise<UsageStore>]] : []),
];

describe('provider ids are unambiguous', () => {
  it('ids keep `model/name` for names without `/` or `%`, and encode those characters otherwise', () => {
    const c = configFrom({
      'gpt-4o': { providers: [provider('openai.com:primary', 'http://127.0.0.1:1/v1'), provider('{b}', 'http://127.0.0.1:1/v1')] },
      ...colliding(),
      'a%2Fb': { providers: [provider('c', 'http://127.0.0.1:1/v1')] },
    });
    expect([...c.providers.keys()]).toEqual(['gpt-4o/openai.com:primary', 'gpt-4o/{b}', 'x%2Fy/z', 'x/y%2Fz', 'a%252Fb/c']);
    expect(new Set(c.providers.keys()).size).toBe(c.providers.size);
    expect(providerId('x/y', 'z')).not.toBe(providerId('x', 'y/z'));
  });

  it('a reload that changes a provider of model `x/y` reports `x/y` changed, not `x`', () => {
    const before = configFrom(colliding());
    const raw = colliding();
    raw['x/y'].providers[0]!.weight = 20;
    const changes = diffConfigs(before, configFrom(raw));
    expect(changes.providers.changed).toEqual([providerId('x/y', 'z')]);
    expect(changes.models.changed).toEqual(['x/y']);
  });

  it.each(stores)('with the %s, two providers that once shared an id have a quota and usage each', async (_name, store) => {
    const s = await store();
    const gw = await fx.gateway(colliding(), s ? { store: s } : {});
    fx.double.script('first', { times: 5 });
    fx.double.script('second', { times: 5 });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('x/y') })).status).toBe(200);
    // The first provider's quota is used up; the second one's is untouched.
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('x') })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('x/y') })).status).toBe(429);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('x') })).status).toBe(429);
    expect(fx.double.received('first')).toHaveLength(1);
    expect(fx.double.received('second')).toHaveLength(1);

    const stats = (await call(`${gw.url}/admin/stats`)).json;
    expect(stats['x/y'].z.requests).toBe(1);
    expect(stats.x['y/z'].requests).toBe(1);

    // Resetting one leaves the other.
    expect((await call(`${gw.url}/admin/usage/reset`, { body: { model: 'x', provider: 'y/z' } })).status).toBe(200);
    const after = (await call(`${gw.url}/admin/stats`)).json;
    expect(after['x/y'].z.requests).toBe(1);
    expect(after.x['y/z'].requests).toBe(0);

    // The dashboard's traffic of each provider is its own.
    const overview = (await call(`${gw.url}/admin/overview`)).json;
    const tries = (model: string, name: string): number => {
      const p = overview.models.find((m: { name: string }) => m.name === model).providers.find((q: { name: string }) => q.name === name);
      return p.traffic.reduce((sum: number, minute: { requests: number }) => sum + minute.requests, 0);
    };
    expect(tries('x/y', 'z')).toBe(1);
    expect(tries('x', 'y/z')).toBe(1);
  });

  // Redis Cluster hashes only what is between the first `{` and the first `}` after it; an empty
  // tag hashes the whole key, which would put a provider's usage and holds on different slots.
  it.skipIf(!redisUrl)('Redis keys keep a whole, non-empty hash tag when names hold `{` or `}`', async () => {
    const prefix = `test-${randomUUID()}:`;
    const raw = {
      _global: { default_retry: 0 },
      '}m': { providers: [provider('{p}', fx.double.url('first'), { rate_limit: { requests_per_period: 5 } })] },
      plain: { providers: [provider('p', fx.double.url('second'), { rate_limit: { requests_per_period: 5 } })] },
    };
    const gw = await fx.gateway(raw, { store: await redisStore(prefix) });
    fx.double.script('first', { delayMs: 300 });
    fx.double.script('second', { delayMs: 300 });
    const redis = new Redis(redisUrl!);
    try {
      // While the requests are in flight, their holds exist beside the usage keys.
      const pending = [call(`${gw.url}/v1/chat/completions`, { body: chat('}m') }), call(`${gw.url}/v1/chat/completions`, { body: chat('plain') })];
      await new Promise((r) => setTimeout(r, 150));
      const during = await redis.keys(`${prefix}*`);
      expect((await Promise.all(pending)).map((a) => a.status)).toEqual([200, 200]);
      // The success is counted just after the answer (settles are batched per turn of the event loop).
      let after = await redis.keys(`${prefix}*`);
      for (let i = 0; i < 100 && !after.some((k) => k.endsWith(':usage')); i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await redis.keys(`${prefix}*`);
      }
      const keys = [...new Set([...during, ...after])].sort();
      const tagOf = (key: string): string | null => {
        const open = key.indexOf('{');
        const close = open < 0 ? -1 : key.indexOf('}', open + 1);
        return close > open + 1 ? key.slice(open + 1, close) : null;
      };
      const tags = keys.map(tagOf);
      expect(tags).not.toContain(null);
      expect(new Set(tags)).toEqual(new Set(['%7Dm/%7Bp%7D', 'plain/p']));
      // The plain provider's keys are what they always were.
      expect(keys.filter((k) => k.includes('plain')).every((k) => k.startsWith(`${prefix}{plain/p}:`))).toBe(true);
      expect(keys.some((k) => k.endsWith(':holds'))).toBe(true);
      expect(keys.some((k) => k.endsWith(':usage'))).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});
