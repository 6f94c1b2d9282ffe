import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

/**
 * Session affinity (SPEC §9): a session stays on the provider that served it last, so its prompt
 * cache stays warm, while sessions still spread by weight; the pin yields to cooldown, quota and
 * failure without an error, and lives in the usage store (shared by instances on Redis).
 */
const fx = useUpstreamDouble();
const redisUrl = inject('redisUrl');
const KEY = 'gw-affinity-key-01';
const auth = { authorization: `Bearer ${KEY}` };

const three = (weights: [number, number, number] = [10, 10, 10], global: Record<string, unknown> = {}, store?: RedisStore) =>
  fx.gateway({
    _global: { api_key: KEY, default_retry: 0, ...global },
    m: { providers: (['a', 'b', 'c'] as const).map((n, i) => provider(n, fx.double.url(n), { weight: weights[i] })) },
  }, store ? { store } : {});

type Send = (session: string, extra?: Record<string, unknown>, headers?: Record<string, string>) => Promise<string>;
const sender = (url: string): Send => async (session, extra = {}, headers = {}) => {
  const r = await call(`${url}/v1/chat/completions`, { body: chat('m', { prompt_cache_key: session, ...extra }), headers: { ...auth, ...headers } });
  expect(r.status, r.text).toBe(200);
  return String(r.headers['x-gateway-provider']);
};

const tally = (names: readonly string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
};

describe('a session stays on one provider', () => {
  it('three equal providers: every session keeps ≥ 95 % of its requests on one provider (here all), while ten sessions spread 4/3/3', async () => {
    const gw = await three();
    const send = sender(gw.url);
    const sessions = Array.from({ length: 10 }, (_, i) => `session-${i}`);
    const served = new Map<string, string[]>(sessions.map((s) => [s, []]));
    // Interleaved turns, as ten agents working at once would send them.
    for (let turn = 0; turn < 20; turn++) {
      await Promise.all(sessions.map(async (s) => served.get(s)!.push(await send(s))));
    }
    const home = new Map<string, string>();
    for (const [s, names] of served) {
      const [top, n] = Object.entries(tally(names)).sort((x, y) => y[1] - x[1])[0]!;
      expect(n / names.length, `${s}: ${names.join(',')}`).toBeGreaterThanOrEqual(0.95);
      home.set(s, top);
    }
    expect(Object.values(tally([...home.values()])).sort()).toEqual([3, 3, 4]);
    const metrics = (await call(`${gw.url}/metrics`, { headers: auth })).text;
    expect(metrics).toMatch(/gateway_affinity_total\{model="m",result="new"\} 10\n/);
    expect(metrics).toMatch(/gateway_affinity_total\{model="m",result="hit"\} 190\n/);
    const views = (await call(`${gw.url}/admin/providers/m`, { headers: auth })).json.providers as Array<{ affinity: { served: number; pinned: number; share: number } }>;
    expect(views.reduce((n, v) => n + v.affinity.served, 0)).toBe(200);
    expect(views.reduce((n, v) => n + v.affinity.pinned, 0)).toBe(190);
  });

  it('ten sessions spread by weight (10/20/20 → 2/4/4), each staying home', async () => {
    const gw = await three([10, 20, 20]);
    const send = sender(gw.url);
    const home = new Map<string, string>();
    for (let i = 0; i < 10; i++) home.set(`s${i}`, await send(`s${i}`));
    for (let i = 0; i < 10; i++) expect(await send(`s${i}`)).toBe(home.get(`s${i}`));
    expect(tally([...home.values()])).toEqual({ a: 2, b: 4, c: 4 });
  });

  it('every session source counts: session headers, Anthropic metadata.user_id, user; without one, requests rotate', async () => {
    const gw = await three();
    const send = sender(gw.url);
    for (const [name, header] of [['session-id', 'codex-1'], ['x-claude-code-session-id', 'cc-1'], ['x-session-id', 'x-1'], ['session_id', 'u-1']] as const) {
      const first = await send('', {}, { [name]: header });
      for (let i = 0; i < 4; i++) expect(await send('', {}, { [name]: header }), name).toBe(first);
    }
    const byUser = await send('', { user: 'alice' });
    for (let i = 0; i < 4; i++) expect(await send('', { user: 'alice' })).toBe(byUser);
    const messages = async () => {
      const r = await call(`${gw.url}/v1/messages`, {
        body: { model: 'm', max_tokens: 20, metadata: { user_id: 'user_abc_account_1_session_42' }, messages: [{ role: 'user', content: 'hi' }] },
        headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
      });
      expect(r.status).toBe(200);
      return String(r.headers['x-gateway-provider']);
    };
    const m1 = await messages();
    for (let i = 0; i < 4; i++) expect(await messages()).toBe(m1);
    const none = new Set<string>();
    for (let i = 0; i < 6; i++) none.add(await send(''));
    expect(none.size).toBe(3);
  });

  it('affinity_ttl_seconds: 0 turns it off (a session rotates over the providers)', async () => {
    const gw = await three([10, 10, 10], { affinity_ttl_seconds: 0 });
    const send = sender(gw.url);
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) names.add(await send('same-session'));
    expect(names.size).toBe(3);
  });

  it('a pin expires after its TTL', async () => {
    const gw = await three([10, 10, 10], { affinity_ttl_seconds: 1 });
    const send = sender(gw.url);
    const first = await send('ttl-session');
    expect(await send('ttl-session')).toBe(first);
    await new Promise((r) => setTimeout(r, 1200));
    // The round-robin moved on once (the first request); its next pick is another provider.
    expect(await send('ttl-session')).not.toBe(first);
  });
});

describe('a pin yields at once, and never costs an error', () => {
  it('the pinned provider failing: zero client errors, and the session moves to (and stays on) the one that served it', async () => {
    const gw = await three();
    const send = sender(gw.url);
    const home = await send('s');
    fx.double.setDefault(home, { status: 503 });
    const moved = await send('s');
    expect(moved).not.toBe(home);
    for (let i = 0; i < 5; i++) expect(await send('s')).toBe(moved);
    // Only the first failing request reached the broken provider; it then cooled down.
    expect(fx.double.received(home)).toHaveLength(2);
  });

  it('the pinned provider over its quota: served elsewhere without an error', async () => {
    const gw = await fx.gateway({
      _global: { api_key: KEY, default_retry: 0 },
      m: {
        providers: [
          provider('a', fx.double.url('a'), { rate_limit: { requests_per_period: 2, period_cron: '0 0 1 1 *' } }),
          provider('b', fx.double.url('b')),
        ],
      },
    });
    const send = sender(gw.url);
    expect(await send('q')).toBe('a');
    expect(await send('q')).toBe('a');
    expect(await send('q')).toBe('b');
    expect(await send('q')).toBe('b');
  });

  it('a pin to a lower tier yields when the first tier is usable again', async () => {
    const gw = await fx.gateway({
      _global: { api_key: KEY, default_retry: 0, cooldown_seconds: 1 },
      m: { providers: [provider('a', fx.double.url('a'), { priority: 1 }), provider('b', fx.double.url('b'), { priority: 2 })] },
    });
    const send = sender(gw.url);
    fx.double.script('a', { status: 503 });
    expect(await send('tier')).toBe('b');
    expect(await send('tier')).toBe('b');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await send('tier')).toBe('a');
  });

  it('per key: the same session id under two virtual keys is two sessions', async () => {
    const gw = await three();
    const made = async (name: string) => (await call(`${gw.url}/admin/keys`, { body: { name }, headers: auth })).json.key as string;
    const k1 = await made('team-1');
    const k2 = await made('team-2');
    const as = (key: string) => async () => {
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m', { prompt_cache_key: 'shared' }), headers: { authorization: `Bearer ${key}` } });
      return String(r.headers['x-gateway-provider']);
    };
    const one = await as(k1)();
    const two = await as(k2)();
    // Two new sessions: the round-robin gives them two providers; each then stays.
    expect(two).not.toBe(one);
    expect(await as(k1)()).toBe(one);
    expect(await as(k2)()).toBe(two);
  });
});

describe.skipIf(!redisUrl)('pins shared by two instances on one Redis', () => {
  it('a session pinned by one instance goes to the same provider on the other', async () => {
    const prefix = `test-aff-${randomUUID()}:`;
    const a = await three([10, 10, 10], {}, new RedisStore(redisUrl!, prefix));
    const b = await three([10, 10, 10], {}, new RedisStore(redisUrl!, prefix));
    try {
      const sendA = sender(a.url);
      const sendB = sender(b.url);
      // Instance A's round-robin moves on, so its sessions land on its second and third picks.
      await sendA('');
      const homes = [await sendA('shared-1'), await sendA('shared-2')];
      expect(new Set(homes).size).toBe(2);
      // Instance B's round-robin starts over: without the shared pins both would go to its first pick.
      expect(await sendB('shared-1')).toBe(homes[0]);
      expect(await sendB('shared-2')).toBe(homes[1]);
      // A pin moved on B is seen by A.
      fx.double.setDefault(homes[0]!, { status: 503 });
      const moved = await sendB('shared-1');
      expect(moved).not.toBe(homes[0]);
      fx.double.setDefault(homes[0]!, {});
      // The pin is written after B answered, without holding the answer back.
      await new Promise((r) => setTimeout(r, 100));
      expect(await sendA('shared-1')).toBe(moved);
    } finally {
      const redis = new Redis(redisUrl!);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
