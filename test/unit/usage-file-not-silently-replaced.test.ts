import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/usage/sqlite-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fileWith(bytes: Buffer): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'usage-file-'));
  dirs.push(dir);
  const path = join(dir, 'usage.db');
  writeFileSync(path, bytes);
  return { dir, path };
}

const ref = { providerId: 'm/p', start: 0, end: 86_400_000 };

describe('the embedded store never starts from 0 over an existing file it cannot read', () => {
  it.each([
    ['empty (0 bytes)', Buffer.alloc(0), /usage store .*usage\.db cannot be used: it is empty \(0 bytes\)/],
    ['text', Buffer.from('this is not a database\n'.repeat(300)), /usage store .*usage\.db cannot be used: it is not a SQLite database/],
    ['JSON (the first version kept usage as JSON files)', Buffer.from('{"requests": 12, "tokens": 3400}'), /cannot be used: it is not a SQLite database/],
    ['4 KiB of zeros', Buffer.alloc(4096), /cannot be used: it is not a SQLite database/],
    ['the SQLite header cut short', Buffer.from('SQLite for'), /cannot be used: it is not a SQLite database/],
  ])('%s: refused with the file named, and left byte for byte as it was', (_name, bytes, message) => {
    const { dir, path } = fileWith(bytes);
    const before = statSync(path);
    expect(() => new SqliteStore(path)).toThrow(message);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(statSync(path).size).toBe(before.size);
    expect(statSync(path).mtimeMs).toBe(before.mtimeMs);
    // No journal or WAL file left beside it either.
    expect(readdirSync(dir)).toEqual(['usage.db']);
  });

  it('a missing file is a new store; a store the gateway wrote opens again with its counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usage-file-'));
    dirs.push(dir);
    const path = join(dir, 'data', 'usage.db');
    const first = new SqliteStore(path);
    await first.commit(ref, null);
    await first.close();
    const second = new SqliteStore(path);
    expect((await second.read([ref]))[0]?.requests).toBe(1);
    await second.close();
  });
});
