import type { RedisClient } from './redis-client.js';
import { answerSoon } from './redis-answer.js';
import { StoreUnavailableError } from './store.js';
import type { Sql, SqlStatement } from './sqlite-driver.js';

/**
 * Virtual keys (SPEC §8) as the usage store keeps them: one JSON record per key id (settings and
 * the hash of the secret, never the secret), and a version that changes with every write, so an
 * instance that sees a new version reloads them all. Records are few (an operator makes them) and
 * small; the whole set is read at once.
 */
export interface KeyRecordStore {
  /** Every record and the version they are at. */
  load(): Promise<{ version: number; records: string[] }>;
  /** The version now: it changes with every write, by any instance. */
  version(): Promise<number>;
  /** Creates or replaces the record of `id`; the version changes. */
  put(id: string, record: string): Promise<void>;
}

/** In the embedded store's SQLite file, written at once: a key made is a key kept, whatever happens next. */
export class SqliteKeyRecords implements KeyRecordStore {
  private readonly upsert: SqlStatement;
  private readonly all: SqlStatement;
  private writes = 0;

  constructor(db: Sql) {
    db.exec(`CREATE TABLE IF NOT EXISTS virtual_keys (
      id TEXT PRIMARY KEY,
      record TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
    this.upsert = db.prepare(`INSERT INTO virtual_keys (id, record, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at`);
    this.all = db.prepare('SELECT record FROM virtual_keys ORDER BY id');
  }

  async load(): Promise<{ version: number; records: string[] }> {
    return { version: this.writes, records: this.all.all().map((r) => String((r as { record: unknown }).record)) };
  }

  async version(): Promise<number> {
    return this.writes;
  }

  async put(id: string, record: string): Promise<void> {
    this.upsert.run(id, record, Date.now());
    this.writes += 1;
  }
}

/** In Redis: one hash of records and a counter, under the `{keys}` hash tag (one Redis Cluster slot). */
export class RedisKeyRecords implements KeyRecordStore {
  private readonly records: string;
  private readonly versionKey: string;

  constructor(private readonly redis: RedisClient, prefix: string) {
    this.records = `${prefix}{keys}:records`;
    this.versionKey = `${prefix}{keys}:version`;
  }

  async load(): Promise<{ version: number; records: string[] }> {
    this.connected();
    const r = await answerSoon(this.redis.multi().get(this.versionKey).hvals(this.records).exec());
    if (!r) throw new Error('redis did not run the read');
    for (const [err] of r) if (err) throw err;
    return { version: Number(r[0]?.[1] ?? 0), records: (r[1]?.[1] as string[] | undefined) ?? [] };
  }

  async version(): Promise<number> {
    this.connected();
    return Number(await answerSoon(this.redis.get(this.versionKey)) ?? 0);
  }

  /**
   * Reads are not queued while Redis is away (each poll would wait in the client's queue until it
   * is back); while the first connection is being made they wait for it, at most ANSWER_TIMEOUT_MS.
   */
  private connected(): void {
    const st = this.redis.status;
    if (st === 'reconnecting' || st === 'close' || st === 'end') throw new StoreUnavailableError('redis is not connected');
  }

  async put(id: string, record: string): Promise<void> {
    const r = await answerSoon(this.redis.multi().hset(this.records, id, record).incr(this.versionKey).exec());
    for (const [err] of r ?? []) if (err) throw err;
  }
}
