import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { SqliteStore } from '../../src/usage/sqlite-store.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * Virtual keys (SPEC §8) shared by instances on one Redis, and kept across restarts (SQLite file
 * and Redis): a key made or revoked on one instance counts on the other within a second, a key's
 * request limit is exact over both, keys and their usage survive a restart, and Redis holds no
 * secret.
 */
const fx = useUpstreamDouble();
const redisUrl = inject('redisUrl');

const PRICE = { input: 2.5, output: 10, cached_input: 1.25 };
const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 400 } };
const COST = ((1000 - 400) * PRICE.input + 400 * PRICE.cached_input + 500 * PRICE.output) / 1e6;

interface Created {
  id: string;
  key: string;
  name: string;
}

const cfg = () => ({
  _global: { default_retry: 0 },
  m: { providers: [provider('p', fx.double.url('p'), { price: PRICE })] },
  other: { providers: [provider('o', fx.double.url('o'))] },
});

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

async function createKey(gw: RunningGateway, body: Record<string, unknown>): Promise<Created> {
  const r = await call(`${gw.url}/admin/keys`, { body });
  expect(r.status, r.text).toBe(201);
  return r.json as Created;
}

async function keyOf(gw: RunningGateway, id: string): Promise<Record<string, any>> {
  const r = await call(`${gw.url}/admin/keys/${id}`);
  expect(r.status, r.text).toBe(200);
  return r.json;
}

const openai = (gw: RunningGateway, apiKey: string) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0 });
const ask = (c: OpenAI, model = 'm') => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });

async function apiError<E extends Error>(work: Promise<unknown>, kind: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(kind);
    return err as E;
  }
  throw new Error('the request was expected to fail');
}

/** The status of a chat request with this key, as a raw call (no client-side error handling in the way). */
const statusWith = async (gw: RunningGateway, key: string, model = 'm'): Promise<number> =>
  (await call(`${gw.url}/v1/chat/completions`, { body: { model, messages: [{ role: 'user', content: 'Hi' }] }, headers: bearer(key) })).status;

/** Asks until the answer's status is `want`; fails past `ms`. Returns how long it took. */
async function within(ms: number, want: number, attempt: () => Promise<number>): Promise<number> {
  const started = Date.now();
  let last = 0;
  while (Date.now() - started <= ms) {
    last = await attempt();
    if (last === want) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`still ${last} after ${ms} ms (wanted ${want})`);
}

/** Waits until the instance knows the key (its admin API shows it), without a request that would count on it. */
const knows = (gw: RunningGateway, id: string): Promise<number> => within(1000, 200, async () => (await call(`${gw.url}/admin/keys/${id}`)).status);

const twoOnRedis = async (): Promise<{ a: RunningGateway; b: RunningGateway; prefix: string }> => {
  const prefix = `test-${randomUUID()}:`;
  const a = await fx.gateway(cfg(), { store: new RedisStore(redisUrl!, prefix) });
  const b = await fx.gateway(cfg(), { store: new RedisStore(redisUrl!, prefix) });
  return { a, b, prefix };
};

describe.skipIf(!redisUrl)('two instances on one Redis', () => {
  it('a key made on A works on B within a second; a key revoked on A is refused by B within a second', async () => {
    const { a, b } = await twoOnRedis();
    // Keys exist already, so that B refuses what it does not know (rather than serving it unchecked, as before the first key).
    const seed = await createKey(a, { name: 'seed' });
    await knows(b, seed.id);
    const k = await createKey(a, { name: 'roaming', models: ['m'] });
    const sent = fx.double.received('p').length;
    expect(await statusWith(b, k.key)).toBe(401);
    await within(1000, 200, () => statusWith(b, k.key));
    expect(fx.double.received('p')).toHaveLength(sent + 1);
    expect((await ask(openai(b, k.key))).choices[0]?.message.content).toBe('Hello from p');
    // Both requests counted on the key, seen from either instance.
    await expect.poll(async () => (await keyOf(b, k.id)).usage.requests).toBe(2);
    expect((await keyOf(a, k.id)).usage.requests).toBe(2);
    // A change made on B applies on A.
    expect((await call(`${b.url}/admin/keys/${k.id}`, { method: 'PATCH', body: { models: ['other'] } })).status).toBe(200);
    await within(1000, 403, () => statusWith(a, k.key, 'm'));
    expect((await ask(openai(a, k.key), 'other')).choices[0]?.message.content).toBe('Hello from o');

    expect((await call(`${a.url}/admin/keys/${k.id}`, { method: 'DELETE' })).status).toBe(200);
    await within(1000, 401, () => statusWith(b, k.key, 'other'));
    const e = await apiError(ask(openai(b, k.key), 'other'), OpenAI.AuthenticationError);
    expect(e.status).toBe(401);
    expect((await keyOf(b, k.id)).status).toBe('revoked');
  });

  it('100 concurrent requests over both instances (50 each) with requests_per_period 20: exactly 20 answers, both report 20', async () => {
    const { a, b } = await twoOnRedis();
    const fresh = await createKey(a, { name: 'shared-exact', rate_limit: { requests_per_period: 20 } });
    await knows(b, fresh.id);
    const sent = fx.double.received('p').length;
    fx.double.script('p', { delayMs: 50, times: 100 });
    const ca = openai(a, fresh.key);
    const cb = openai(b, fresh.key);
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => ask(i % 2 ? ca : cb)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as InstanceType<typeof OpenAI.APIError>);
    expect(ok).toHaveLength(20);
    expect(refused).toHaveLength(80);
    expect(refused.every((e) => e instanceof OpenAI.RateLimitError && e.code === 'key_quota_exceeded')).toBe(true);
    expect(fx.double.received('p').length - sent).toBe(20);
    await expect.poll(async () => (await keyOf(a, fresh.id)).usage.requests).toBe(20);
    expect((await keyOf(b, fresh.id)).usage.requests).toBe(20);
    // The listing says the same on both.
    for (const gw of [a, b]) {
      const listed = (await call(`${gw.url}/admin/keys`)).json.data.find((x: { id: string }) => x.id === fresh.id);
      expect(listed.usage.requests).toBe(20);
    }
  });

  it('max_concurrent counts the requests in flight on every instance', async () => {
    const { a, b } = await twoOnRedis();
    const k = await createKey(a, { name: 'one-at-a-time', max_concurrent: 1 });
    await knows(b, k.id);
    fx.double.script('p', { delayMs: 400 });
    const first = ask(openai(a, k.key));
    await new Promise((r) => setTimeout(r, 150));
    const sent = fx.double.received('p').length;
    const second = await ask(openai(b, k.key)).then(() => null, (err: unknown) => err);
    const sentMeanwhile = fx.double.received('p').length - sent;
    // The first request ends before anything is judged, so a failure leaves nothing in flight.
    await first;
    expect(second).toBeInstanceOf(OpenAI.RateLimitError);
    expect((second as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('too_many_concurrent_requests');
    expect(sentMeanwhile).toBe(0);
    expect((await ask(openai(b, k.key))).choices[0]?.message.content).toBe('Hello from p');
  });

  it('Redis holds no secret: no key or value under the prefix contains one', async () => {
    const { a, b, prefix } = await twoOnRedis();
    const one = await createKey(a, { name: 'redis-a', rate_limit: { requests_per_period: 10 }, max_concurrent: 3 });
    const two = await createKey(b, { name: 'redis-b' });
    await knows(a, two.id);
    await knows(b, one.id);
    expect(await statusWith(a, two.key)).toBe(200);
    const s = await openai(a, one.key).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    for await (const _chunk of s) { /* read whole */ }
    const stored = await openai(b, one.key).responses.create({ model: 'm', input: 'keep me' });
    expect((await openai(a, one.key).responses.retrieve(stored.id)).id).toBe(stored.id);
    expect((await call(`${a.url}/admin/keys/${two.id}`, { method: 'DELETE' })).status).toBe(200);

    const redis = new Redis(redisUrl!);
    try {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      const dump: string[] = [];
      for (const key of keys) {
        dump.push(key);
        const type = await redis.type(key);
        // Fields and values as stored (not re-encoded, which would hide a secret behind escapes).
        if (type === 'string') dump.push(String(await redis.get(key)));
        else if (type === 'hash') dump.push(...Object.entries(await redis.hgetall(key)).flat());
        else if (type === 'zset') dump.push(...await redis.zrange(key, '0', '-1', 'WITHSCORES'));
        else if (type === 'set') dump.push(...await redis.smembers(key));
        else if (type === 'list') dump.push(...await redis.lrange(key, 0, -1));
        else throw new Error(`a Redis key of type ${type} this test cannot read: ${key}`);
      }
      const text = dump.join('\n');
      // The search looks where the keys are: their records and usage are there.
      expect(text).toContain('"name":"redis-a"');
      expect(text).toContain(`key:${one.id}`);
      expect(text).toContain('keep me');
      for (const secret of [one.key, two.key]) {
        expect(text.includes(secret)).toBe(false);
        expect(text.includes(secret.slice('sk-gw-'.length))).toBe(false);
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe('keys and their usage survive a restart', () => {
  /** Each store, as a factory of stores on the same file or prefix (a restart opens a second one). */
  const stores = [
    { name: 'SQLite: a new gateway on the same file', skip: false, open: () => {
      const path = join(mkdtempSync(join(tmpdir(), 'gw-keys-restart-')), 'usage.db');
      return () => new SqliteStore(path);
    } },
    { name: 'Redis: a new gateway on the same prefix', skip: !redisUrl, open: () => {
      const prefix = `test-${randomUUID()}:`;
      return () => new RedisStore(redisUrl!, prefix);
    } },
  ];

  for (const { name, skip, open } of stores) {
    it.skipIf(skip)(`${name} knows the keys, their usage and their state`, async () => {
      const store = open();
      const first = await fx.gateway(cfg(), { store: store() });
      const k = await createKey(first, { name: 'durable', rate_limit: { requests_per_period: 3 } });
      const gone = await createKey(first, { name: 'gone' });
      fx.double.setDefault('p', { usageValue: USAGE });
      await ask(openai(first, k.key));
      await ask(openai(first, k.key));
      expect((await call(`${first.url}/admin/keys/${gone.id}`, { method: 'DELETE' })).status).toBe(200);
      await expect.poll(async () => (await keyOf(first, k.id)).usage.tokens).toBe(3000);
      await first.close();

      const second = await fx.gateway(cfg(), { store: store() });
      const after = await keyOf(second, k.id);
      expect(after).toMatchObject({ name: 'durable', status: 'active', rate_limit: { requests_per_period: 3 } });
      expect(after.usage).toMatchObject({ requests: 2, tokens: 3000, cost: 2 * COST });
      expect((await keyOf(second, gone.id)).status).toBe('revoked');
      await apiError(ask(openai(second, gone.key)), OpenAI.AuthenticationError);
      // The limit goes on from where it was: one request left.
      expect((await ask(openai(second, k.key))).choices[0]?.message.content).toBe('Hello from p');
      expect((await apiError(ask(openai(second, k.key)), OpenAI.RateLimitError)).code).toBe('key_quota_exceeded');
      await expect.poll(async () => (await keyOf(second, k.id)).usage.requests).toBe(3);
      // Keys exist: no key at all is still refused after the restart.
      expect((await call(`${second.url}/v1/chat/completions`, { body: { model: 'm', messages: [] } })).status).toBe(401);
    });
  }
});
