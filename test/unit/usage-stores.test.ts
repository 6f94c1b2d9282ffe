import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { SqliteStore } from '../../src/usage/sqlite-store.js';
import { storeFactories, useStores } from '../helpers/stores.js';
import { StoreUnavailableError, type Limits, type PeriodRef, type ReserveResult, type UsageStore } from '../../src/usage/store.js';

const redisUrl = inject('redisUrl');

const DAY = 24 * 3600_000;
const START = Date.parse('2026-11-27T00:00:00.000Z');
const ref = (providerId = 'model-a/p1', start = START): PeriodRef => ({ providerId, start, end: start + DAY });
const HOLD_MS = 60_000;
const requestsOnly = (n: number): Limits => ({ requests: n, tokens: null });

async function reserveN(store: UsageStore, r: PeriodRef, limits: Limits, n: number, holdMs = HOLD_MS): Promise<ReserveResult[]> {
  const out: ReserveResult[] = [];
  for (let i = 0; i < n; i++) out.push(await store.reserve(r, limits, holdMs));
  return out;
}

function tokenOf(r: ReserveResult): string {
  if (!r.ok) throw new Error(`expected a hold, got exhausted ${r.exhausted}`);
  return r.token;
}

describe.each(storeFactories(redisUrl, inject('redisClusterUrl')))('UsageStore contract: $name', ({ name, kind, available, make }) => {
  describe.skipIf(!available)(`${name} store`, () => {
    const stores = useStores(make);
    let store: UsageStore;
    const open = stores.open;
    beforeEach(() => {
      store = stores.store();
    });

    it('has the right kind and is healthy', async () => {
      expect(store.kind).toBe(kind);
      expect(await store.healthy()).toBe(true);
    });

    it('reserve with a limit of 3 requests holds three times, then says requests are exhausted', async () => {
      const results = await reserveN(store, ref(), requestsOnly(3), 4);
      expect(results.slice(0, 3).map((r) => r.ok)).toEqual([true, true, true]);
      expect(results[3]).toEqual({ ok: false, exhausted: 'requests' });
      const tokens = results.slice(0, 3).map(tokenOf);
      expect(new Set(tokens).size).toBe(3);
      for (const t of tokens) expect(typeof t).toBe('string');
      // Holds are not successes: nothing is counted yet.
      expect(await store.read([ref()])).toEqual([{ requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
    });

    it('release gives a hold back', async () => {
      const [a] = await reserveN(store, ref(), requestsOnly(3), 3);
      expect(await store.reserve(ref(), requestsOnly(3), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
      await store.release(ref(), tokenOf(a!));
      expect((await store.reserve(ref(), requestsOnly(3), HOLD_MS)).ok).toBe(true);
      expect(await store.reserve(ref(), requestsOnly(3), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
      expect((await store.read([ref()]))[0]!.requests).toBe(0);
    });

    it('commit counts the request and keeps its share of the quota used', async () => {
      const a = await store.reserve(ref(), requestsOnly(3), HOLD_MS);
      await store.commit(ref(), tokenOf(a));
      expect(await store.read([ref()])).toEqual([{ requests: 1, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
      const more = await reserveN(store, ref(), requestsOnly(3), 3);
      expect(more.map((r) => r.ok)).toEqual([true, true, false]);
      expect(more[2]).toEqual({ ok: false, exhausted: 'requests' });
      for (const r of more.slice(0, 2)) await store.commit(ref(), tokenOf(r));
      expect((await store.read([ref()]))[0]!.requests).toBe(3);
      expect(await store.reserve(ref(), requestsOnly(3), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
    });

    it('commit(ref, null) counts a request without a hold and leaves other holds alone', async () => {
      await store.commit(ref(), null);
      await store.commit(ref(), null);
      expect((await store.read([ref()]))[0]!.requests).toBe(2);
      // 2 used of 4: two holds fit.
      const held = await reserveN(store, ref(), requestsOnly(4), 3);
      expect(held.map((r) => r.ok)).toEqual([true, true, false]);
      // A null commit does not drop one of the two holds: still 3 used + 2 held >= 4.
      await store.commit(ref(), null);
      expect((await store.read([ref()]))[0]!.requests).toBe(3);
      expect(await store.reserve(ref(), requestsOnly(4), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
      await store.release(ref(), tokenOf(held[0]!));
      await store.release(ref(), tokenOf(held[1]!));
      expect((await store.reserve(ref(), requestsOnly(4), HOLD_MS)).ok).toBe(true);
      expect(await store.reserve(ref(), requestsOnly(4), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
    });

    it('in flight + committed never exceed the limit', async () => {
      const limits = requestsOnly(5);
      const first = await reserveN(store, ref(), limits, 5);
      expect(first.every((r) => r.ok)).toBe(true);
      await store.commit(ref(), tokenOf(first[0]!));
      await store.commit(ref(), tokenOf(first[1]!));
      await store.release(ref(), tokenOf(first[2]!));
      // 2 committed + 2 in flight: exactly one more fits.
      const second = await reserveN(store, ref(), limits, 3);
      expect(second.map((r) => r.ok)).toEqual([true, false, false]);
      // Commit every remaining hold: 5 used, nothing in flight, still full.
      await store.commit(ref(), tokenOf(first[3]!));
      await store.commit(ref(), tokenOf(first[4]!));
      await store.commit(ref(), tokenOf(second[0]!));
      expect((await store.read([ref()]))[0]!.requests).toBe(5);
      expect(await store.reserve(ref(), limits, HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
      // A larger limit opens exactly the difference.
      const bigger = await reserveN(store, ref(), requestsOnly(7), 3);
      expect(bigger.map((r) => r.ok)).toEqual([true, true, false]);
    });

    // A hold is released by its token: releasing the same token twice gives back only that one.
    it('releasing the same token twice gives back only that one hold', async () => {
      const limits = requestsOnly(2);
      const [a, b] = await reserveN(store, ref(), limits, 2);
      await store.release(ref(), tokenOf(a!));
      await store.release(ref(), tokenOf(a!));
      // b is still in flight: exactly one more fits.
      const more = await reserveN(store, ref(), limits, 2);
      expect(more.map((r) => r.ok)).toEqual([true, false]);
      await store.commit(ref(), tokenOf(b!));
    });

    it('a tokens limit: reserve says tokens are exhausted once addTokens reaches it', async () => {
      const limits: Limits = { requests: null, tokens: 100 };
      const a = await store.reserve(ref(), limits, HOLD_MS);
      expect(a.ok).toBe(true);
      await store.commit(ref(), tokenOf(a));
      await store.addTokens(ref(), 60, false);
      const b = await store.reserve(ref(), limits, HOLD_MS);
      expect(b.ok).toBe(true);
      await store.commit(ref(), tokenOf(b));
      await store.addTokens(ref(), 40, false);
      expect(await store.reserve(ref(), limits, HOLD_MS)).toEqual({ ok: false, exhausted: 'tokens' });
      expect(await store.read([ref()])).toEqual([{ requests: 2, tokens: 100, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
      // A request limit that still has room does not hide the exhausted tokens.
      expect(await store.reserve(ref(), { requests: 10, tokens: 100 }, HOLD_MS)).toEqual({ ok: false, exhausted: 'tokens' });
      // Without a token limit the same period still takes requests.
      expect((await store.reserve(ref(), { requests: 10, tokens: null }, HOLD_MS)).ok).toBe(true);
    });

    it('a tokens limit below the usage already recorded is exhausted; one just above it is not', async () => {
      await store.addTokens(ref(), 99, false);
      expect((await store.reserve(ref(), { requests: null, tokens: 100 }, HOLD_MS)).ok).toBe(true);
      expect(await store.reserve(ref(), { requests: null, tokens: 99 }, HOLD_MS)).toEqual({ ok: false, exhausted: 'tokens' });
      expect(await store.reserve(ref(), { requests: null, tokens: 50 }, HOLD_MS)).toEqual({ ok: false, exhausted: 'tokens' });
    });

    it('addTokens with estimated=true adds to tokens and estimatedTokens', async () => {
      await store.addTokens(ref(), 120, false);
      await store.addTokens(ref(), 30, true);
      await store.addTokens(ref(), 7, true);
      expect(await store.read([ref()])).toEqual([{ requests: 0, tokens: 157, estimatedTokens: 37, cost: 0, unpriced: 0 }]);
    });

    it('reads several refs at once, in order, with zeros for unknown ones', async () => {
      const p1 = ref('model-a/p1');
      const p2 = ref('model-a/p2');
      const unknown = ref('model-z/nobody');
      await store.commit(p1, null);
      await store.addTokens(p1, 10, false);
      await store.commit(p2, null);
      await store.commit(p2, null);
      await store.addTokens(p2, 5, true);
      expect(await store.read([p2, unknown, p1])).toEqual([
        { requests: 2, tokens: 5, estimatedTokens: 5, cost: 0, unpriced: 0 },
        { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
        { requests: 1, tokens: 10, estimatedTokens: 0, cost: 0, unpriced: 0 },
      ]);
      expect(await store.read([])).toEqual([]);
    });

    it('different periods and providers are independent', async () => {
      const today = ref('model-a/p1', START);
      const tomorrow = ref('model-a/p1', START + DAY);
      const other = ref('model-a/p2', START);
      const sameNameOtherModel = ref('model-b/p1', START);
      const a = await store.reserve(today, requestsOnly(1), HOLD_MS);
      await store.commit(today, tokenOf(a));
      await store.addTokens(today, 50, false);
      expect(await store.reserve(today, requestsOnly(1), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
      expect(await store.reserve(today, { requests: null, tokens: 50 }, HOLD_MS)).toEqual({ ok: false, exhausted: 'tokens' });
      for (const r of [tomorrow, other, sameNameOtherModel]) {
        const h = await store.reserve(r, { requests: 1, tokens: 50 }, HOLD_MS);
        expect(h.ok).toBe(true);
        await store.release(r, tokenOf(h));
      }
      await store.commit(tomorrow, null);
      expect(await store.read([today, tomorrow, other, sameNameOtherModel])).toEqual([
        { requests: 1, tokens: 50, estimatedTokens: 0, cost: 0, unpriced: 0 },
        { requests: 1, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
        { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
        { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
      ]);
      // Going back to the earlier period still sees its own counters.
      expect((await store.read([today]))[0]).toEqual({ requests: 1, tokens: 50, estimatedTokens: 0, cost: 0, unpriced: 0 });
    });

    it('reset zeroes the counters of the given refs only, and keeps holds in flight', async () => {
      const p1 = ref('model-a/p1');
      const p2 = ref('model-a/p2');
      await store.commit(p1, null);
      await store.commit(p1, null);
      await store.addTokens(p1, 70, true);
      await store.commit(p2, null);
      await store.addTokens(p2, 9, false);
      const held = await store.reserve(p1, requestsOnly(3), HOLD_MS);
      expect(held.ok).toBe(true);
      expect(await store.reserve(p1, requestsOnly(3), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
      await store.reset([p1]);
      expect(await store.read([p1, p2])).toEqual([
        { requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
        { requests: 1, tokens: 9, estimatedTokens: 0, cost: 0, unpriced: 0 },
      ]);
      // 0 used + 1 still held: two more fit, not three.
      const after = await reserveN(store, p1, requestsOnly(3), 3);
      expect(after.map((r) => r.ok)).toEqual([true, true, false]);
      // The counters keep counting from zero.
      await store.commit(p1, tokenOf(held));
      await store.addTokens(p1, 4, false);
      expect((await store.read([p1]))[0]).toEqual({ requests: 1, tokens: 4, estimatedTokens: 0, cost: 0, unpriced: 0 });
      await store.reset([]);
    });

    it('200 concurrent reserves against a limit of 20 give exactly 20 holds', async () => {
      const results = await Promise.all(Array.from({ length: 200 }, () => store.reserve(ref(), requestsOnly(20), HOLD_MS)));
      const ok = results.filter((r) => r.ok);
      expect(ok).toHaveLength(20);
      expect(new Set(ok.map(tokenOf)).size).toBe(20);
      expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 180 }, () => ({ ok: false, exhausted: 'requests' })));
      // Committing them all counts exactly 20.
      await Promise.all(ok.map((r) => store.commit(ref(), tokenOf(r))));
      expect((await store.read([ref()]))[0]!.requests).toBe(20);
      expect(await store.reserve(ref(), requestsOnly(20), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
    });

    it('cost: known costs add up in nano-USD, unknown ones are counted apart, and a cost limit is exhausted once reached', async () => {
      await store.commit(ref(), null);
      await store.addTokens(ref(), 10, false, 1_500_000);
      await store.addTokens(ref(), 10, false, null);
      await store.addTokens(ref(), 10, false, 2_500_000);
      await store.addTokens(ref(), 10, false);
      expect(await store.read([ref()])).toEqual([{ requests: 1, tokens: 40, estimatedTokens: 0, cost: 4_000_000, unpriced: 1 }]);
      expect((await store.reserve(ref(), { requests: null, tokens: null, cost: 4_000_001 }, HOLD_MS)).ok).toBe(true);
      expect(await store.reserve(ref(), { requests: null, tokens: null, cost: 4_000_000 }, HOLD_MS)).toEqual({ ok: false, exhausted: 'cost' });
      await store.reset([ref()]);
      expect(await store.read([ref()])).toEqual([{ requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
    });

    it('slots: at most `max` are taken at once, 50 concurrent asks for 5 get exactly 5, and a released one is free again', async () => {
      const taken = await Promise.all(Array.from({ length: 50 }, () => store.acquireSlot('key:k1', 5, HOLD_MS)));
      const held = taken.filter((t): t is string => t !== null);
      expect(held).toHaveLength(5);
      expect(new Set(held).size).toBe(5);
      expect(await store.acquireSlot('key:k1', 5, HOLD_MS)).toBeNull();
      // Another name has slots of its own.
      expect(await store.acquireSlot('key:k2', 1, HOLD_MS)).not.toBeNull();
      await store.releaseSlot('key:k1', held[0]!);
      const again = await store.acquireSlot('key:k1', 5, HOLD_MS);
      expect(again).not.toBeNull();
      expect(await store.acquireSlot('key:k1', 5, HOLD_MS)).toBeNull();
    });

    it('key records: put creates or replaces, load returns them all, and the version moves with every write', async () => {
      const v0 = await store.keys.version();
      await store.keys.put('key_a', '{"id":"key_a","n":1}');
      await store.keys.put('key_b', '{"id":"key_b"}');
      await store.keys.put('key_a', '{"id":"key_a","n":2}');
      const v1 = await store.keys.version();
      expect(v1).not.toBe(v0);
      const loaded = await store.keys.load();
      expect(loaded.version).toBe(v1);
      expect([...loaded.records].sort()).toEqual(['{"id":"key_a","n":2}', '{"id":"key_b"}']);
    });

    it('key records outlive the store: another one opened on the same file or prefix loads them', async () => {
      await store.keys.put('key_a', '{"id":"key_a"}');
      await store.close();
      const again = await open();
      expect((await again.keys.load()).records).toEqual(['{"id":"key_a"}']);
    });

    it('a store opened after this one closed sees its counters', async () => {
      await store.commit(ref(), null);
      await store.addTokens(ref(), 11, true);
      await store.close();
      const again = await open();
      expect(await again.read([ref()])).toEqual([{ requests: 1, tokens: 11, estimatedTokens: 11, cost: 0, unpriced: 0 }]);
    });
  });
});

describe.skipIf(!redisUrl)('RedisStore only', () => {
  const opened: RedisStore[] = [];
  const openRedis = async (url: string, prefix: string, wait = true): Promise<RedisStore> => {
    const s = new RedisStore(url, prefix);
    opened.push(s);
    if (wait) await s.ready(5000);
    return s;
  };

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  it('what finished requests add is sent as one script per period per turn of the event loop, exactly', async () => {
    const prefix = `test:${randomUUID()}:`;
    const store = await openRedis(redisUrl as string, prefix);
    const monitor = await new Redis(redisUrl as string).monitor();
    const seen: string[][] = [];
    // Commands the clients sent (not those the scripts ran inside Redis) that touch this prefix.
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!source.startsWith('lua') && args.some((a) => a.startsWith(prefix))) seen.push(args);
    });
    const quiet = async () => {
      for (let n = -1; n !== seen.length; await new Promise((r) => setTimeout(r, 100))) n = seen.length;
    };
    try {
      const limits = requestsOnly(1000);
      const holds = await Promise.all(Array.from({ length: 150 }, () => store.reserve(ref(), limits, HOLD_MS)));
      await quiet();
      const reserves = seen.length;
      // 100 successes with tokens, 50 given back, on one provider; 10 on another: all in one turn.
      await Promise.all([
        ...holds.slice(0, 100).map((h) => store.commit(ref(), tokenOf(h))),
        ...holds.slice(0, 100).map((_, i) => store.addTokens(ref(), 10, i % 2 === 0, 7)),
        ...holds.slice(100).map((h) => store.release(ref(), tokenOf(h))),
        ...Array.from({ length: 10 }, () => store.commit(ref('model-b/p2'), null)),
      ]);
      await quiet();
      const settles = seen.slice(reserves);
      expect(reserves).toBe(150);
      expect(settles).toHaveLength(2);
      expect(settles.map((args) => /^eval(sha)?$/i.test(args[0]!))).toEqual([true, true]);
      expect(await store.read([ref(), ref('model-b/p2')])).toEqual([
        { requests: 100, tokens: 1000, estimatedTokens: 500, cost: 700, unpriced: 0 },
        { requests: 10, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
      ]);
      // Every hold is gone: the whole quota minus the 100 counted is free again.
      const after = await Promise.all(Array.from({ length: 901 }, () => store.reserve(ref(), limits, HOLD_MS)));
      expect(after.filter((r) => r.ok)).toHaveLength(900);
    } finally {
      monitor.disconnect();
    }
  });

  it('what is still waiting to be sent when the store closes is written before it lets go', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await openRedis(redisUrl as string, prefix);
    const sent = [a.commit(ref(), null), a.addTokens(ref(), 42, false, null)];
    await a.close();
    await Promise.all(sent);
    const b = await openRedis(redisUrl as string, prefix);
    expect(await b.read([ref()])).toEqual([{ requests: 1, tokens: 42, estimatedTokens: 0, cost: 0, unpriced: 1 }]);
  });

  it('slots are shared by instances, and the slots of an instance that died free themselves after their hold', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await openRedis(redisUrl as string, prefix);
    const b = await openRedis(redisUrl as string, prefix);
    expect(await a.acquireSlot('key:k', 2, 300)).not.toBeNull();
    expect(await a.acquireSlot('key:k', 2, 300)).not.toBeNull();
    expect(await b.acquireSlot('key:k', 2, 300)).toBeNull();
    await a.close(); // never released: as if the process died
    await new Promise((r) => setTimeout(r, 400));
    expect(await b.acquireSlot('key:k', 2, 300)).not.toBeNull();
  });

  it('a slot still held (a long stream) is renewed past its hold, and freed at once when released', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = new RedisStore(redisUrl as string, prefix, { slotRefreshMs: 100 });
    opened.push(a);
    await a.ready(5000);
    const b = await openRedis(redisUrl as string, prefix);
    const held = await a.acquireSlot('key:k', 1, 300);
    expect(held).not.toBeNull();
    await new Promise((r) => setTimeout(r, 700)); // more than twice the hold
    expect(await b.acquireSlot('key:k', 1, 300)).toBeNull();
    await a.releaseSlot('key:k', held!);
    expect(await b.acquireSlot('key:k', 1, 300)).not.toBeNull();
  });

  it('two instances on two connections racing 200 reserves against a limit of 20 give exactly 20', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await openRedis(redisUrl as string, prefix);
    const b = await openRedis(redisUrl as string, prefix);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).reserve(ref(), requestsOnly(20), HOLD_MS)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(20);
    expect(results.filter((r) => !r.ok && r.exhausted === 'requests')).toHaveLength(180);
    // Both instances see the same state.
    expect(await a.reserve(ref(), requestsOnly(20), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
    expect(await b.reserve(ref(), requestsOnly(20), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
    const okTokens = results.filter((r) => r.ok).map(tokenOf);
    await Promise.all(okTokens.map((t, i) => (i % 2 === 0 ? a : b).commit(ref(), t)));
    expect(await a.read([ref()])).toEqual([{ requests: 20, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
    expect(await b.read([ref()])).toEqual([{ requests: 20, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
  });

  it('a hold that is never committed or released frees itself after holdMs', async () => {
    const s = await openRedis(redisUrl as string, `test:${randomUUID()}:`);
    const first = await s.reserve(ref(), requestsOnly(1), 200);
    expect(first.ok).toBe(true);
    expect(await s.reserve(ref(), requestsOnly(1), 200)).toEqual({ ok: false, exhausted: 'requests' });
    await sleep(300);
    const again = await s.reserve(ref(), requestsOnly(1), HOLD_MS);
    expect(again.ok).toBe(true);
    // The expired hold was never counted.
    expect((await s.read([ref()]))[0]!.requests).toBe(0);
    // And a hold with a long holdMs does not free itself in that time.
    await sleep(300);
    expect(await s.reserve(ref(), requestsOnly(1), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
  });

  it('a hold that expired and is then committed counts once', async () => {
    const s = await openRedis(redisUrl as string, `test:${randomUUID()}:`);
    const late = await s.reserve(ref(), requestsOnly(2), 100);
    await sleep(200);
    await s.commit(ref(), tokenOf(late));
    expect((await s.read([ref()]))[0]!.requests).toBe(1);
    // 1 used, nothing held: one more fits.
    expect((await s.reserve(ref(), requestsOnly(2), HOLD_MS)).ok).toBe(true);
    expect(await s.reserve(ref(), requestsOnly(2), HOLD_MS)).toEqual({ ok: false, exhausted: 'requests' });
  });

  it('prefixes keep two gateways apart', async () => {
    const a = await openRedis(redisUrl as string, `test:${randomUUID()}:`);
    const b = await openRedis(redisUrl as string, `test:${randomUUID()}:`);
    await a.commit(ref(), null);
    expect(await a.read([ref()])).toEqual([{ requests: 1, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
    expect(await b.read([ref()])).toEqual([{ requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
  });

  it('a store pointed at a closed port is unhealthy and its reserve rejects quickly', async () => {
    const s = await openRedis('redis://127.0.0.1:1', `test:${randomUUID()}:`, false);
    const t0 = Date.now();
    expect(await s.healthy()).toBe(false);
    const err = await s.reserve(ref(), requestsOnly(5), HOLD_MS).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
    await expect(s.read([ref()])).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.ready(300)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await s.healthy()).toBe(false);
  });
});

describe('SqliteStore only', () => {
  let dir: string;
  const opened: SqliteStore[] = [];
  const openSqlite = (path: string, flushMs = 20): SqliteStore => {
    const s = new SqliteStore(path, { flushMs });
    opened.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'usage-sqlite-'));
  });

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counters survive close() and reopening the same file; holds do not', async () => {
    const path = join(dir, 'usage.db');
    const a: UsageStore = openSqlite(path, 60_000); // no timed flush: close() must write
    const p1 = ref('model-a/p1');
    const p2 = ref('model-a/p2', START + DAY);
    for (let i = 0; i < 3; i++) await a.commit(p1, null);
    await a.addTokens(p1, 1234, false);
    await a.addTokens(p1, 66, true);
    await a.commit(p2, null);
    const held = await a.reserve(p1, requestsOnly(5), HOLD_MS);
    expect(held.ok).toBe(true);
    await a.close();
    expect(await a.healthy()).toBe(false);
    const b = openSqlite(path);
    expect(await b.read([p1, p2])).toEqual([
      { requests: 3, tokens: 1300, estimatedTokens: 66, cost: 0, unpriced: 0 },
      { requests: 1, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
    ]);
    // The hold died with the store that took it: 3 used of 5, two fit.
    const r = await reserveN(b, p1, requestsOnly(5), 3);
    expect(r.map((x) => x.ok)).toEqual([true, true, false]);
  });

  it('a reset is durable', async () => {
    const path = join(dir, 'usage.db');
    const a = openSqlite(path);
    await a.commit(ref(), null);
    await a.addTokens(ref(), 10, false);
    await a.close();
    const b = openSqlite(path);
    await b.reset([ref()]);
    await b.close();
    const c = openSqlite(path);
    expect(await c.read([ref()])).toEqual([{ requests: 0, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 }]);
  });

  it('a crash-like stop keeps what was flushed', async () => {
    const path = join(dir, 'usage.db');
    const a = openSqlite(path, 25);
    for (let i = 0; i < 4; i++) await a.commit(ref(), null);
    await a.addTokens(ref(), 500, false);
    await a.addTokens(ref(), 25, true);
    await a.commit(ref('model-b/p9'), null);
    await sleep(250); // several flush intervals, no close()
    // The running store holds an exclusive lock: look at a copy, as a restarted process would see the files.
    const copyDir = join(dir, 'copy');
    const copy = join(copyDir, 'usage.db');
    mkdirSync(copyDir);
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
    const b = openSqlite(copy);
    expect(await b.read([ref(), ref('model-b/p9')])).toEqual([
      { requests: 4, tokens: 525, estimatedTokens: 25, cost: 0, unpriced: 0 },
      { requests: 1, tokens: 0, estimatedTokens: 0, cost: 0, unpriced: 0 },
    ]);
  });

  it('a second store on a file that is open says it is in use by another gateway process', () => {
    const path = join(dir, 'usage.db');
    openSqlite(path);
    let err: unknown = null;
    try {
      openSqlite(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/in use by another gateway process/);
    expect((err as Error).message).toContain(path);
  });

  it('a file that was in use can be opened once its store closed', async () => {
    const path = join(dir, 'usage.db');
    const a = openSqlite(path);
    await a.commit(ref(), null);
    await a.close();
    const b = openSqlite(path);
    expect((await b.read([ref()]))[0]!.requests).toBe(1);
  });

  it.each([
    ['a short text', 'this is not a database'],
    ['a long text', 'this is not a database\n'.repeat(400)],
  ])('a file holding %s throws an error naming the path and leaves the file alone', (_label, garbage) => {
    const path = join(dir, 'usage.db');
    writeFileSync(path, garbage);
    let err: unknown = null;
    try {
      openSqlite(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).not.toMatch(/in use by another gateway process/);
    expect(readFileSync(path, 'utf8')).toBe(garbage);
  });
});
