import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach } from 'vitest';
import { parseRedisUrl } from '../../src/usage/redis-client.js';
import { RedisStore } from '../../src/usage/redis-store.js';
import { SqliteStore } from '../../src/usage/sqlite-store.js';
import type { UsageStore } from '../../src/usage/store.js';

/** One store implementation under test: opens stores of a fresh, isolated namespace per test. */
export interface Harness {
  /** Opens a store (another one on the same file or prefix when called again). */
  open(): Promise<UsageStore>;
  /** Frees what the harness made (temp files, Redis keys). Stores are closed before. */
  cleanup(): Promise<void>;
}

/**
 * Every store, for `describe.each`: SQLite in a temp file, Redis (one server, and a three-node
 * Redis Cluster) under a random prefix; `available` is false for a Redis the run has not got.
 */
export function storeFactories(redisUrl: string | null | undefined, clusterUrl?: string | null): Array<{ name: 'sqlite' | 'redis' | 'redis cluster'; kind: 'sqlite' | 'redis'; available: boolean; make: () => Harness }> {
  return [
    { name: 'sqlite', kind: 'sqlite', available: true, make: () => sqliteHarness() },
    { name: 'redis', kind: 'redis', available: !!redisUrl, make: () => redisHarness(redisUrl as string) },
    { name: 'redis cluster', kind: 'redis', available: !!clusterUrl, make: () => redisHarness(clusterUrl as string) },
  ];
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
  return {
    open: async () => new SqliteStore(join(dir, 'usage.db'), { flushMs: 20 }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function redisHarness(url: string): Harness {
  const prefix = `test:${randomUUID()}:`;
  return {
    open: async () => {
      const s = new RedisStore(url, prefix);
      try {
        await s.ready(5000);
      } catch (err) {
        await s.close();
        throw err;
      }
      return s;
    },
    cleanup: () => dropPrefix(url, prefix),
  };
}

/** Deletes every key under `prefix` (the tests' Redis is shared by the test files), on each node of a cluster. */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const target = parseRedisUrl(url);
  const nodes = target.kind === 'cluster' ? target.nodes.map((n) => `redis://${n.host}:${n.port}`) : [url];
  for (const node of nodes) {
    const raw = new Redis(node, { lazyConnect: true });
    try {
      await raw.connect();
      let cursor = '0';
      do {
        const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        // One key at a time: keys of several hash slots cannot go in one DEL on a cluster node.
        for (const key of keys) await raw.del(key);
      } while (cursor !== '0');
    } finally {
      raw.disconnect();
    }
  }
}

/**
 * A fresh harness and store for each test of the block, every store it opened closed after:
 * `store()` is the test's store, `open()` another one on the same namespace.
 */
export function useStores(make: () => Harness): { store(): UsageStore; open(): Promise<UsageStore> } {
  let harness: Harness;
  let opened: UsageStore[] = [];
  let store: UsageStore | undefined;
  const open = async (): Promise<UsageStore> => {
    const s = await harness.open();
    opened.push(s);
    return s;
  };
  beforeEach(async () => {
    harness = make();
    opened = [];
    store = await open();
  });
  afterEach(async () => {
    for (const s of opened) await s.close();
    await harness.cleanup();
  });
  return {
    store: () => {
      if (!store) throw new Error('the store is only there inside tests');
      return store;
    },
    open,
  };
}
