import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { SqlitePins } from '../../src/usage/pins.js';
import { RedisStore } from '../../src/usage/redis-store.js';
import { openSql, type Sql } from '../../src/usage/sqlite-driver.js';
import type { UsageStore } from '../../src/usage/store.js';
import { dropPrefix, storeFactories, useStores } from '../helpers/stores.js';

/**
 * Session pins (SPEC §9) in the usage store: the same contract over SQLite and Redis, then what
 * only one of them does (a fake clock, the sweep and the row cap for SQLite; sharing, the key
 * layout, the count cap and a Redis that does not answer for Redis).
 */
const redisUrl = inject('redisUrl');

const MINUTE = 60_000;

describe.each(storeFactories(redisUrl, inject('redisClusterUrl')))('PinStore contract: $name', ({ name, available, make }) => {
  describe.skipIf(!available)(`${name} pins`, () => {
    const stores = useStores(make);
    let store: UsageStore;
    const open = stores.open;
    beforeEach(() => {
      store = stores.store();
    });

    it('an unknown key has no pin, and an empty store counts none', async () => {
      expect(await store.pins.get('aff:nobody')).toBeNull();
      expect(await store.pins.count()).toBe(0);
    });

    it('set then get returns the provider and a write time close to now', async () => {
      const t0 = Date.now();
      await store.pins.set('aff:s1', 'model-a/p1', MINUTE);
      const t1 = Date.now();
      const pin = await store.pins.get('aff:s1');
      expect(pin?.provider).toBe('model-a/p1');
      expect(pin!.at).toBeGreaterThanOrEqual(t0);
      expect(pin!.at).toBeLessThanOrEqual(t1);
      // Another key is not pinned by it.
      expect(await store.pins.get('aff:s2')).toBeNull();
    });

    it('provider names with colons and non-ASCII text come back unchanged', async () => {
      await store.pins.set('aff:s1', 'model:x/p:1:é', MINUTE);
      expect((await store.pins.get('aff:s1'))?.provider).toBe('model:x/p:1:é');
    });

    it('set replaces the pin and its write time; other keys keep theirs', async () => {
      await store.pins.set('aff:s1', 'model-a/p1', MINUTE);
      await store.pins.set('aff:s2', 'model-a/p3', MINUTE);
      const first = await store.pins.get('aff:s1');
      await sleep(15);
      await store.pins.set('aff:s1', 'model-a/p2', MINUTE);
      const second = await store.pins.get('aff:s1');
      expect(second?.provider).toBe('model-a/p2');
      expect(second!.at).toBeGreaterThan(first!.at);
      expect((await store.pins.get('aff:s2'))?.provider).toBe('model-a/p3');
      expect(await store.pins.count()).toBe(2);
    });

    it('a pin expires after its TTL, and is no longer counted', async () => {
      await store.pins.set('aff:short', 'model-a/p1', 200);
      await store.pins.set('aff:long', 'model-a/p2', MINUTE);
      expect((await store.pins.get('aff:short'))?.provider).toBe('model-a/p1');
      expect(await store.pins.count()).toBe(2);
      await sleep(350);
      expect(await store.pins.get('aff:short')).toBeNull();
      expect((await store.pins.get('aff:long'))?.provider).toBe('model-a/p2');
      expect(await store.pins.count()).toBe(1);
    });

    it('a pin set again with a new TTL lives by the new one', async () => {
      await store.pins.set('aff:s1', 'model-a/p1', 200);
      await store.pins.set('aff:s1', 'model-a/p1', MINUTE);
      await sleep(350);
      expect((await store.pins.get('aff:s1'))?.provider).toBe('model-a/p1');
    });

    it('count counts distinct live keys', async () => {
      for (let i = 0; i < 7; i++) await store.pins.set(`aff:s${i}`, `model-a/p${i % 3}`, MINUTE);
      await store.pins.set('aff:s0', 'model-a/p9', MINUTE);
      expect(await store.pins.count()).toBe(7);
    });

    it('an over-long key works, and only its first 256 characters name the pin', async () => {
      const long = 'k'.repeat(300);
      await store.pins.set(long, 'model-a/p1', MINUTE);
      expect((await store.pins.get(long))?.provider).toBe('model-a/p1');
      // Same first 256 characters: the same pin.
      expect((await store.pins.get(`${'k'.repeat(256)}other`))?.provider).toBe('model-a/p1');
      expect((await store.pins.get('k'.repeat(256)))?.provider).toBe('model-a/p1');
      // One character fewer: another key.
      expect(await store.pins.get('k'.repeat(255))).toBeNull();
      expect(await store.pins.count()).toBe(1);
    });

    it('pins outlive the store: another one opened on the same file or prefix sees them', async () => {
      await store.pins.set('aff:s1', 'model-a/p2', MINUTE);
      await store.close();
      const again = await open();
      expect((await again.pins.get('aff:s1'))?.provider).toBe('model-a/p2');
      expect(await again.pins.count()).toBe(1);
    });
  });
});

describe('SqlitePins only (fake clock)', () => {
  let db: Sql;
  let clock: number;
  let pins: SqlitePins;
  const rows = (): number => Number(db.prepare('SELECT COUNT(*) AS n FROM affinity_pins').get()?.n);

  beforeEach(() => {
    db = openSql(':memory:', 1000);
    clock = 1_000_000;
    pins = new SqlitePins(db, () => clock);
  });

  afterEach(() => {
    db.close();
  });

  it('a pin lives exactly its TTL on the given clock, and `at` is that clock', async () => {
    await pins.set('aff:s1', 'model-a/p1', 1000);
    expect(await pins.get('aff:s1')).toEqual({ provider: 'model-a/p1', at: 1_000_000 });
    clock += 999;
    expect(await pins.get('aff:s1')).toEqual({ provider: 'model-a/p1', at: 1_000_000 });
    expect(await pins.count()).toBe(1);
    clock += 1;
    expect(await pins.get('aff:s1')).toBeNull();
    expect(await pins.count()).toBe(0);
  });

  it('setting again moves `at` and the expiry to the new clock', async () => {
    await pins.set('aff:s1', 'model-a/p1', 1000);
    clock += 800;
    await pins.set('aff:s1', 'model-a/p2', 1000);
    clock += 800;
    expect(await pins.get('aff:s1')).toEqual({ provider: 'model-a/p2', at: 1_000_800 });
  });

  it('expired rows are swept by every thousandth write', async () => {
    for (let i = 0; i < 10; i++) await pins.set(`aff:old${i}`, 'model-a/p1', 100);
    clock += 200;
    for (let i = 0; i < 989; i++) await pins.set(`aff:new${i}`, 'model-a/p2', MINUTE);
    // 999 writes: the expired rows are still in the table, though not counted.
    expect(rows()).toBe(999);
    expect(await pins.count()).toBe(989);
    await pins.set('aff:new989', 'model-a/p2', MINUTE);
    expect(rows()).toBe(990);
    expect(await pins.count()).toBe(990);
  });

  it('the table is capped at 100,000 pins: past it, those expiring soonest go', async () => {
    // Key i expires at clock + MINUTE + i: the lowest keys expire soonest.
    for (let i = 0; i < 101_000; i++) await pins.set(`aff:${i}`, 'model-a/p1', MINUTE + i);
    expect(rows()).toBe(100_000);
    expect(await pins.count()).toBe(100_000);
    expect(await pins.get('aff:0')).toBeNull();
    expect(await pins.get('aff:999')).toBeNull();
    expect((await pins.get('aff:1000'))?.provider).toBe('model-a/p1');
    expect((await pins.get('aff:100999'))?.provider).toBe('model-a/p1');
  });
});

describe.skipIf(!redisUrl)('RedisPins only', () => {
  const opened: RedisStore[] = [];
  const prefixes: string[] = [];
  const openRedis = async (prefix: string): Promise<RedisStore> => {
    const s = new RedisStore(redisUrl as string, prefix);
    opened.push(s);
    await s.ready(5000);
    return s;
  };
  const newPrefix = (): string => {
    const p = `test:${randomUUID()}:`;
    prefixes.push(p);
    return p;
  };

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    for (const p of prefixes.splice(0)) await dropPrefix(redisUrl as string, p);
  });

  it('two instances on one Redis see each other’s pins, and prefixes keep two gateways apart', async () => {
    const prefix = newPrefix();
    const a = await openRedis(prefix);
    const b = await openRedis(prefix);
    const other = await openRedis(newPrefix());
    await a.pins.set('aff:s1', 'model-a/p1', MINUTE);
    expect((await b.pins.get('aff:s1'))?.provider).toBe('model-a/p1');
    await b.pins.set('aff:s1', 'model-a/p2', MINUTE);
    expect((await a.pins.get('aff:s1'))?.provider).toBe('model-a/p2');
    expect(await a.pins.count()).toBe(1);
    expect(await b.pins.count()).toBe(1);
    expect(await other.pins.get('aff:s1')).toBeNull();
    expect(await other.pins.count()).toBe(0);
  });

  it('each pin is its own key, `<prefix>pin:{<key>}`, expiring by itself', async () => {
    const prefix = newPrefix();
    const s = await openRedis(prefix);
    await s.pins.set('aff:s1', 'model-a/p1', MINUTE);
    await s.pins.set('x'.repeat(300), 'model-a/p2', MINUTE);
    const raw = new Redis(redisUrl as string);
    try {
      const pttl = await raw.pttl(`${prefix}pin:{aff:s1}`);
      expect(pttl).toBeGreaterThan(MINUTE - 5000);
      expect(pttl).toBeLessThanOrEqual(MINUTE);
      expect(await raw.get(`${prefix}pin:{aff:s1}`)).toMatch(/^\d+:model-a\/p1$/);
      expect(await raw.exists(`${prefix}pin:{${'x'.repeat(256)}}`)).toBe(1);
    } finally {
      raw.disconnect();
    }
  });

  it('count stops at 10,000', async () => {
    const s = await openRedis(newPrefix());
    await Promise.all(Array.from({ length: 10_050 }, (_, i) => s.pins.set(`aff:${i}`, 'model-a/p1', MINUTE)));
    expect((await s.pins.get('aff:10049'))?.provider).toBe('model-a/p1');
    expect(await s.pins.count()).toBe(10_000);
  });

  it('a Redis that refuses connections: get resolves null and set resolves, both at once', async () => {
    const s = new RedisStore('redis://127.0.0.1:1', `test:${randomUUID()}:`);
    opened.push(s);
    const t0 = Date.now();
    expect(await s.pins.get('aff:s1')).toBeNull();
    await expect(s.pins.set('aff:s1', 'model-a/p1', MINUTE)).resolves.toBeUndefined();
    expect(await s.pins.get('aff:s1')).toBeNull();
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a Redis that accepts but never answers: get gives up after about 250 ms, and a pending set never rejects', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const s = new RedisStore(`redis://127.0.0.1:${port}`, `test:${randomUUID()}:`);
    try {
      const pending = s.pins.set('aff:s1', 'model-a/p1', MINUTE);
      const t0 = Date.now();
      expect(await s.pins.get('aff:s1')).toBeNull();
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(200);
      expect(took).toBeLessThan(1000);
      await s.close();
      for (const sock of sockets) sock.destroy();
      // The queued write is dropped with the connection, without a rejection.
      await expect(pending).resolves.toBeUndefined();
    } finally {
      await s.close();
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
