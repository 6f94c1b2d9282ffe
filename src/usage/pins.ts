import type { RedisClient } from './redis-client.js';
import { answerSoon } from './redis-answer.js';
import type { Sql, SqlStatement } from './sqlite-driver.js';

/**
 * Session pins (SPEC §9) as the usage store keeps them: which provider served a session last,
 * under a key the gateway derives (a digest, never client text), for a TTL. A pin is a hint: a
 * read that fails or takes too long is no pin, and a write that fails is forgotten.
 */
export interface PinStore {
  /** The provider pinned under `key` and when it was written (epoch ms); null when none or expired. */
  get(key: string): Promise<{ provider: string; at: number } | null>;
  /** Pins `key` to `provider` for `ttlMs` from now (replacing any pin). */
  set(key: string, provider: string, ttlMs: number): Promise<void>;
  /** Live pins (for the admin view; at most 10,000 counted on Redis). */
  count(): Promise<number>;
}

const MAX_KEY = 256;
/** The embedded table keeps at most this many pins: past it, those expiring soonest go. */
const MAX_ROWS = 100_000;
/** How long a read of a shared pin may take: past it the request goes on without one. */
export const PIN_READ_MS = 250;

/** In the embedded store's SQLite file. */
export class SqlitePins implements PinStore {
  private readonly select: SqlStatement;
  private readonly upsert: SqlStatement;
  private readonly sweep: SqlStatement;
  private readonly live: SqlStatement;
  private readonly trim: SqlStatement;
  private writes = 0;

  constructor(db: Sql, private readonly now: () => number = Date.now) {
    db.exec(`CREATE TABLE IF NOT EXISTS affinity_pins (
      key TEXT PRIMARY KEY,
      provider TEXT NOT NULL,
      at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
    this.select = db.prepare('SELECT provider, at FROM affinity_pins WHERE key = ? AND expires_at > ?');
    this.upsert = db.prepare(`INSERT INTO affinity_pins (key, provider, at, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET provider = excluded.provider, at = excluded.at, expires_at = excluded.expires_at`);
    this.sweep = db.prepare('DELETE FROM affinity_pins WHERE expires_at <= ?');
    this.live = db.prepare('SELECT COUNT(*) AS n FROM affinity_pins WHERE expires_at > ?');
    this.trim = db.prepare('DELETE FROM affinity_pins WHERE key IN (SELECT key FROM affinity_pins ORDER BY expires_at LIMIT ?)');
  }

  async get(key: string): Promise<{ provider: string; at: number } | null> {
    const row = this.select.get(key.slice(0, MAX_KEY), this.now());
    return row ? { provider: String(row.provider), at: Number(row.at) } : null;
  }

  async set(key: string, provider: string, ttlMs: number): Promise<void> {
    const now = this.now();
    this.upsert.run(key.slice(0, MAX_KEY), provider, now, now + ttlMs);
    // Expired pins are swept now and then, and the table never outgrows MAX_ROWS.
    if (++this.writes % 1000 === 0) {
      this.sweep.run(now);
      const n = Number(this.live.get(now)?.n ?? 0);
      if (n > MAX_ROWS) this.trim.run(n - MAX_ROWS);
    }
  }

  async count(): Promise<number> {
    return Number(this.live.get(this.now())?.n ?? 0);
  }
}

/** In Redis: one string per pin (`<at>:<provider>`), expiring by itself. */
export class RedisPins implements PinStore {
  constructor(private readonly redis: RedisClient, private readonly prefix: string) {}

  async get(key: string): Promise<{ provider: string; at: number } | null> {
    const st = this.redis.status;
    if (st === 'reconnecting' || st === 'close' || st === 'end') return null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), PIN_READ_MS);
    });
    try {
      const v = await Promise.race([this.redis.get(this.name(key)).catch(() => null), late]);
      if (typeof v !== 'string') return null;
      const colon = v.indexOf(':');
      const at = Number(v.slice(0, colon));
      return colon > 0 && Number.isFinite(at) ? { provider: v.slice(colon + 1), at } : null;
    } finally {
      clearTimeout(timer);
    }
  }

  async set(key: string, provider: string, ttlMs: number): Promise<void> {
    const st = this.redis.status;
    if (st === 'reconnecting' || st === 'close' || st === 'end') return;
    await this.redis.set(this.name(key), `${Date.now()}:${provider}`, 'PX', Math.max(1, Math.round(ttlMs))).catch(() => undefined);
  }

  /** Counted by scanning (up to 10,000): each master of a cluster holds some of the pins. */
  async count(): Promise<number> {
    let n = 0;
    for (const node of 'nodes' in this.redis ? this.redis.nodes('master') : [this.redis]) {
      let cursor = '0';
      do {
        const [next, keys] = await answerSoon(node.scan(cursor, 'MATCH', `${this.prefix}pin:*`, 'COUNT', 1000));
        cursor = next;
        n += keys.length;
      } while (cursor !== '0' && n < 10_000);
      if (n >= 10_000) break;
    }
    return Math.min(n, 10_000);
  }

  /** Each pin its own hash tag: pins spread over a Redis Cluster's slots. */
  private name(key: string): string {
    return `${this.prefix}pin:{${key.slice(0, MAX_KEY)}}`;
  }
}
