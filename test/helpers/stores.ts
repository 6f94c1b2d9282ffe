import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach } from 'vitest';
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

/** Both stores, for `describe.each`: SQLite in a temp file, Redis under a random prefix (skip it without `redisUrl`). */
export function storeFactories(redisUrl: string | undefined): Array<{ name: 'sqlite' | 'redis'; make: () => Harness }> {
  return [
    { name: 'sqlite', make: () => sqliteHarness() },
    { name: 'redis', make: () => redisHarness(redisUrl as string) },
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

/** Deletes every key under `prefix` (the tests' Redis is shared by the test files). */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const raw = new Redis(url, { lazyConnect: true });
  try {
    await raw.connect();
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await raw.del(...keys);
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
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
