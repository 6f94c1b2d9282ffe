import { Pool } from 'undici';

/**
 * One keep-alive connection pool per provider origin. Pools are made on first use and closed
 * when no configured provider uses their origin any more (`retain`, at reload).
 */
export class Pools {
  private readonly byOrigin = new Map<string, Pool>();

  get(origin: string): Pool {
    let pool = this.byOrigin.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: null,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: 10_000 },
      });
      this.byOrigin.set(origin, pool);
    }
    return pool;
  }

  /** Closes the pools of origins no longer in use, once their requests in flight are done. */
  retain(origins: ReadonlySet<string>): void {
    for (const [origin, pool] of this.byOrigin) {
      if (origins.has(origin)) continue;
      this.byOrigin.delete(origin);
      void pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.byOrigin.values()];
    this.byOrigin.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}
