import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { dropPrefix } from '../helpers/stores.js';

/**
 * Several instances behind a load balancer, sharing one Redis (the documented way to use more
 * cores and machines): whichever instance a request lands on, quotas, virtual keys, stored
 * responses, session pins and the stats agree.
 */
const fx = useUpstreamDouble();
const shared = [
  { where: 'one Redis server', url: inject('redisUrl') },
  { where: 'a three-node Redis Cluster (REDIS_URL=redis+cluster://…)', url: inject('redisClusterUrl') },
];
const MASTER = 'gw-scale-out-master-01';
const master = { authorization: `Bearer ${MASTER}` };

const cfg = () => ({
  _global: { api_key: MASTER, default_retry: 0 },
  m: {
    providers: [
      provider('limited', fx.double.url('limited'), { rate_limit: { requests_per_period: 10, period_cron: '0 0 1 1 *' } }),
      provider('spare', fx.double.url('spare'), { priority: 2 }),
    ],
  },
  s: { providers: ['x', 'y', 'z'].map((n) => provider(n, fx.double.url(n))) },
});

describe.each(shared)('two instances on $where agree', ({ url: redisUrl }) => {
  it.skipIf(!redisUrl)('on quotas, keys, stored responses, session pins and the stats, whichever instance a request lands on', async () => {
    const prefix = `test-scale-${randomUUID()}:`;
    const a = await fx.gateway(cfg(), { store: new RedisStore(redisUrl!, prefix) });
    const b = await fx.gateway(cfg(), { store: new RedisStore(redisUrl!, prefix) });
    try {
      // Quotas: 30 requests spread over both; the limited provider serves exactly its 10, the rest fail over.
      const served = await Promise.all(Array.from({ length: 30 }, (_, i) =>
        call(`${(i % 2 ? a : b).url}/v1/chat/completions`, { body: chat('m'), headers: master })));
      expect(served.every((r) => r.status === 200)).toBe(true);
      expect(served.filter((r) => r.headers['x-gateway-provider'] === 'limited')).toHaveLength(10);
      expect(fx.double.received('limited')).toHaveLength(10);

      // Keys: made on A, used on B (B polls every 250 ms).
      const made = await call(`${a.url}/admin/keys`, { body: { name: 'team' }, headers: master });
      expect(made.status).toBe(201);
      const key = made.json.key as string;
      await expect.poll(async () => (await call(`${b.url}/v1/chat/completions`, { body: chat('s'), headers: { authorization: `Bearer ${key}` } })).status, { timeout: 3000 }).toBe(200);

      // Stored responses: made on A with the key, read and continued on B, never by another key.
      const client = (url: string, apiKey: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
      const first = await client(a.url, key).responses.create({ model: 's', input: 'remember 42' });
      expect((await client(b.url, key).responses.retrieve(first.id)).id).toBe(first.id);
      const next = await client(b.url, key).responses.create({ model: 's', input: 'and now?', previous_response_id: first.id });
      expect(next.status).toBe('completed');
      expect((await call(`${b.url}/v1/responses/${first.id}`, { headers: master })).status).toBe(404);

      // Session pins: a session that A placed stays there when B serves it.
      const sendTo = async (url: string) => {
        const r = await call(`${url}/v1/chat/completions`, { body: chat('s', { prompt_cache_key: 'agent-7' }), headers: master });
        return String(r.headers['x-gateway-provider']);
      };
      const home = await sendTo(a.url);
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 4; i++) expect(await sendTo(i % 2 ? a.url : b.url)).toBe(home);

      // The stats are the same, read from either instance.
      const statsA = (await call(`${a.url}/admin/stats`, { headers: master })).json;
      const statsB = (await call(`${b.url}/admin/stats`, { headers: master })).json;
      expect(statsA.m.limited.requests).toBe(10);
      expect(statsA.m.spare.requests).toBe(20);
      const counters = (s: Record<string, Record<string, Record<string, unknown>>>) =>
        Object.fromEntries(Object.entries(s).map(([m, ps]) => [m, Object.fromEntries(Object.entries(ps).map(([p, v]) => [p, { requests: v.requests, tokens: v.tokens, cost: v.cost }]))]));
      expect(counters(statsB)).toEqual(counters(statsA));
      const keyA = (await call(`${a.url}/admin/keys/${made.json.id}`, { headers: master })).json.usage;
      const keyB = (await call(`${b.url}/admin/keys/${made.json.id}`, { headers: master })).json.usage;
      expect(keyA.requests).toBe(3);
      expect(keyB).toEqual(keyA);
    } finally {
      await dropPrefix(redisUrl!, prefix);
    }
  });
});
