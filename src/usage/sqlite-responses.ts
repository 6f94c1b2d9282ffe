import type { Sql, SqlStatement } from './sqlite-driver.js';
import type { ResponseRecordLimits, ResponseStore, ResponseStoreStats } from './response-store.js';

/**
 * Stored responses in the embedded store's SQLite file. Written at once (not with the counters'
 * periodic flush): a client may ask for a response the moment its answer ends, and a restart
 * must keep it. Expired rows are removed as records are added and by `purge`.
 */
export class SqliteResponses implements ResponseStore {
  private readonly insert: SqlStatement;
  private readonly select: SqlStatement;
  private readonly remove: SqlStatement;
  private readonly removeExpired: SqlStatement;
  private readonly expiredTotals: SqlStatement;
  private readonly oldest: SqlStatement;
  private readonly removeId: SqlStatement;
  private bytes = 0;
  private count = 0;

  constructor(private readonly db: Sql, private readonly now: () => number = Date.now) {
    db.exec(`CREATE TABLE IF NOT EXISTS responses (
      id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      body TEXT NOT NULL
    ) WITHOUT ROWID`);
    db.exec('CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at)');
    this.insert = db.prepare('INSERT OR REPLACE INTO responses (id, owner, expires_at, bytes, body) VALUES (?, ?, ?, ?, ?)');
    this.select = db.prepare('SELECT owner, expires_at, body FROM responses WHERE id = ?');
    this.remove = db.prepare('DELETE FROM responses WHERE id = ? AND owner = ?');
    this.removeExpired = db.prepare('DELETE FROM responses WHERE expires_at <= ?');
    this.expiredTotals = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM responses WHERE expires_at <= ?');
    this.oldest = db.prepare('SELECT id, bytes FROM responses ORDER BY expires_at LIMIT 1');
    this.removeId = db.prepare('DELETE FROM responses WHERE id = ?');
    // The totals are read once, then kept up to date with each change (no scan per request).
    const t = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM responses').get();
    this.count = Number(t?.n ?? 0);
    this.bytes = Number(t?.b ?? 0);
    this.purge();
  }

  async put(id: string, owner: string, body: string, limits: ResponseRecordLimits): Promise<boolean> {
    const size = Buffer.byteLength(body);
    if (size > limits.maxBytes) return false;
    this.db.transaction(() => {
      this.purge();
      while (this.bytes + size > limits.maxBytes && this.count > 0) {
        const row = this.oldest.get();
        if (!row) break;
        this.removeId.run(String(row.id));
        this.count -= 1;
        this.bytes -= Number(row.bytes);
      }
      this.insert.run(id, owner, limits.expiresAt, size, body);
    });
    this.count += 1;
    this.bytes += size;
    return true;
  }

  async get(id: string, owner: string): Promise<string | null> {
    const row = this.select.get(id);
    if (!row || row.owner !== owner || Number(row.expires_at) <= this.now()) return null;
    return String(row.body);
  }

  async delete(id: string, owner: string): Promise<boolean> {
    const row = this.select.get(id);
    if (!row || row.owner !== owner || Number(row.expires_at) <= this.now()) return false;
    this.remove.run(id, owner);
    this.count -= 1;
    this.bytes -= Buffer.byteLength(String(row.body));
    return true;
  }

  async stats(): Promise<ResponseStoreStats> {
    this.purge();
    return { count: this.count, bytes: this.bytes };
  }

  /** Removes expired records. */
  purge(): void {
    const now = this.now();
    const gone = this.expiredTotals.get(now);
    if (Number(gone?.n ?? 0) === 0) return;
    this.removeExpired.run(now);
    this.count -= Number(gone?.n ?? 0);
    this.bytes -= Number(gone?.b ?? 0);
  }
}
