import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, runGateway } from '../helpers/process.js';

describe('the gateway process stops at start over a usage file it cannot read', () => {
  it.each([
    ['empty (0 bytes)', Buffer.alloc(0), 'it is empty (0 bytes)'],
    ['not a SQLite database', Buffer.from('{"m/p": {"requests": 41}}'), 'it is not a SQLite database'],
  ])('%s: exit 1, the file named, the file unchanged', async (_name, bytes, why) => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-usage-file-'));
    const config = join(dir, 'provider.json');
    writeFileSync(config, JSON.stringify({ m: { providers: [{ name: 'p', endpoint: 'http://127.0.0.1:9/v1', api_key: 'k', model: 'x' }] } }));
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    const file = join(dataDir, 'usage.db');
    writeFileSync(file, bytes);
    const proc = runGateway({ CONFIG_PATH: config, DATA_DIR: dataDir, LOG_DIR: join(dir, 'logs'), HOST: '127.0.0.1', PORT: String(await freePort()) });
    // A gateway that starts anyway is stopped (it is the failure this test looks for).
    const started = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const { code, stderr } = await proc.done.finally(() => clearTimeout(started));
    expect(code).toBe(1);
    expect(stderr).toContain(`usage store ${file} cannot be used: ${why}`);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(readdirSync(dataDir)).toEqual(['usage.db']);
  });
});
