import { createRequire } from 'node:module';

/**
 * The few SQLite calls the embedded store makes, over whichever driver this Node has:
 * - Node's own `node:sqlite` where it loads without a flag (22.13 and later, so the Docker image's
 *   Node 24): no native add-on, which matters because better-sqlite3 12's statement destructor
 *   aborts Node 24 at teardown (`Assertion failed: (env) != nullptr`), and 13 cannot run on 20;
 * - better-sqlite3 12 on Node 20, where `node:sqlite` does not exist.
 */
export interface SqlStatement {
  get(...params: Array<string | number>): Record<string, unknown> | undefined;
  run(...params: Array<string | number>): void;
  all(...params: Array<string | number>): Array<Record<string, unknown>>;
}

export interface Sql {
  readonly driver: 'node:sqlite' | 'better-sqlite3';
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  /** Runs `fn` in one transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on a throw). */
  transaction(fn: () => void): void;
  readonly open: boolean;
  close(): void;
}

interface NodeSqlite {
  DatabaseSync: new (path: string, options?: { timeout?: number }) => {
    exec(sql: string): void;
    prepare(sql: string): { get(...p: unknown[]): unknown; run(...p: unknown[]): unknown; all(...p: unknown[]): unknown[] };
    close(): void;
    readonly isOpen: boolean;
  };
}

export function openSql(path: string, busyTimeoutMs: number): Sql {
  const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined;
  if (builtin?.DatabaseSync) {
    const db = new builtin.DatabaseSync(path, { timeout: busyTimeoutMs });
    const sql: Sql = {
      driver: 'node:sqlite',
      exec: (s) => db.exec(s),
      prepare: (s) => {
        const st = db.prepare(s);
        return { get: (...p) => st.get(...p) as Record<string, unknown> | undefined, run: (...p) => void st.run(...p), all: (...p) => st.all(...p) as Array<Record<string, unknown>> };
      },
      transaction: (fn) => {
        db.exec('BEGIN IMMEDIATE');
        try {
          fn();
          db.exec('COMMIT');
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      },
      get open() {
        return db.isOpen;
      },
      close: () => db.close(),
    };
    return sql;
  }
  const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(path, { timeout: busyTimeoutMs });
  return {
    driver: 'better-sqlite3',
    exec: (s) => void db.exec(s),
    prepare: (s) => {
      const st = db.prepare(s);
      return { get: (...p) => st.get(...p) as Record<string, unknown> | undefined, run: (...p) => void st.run(...p), all: (...p) => st.all(...p) as Array<Record<string, unknown>> };
    },
    transaction: (fn) => db.transaction(fn).immediate(),
    get open() {
      return db.open;
    },
    close: () => db.close(),
  };
}
