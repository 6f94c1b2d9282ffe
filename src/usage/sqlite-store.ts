import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { openSql, type Sql, type SqlStatement } from './sqlite-driver.js';
import { SqliteKeyRecords } from './key-records.js';
import { SqliteResponses } from './sqlite-responses.js';
import { SqlitePins } from './pins.js';
import type { Counters, Limits, PeriodRef, ReserveResult, UsageStore } from './store.js';

interface Entry extends Counters {
  /** Reservations of requests in flight. */
  holds: Set<string>;
  dirty: boolean;
}

/**
 * The embedded store: one SQLite file (WAL) owned by one gateway process. Counters live in
 * memory, where check-and-increment is atomic because one thread runs it, and are written to the
 * file every `flushMs` and at close: a crash loses at most that interval. The file is locked
 * exclusively, so a second process on the same file refuses to start instead of double-counting.
 */
export class SqliteStore implements UsageStore {
  readonly kind = 'sqlite';
  readonly responses: SqliteResponses;
  readonly keys: SqliteKeyRecords;
  readonly pins: SqlitePins;
  private readonly db: Sql;
  private readonly entries = new Map<string, Entry>();
  /** Requests in flight per slot name (one process: memory is the truth). */
  private readonly slots = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;
  private readonly select: SqlStatement;
  private readonly upsert: SqlStatement;
  private tokenSeq = 0;
  private closed = false;
  /** The last flush failed (disk full, I/O error): the store is not healthy until one succeeds. */
  private flushError: Error | null = null;

  constructor(path: string, opts: { flushMs?: number; onFlushError?: (err: Error) => void } = {}) {
    const problem = fileProblem(path);
    if (problem) throw new Error(`usage store ${path} cannot be used: ${problem}`);
    mkdirSync(dirname(path), { recursive: true });
    let db: Sql | null = null;
    try {
      db = openSql(path, 1000);
      this.db = db;
      this.db.exec('PRAGMA locking_mode = EXCLUSIVE');
      this.db.prepare('PRAGMA journal_mode = WAL').get();
      this.db.exec('PRAGMA synchronous = NORMAL');
      const check = this.db.prepare('PRAGMA quick_check').get()?.quick_check;
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      this.db.exec(`CREATE TABLE IF NOT EXISTS usage (
        provider_id TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        estimated_tokens INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        cost INTEGER NOT NULL DEFAULT 0,
        unpriced INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (provider_id, period_start)
      ) WITHOUT ROWID`);
      // Files of earlier versions have no cost columns: added, with 0 for what they counted.
      const columns = new Set(this.db.prepare('PRAGMA table_info(usage)').all().map((c) => String((c as { name: unknown }).name)));
      if (!columns.has('cost')) this.db.exec('ALTER TABLE usage ADD COLUMN cost INTEGER NOT NULL DEFAULT 0');
      if (!columns.has('unpriced')) this.db.exec('ALTER TABLE usage ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0');
      // Takes the exclusive lock now, so a second gateway on this file fails here, at start.
      this.db.exec('BEGIN IMMEDIATE; COMMIT');
    } catch (err) {
      // Closed here: a native handle left open at exit aborts the process on some Node versions.
      if (db?.open) db.close();
      const why = (err as Error).message;
      const busy = /locked|busy/i.test(why);
      throw new Error(busy
        ? `usage store ${path} is in use by another gateway process (set REDIS_URL to run several instances)`
        : `usage store ${path} cannot be used: ${why}`);
    }
    this.responses = new SqliteResponses(this.db);
    this.keys = new SqliteKeyRecords(this.db);
    this.pins = new SqlitePins(this.db);
    this.select = this.db.prepare('SELECT requests, tokens, estimated_tokens, cost, unpriced FROM usage WHERE provider_id = ? AND period_start = ?');
    this.upsert = this.db.prepare(`INSERT INTO usage (provider_id, period_start, requests, tokens, estimated_tokens, updated_at, cost, unpriced)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (provider_id, period_start) DO UPDATE SET
        requests = excluded.requests, tokens = excluded.tokens,
        estimated_tokens = excluded.estimated_tokens, updated_at = excluded.updated_at,
        cost = excluded.cost, unpriced = excluded.unpriced`);
    const onFlushError = opts.onFlushError ?? (() => undefined);
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch (err) {
        onFlushError(err as Error);
      }
    }, opts.flushMs ?? 1000);
    this.timer.unref();
  }

  async reserve(ref: PeriodRef, limits: Limits): Promise<ReserveResult> {
    const e = this.entry(ref);
    if (limits.requests !== null && e.requests + e.holds.size >= limits.requests) return { ok: false, exhausted: 'requests' };
    if (limits.tokens !== null && e.tokens >= limits.tokens) return { ok: false, exhausted: 'tokens' };
    if (limits.cost != null && e.cost >= limits.cost) return { ok: false, exhausted: 'cost' };
    const token = String(++this.tokenSeq);
    e.holds.add(token);
    return { ok: true, token };
  }

  async commit(ref: PeriodRef, token: string | null): Promise<void> {
    const e = this.entry(ref);
    if (token !== null) e.holds.delete(token);
    e.requests += 1;
    e.dirty = true;
  }

  async release(ref: PeriodRef, token: string): Promise<void> {
    this.entry(ref).holds.delete(token);
  }

  async addTokens(ref: PeriodRef, tokens: number, estimated: boolean, cost?: number | null): Promise<void> {
    const e = this.entry(ref);
    e.tokens += tokens;
    if (estimated) e.estimatedTokens += tokens;
    if (cost === null) e.unpriced += 1;
    else if (cost !== undefined) e.cost += cost;
    e.dirty = true;
  }

  async acquireSlot(name: string, max: number): Promise<string | null> {
    let held = this.slots.get(name);
    if (!held) this.slots.set(name, (held = new Set()));
    if (held.size >= max) return null;
    const token = String(++this.tokenSeq);
    held.add(token);
    return token;
  }

  async releaseSlot(name: string, token: string): Promise<void> {
    const held = this.slots.get(name);
    if (!held) return;
    held.delete(token);
    if (held.size === 0) this.slots.delete(name);
  }

  async read(refs: readonly PeriodRef[]): Promise<Counters[]> {
    return refs.map((ref) => {
      const e = this.entry(ref);
      return { requests: e.requests, tokens: e.tokens, estimatedTokens: e.estimatedTokens, cost: e.cost, unpriced: e.unpriced };
    });
  }

  async reset(refs: readonly PeriodRef[]): Promise<void> {
    for (const ref of refs) {
      const e = this.entry(ref);
      e.requests = 0;
      e.tokens = 0;
      e.estimatedTokens = 0;
      e.cost = 0;
      e.unpriced = 0;
      e.dirty = true;
    }
    this.flush();
  }

  async healthy(): Promise<boolean> {
    return !this.closed && this.flushError === null;
  }

  /** Writes every changed counter in one transaction. */
  flush(): void {
    if (this.closed) return;
    const dirty = [...this.entries].filter(([, e]) => e.dirty);
    if (dirty.length === 0) return;
    const now = Date.now();
    try {
      this.db.transaction(() => {
        for (const [key, e] of dirty) {
          const [providerId, start] = splitKey(key);
          this.upsert.run(providerId, start, e.requests, e.tokens, e.estimatedTokens, now, e.cost, e.unpriced);
        }
      });
      for (const [, e] of dirty) e.dirty = false;
      this.flushError = null;
    } catch (err) {
      this.flushError = err as Error;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private entry(ref: PeriodRef): Entry {
    const key = `${ref.providerId}\u0000${ref.start}`;
    let e = this.entries.get(key);
    if (!e) {
      const row = this.select.get(ref.providerId, ref.start) as { requests: number; tokens: number; estimated_tokens: number; cost: number; unpriced: number } | undefined;
      e = {
        requests: Number(row?.requests ?? 0), tokens: Number(row?.tokens ?? 0), estimatedTokens: Number(row?.estimated_tokens ?? 0),
        cost: Number(row?.cost ?? 0), unpriced: Number(row?.unpriced ?? 0), holds: new Set(), dirty: false,
      };
      this.entries.set(key, e);
      this.forgetEnded(ref);
    }
    return e;
  }

  /** Drops clean entries of this provider's earlier periods from memory (they stay in the file). */
  private forgetEnded(ref: PeriodRef): void {
    const prefix = `${ref.providerId}\u0000`;
    for (const [key, e] of this.entries) {
      if (key.startsWith(prefix) && !e.dirty && e.holds.size === 0 && splitKey(key)[1] < ref.start) this.entries.delete(key);
    }
  }
}

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Why an existing file at `path` is no usage store, read without writing: SQLite would take an
 * empty file as a new database and count from 0 over what was lost, and it is better that no
 * driver touches a file that is not a database. Null when the file is missing (a new store) or
 * starts as a SQLite database does (SQLite checks the rest).
 */
function fileProblem(path: string): string | null {
  if (path === ':memory:' || path === '') return null;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return code === 'ENOENT' ? null : `it cannot be read (${code})`;
  }
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === 0) {
      return 'it is empty (0 bytes), so the usage it held is lost; the gateway does not start counting from 0 over it. ' +
        'Restore it from a backup, or delete it to start afresh';
    }
    if (n < head.length || !head.equals(SQLITE_HEADER)) {
      return 'it is not a SQLite database (it does not start with the SQLite header) and was left as it is. ' +
        'Restore it from a backup, or move it away to start afresh';
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

function splitKey(key: string): [string, number] {
  const i = key.lastIndexOf('\u0000');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}
