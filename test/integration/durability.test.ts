import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamDouble, type UpstreamDouble } from '../../tools/upstream-double.js';
import { call, chat } from '../helpers/http.js';
import { freePort, runGateway, waitFor } from '../helpers/process.js';

let double: UpstreamDouble;
beforeAll(async () => {
  double = await createUpstreamDouble();
});
afterAll(() => double.close());

/** A config file and a data directory of their own. */
function setup(): { env: Record<string, string>; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-durable-'));
  const path = join(dir, 'provider.json');
  writeFileSync(path, JSON.stringify({ m: { providers: [{ name: 'p', endpoint: double.url('p'), api_key: 'k', model: 'x', rate_limit: { requests_per_period: 1000 } }] } }));
  const dataDir = join(dir, 'data');
  return { env: { CONFIG_PATH: path, DATA_DIR: dataDir, LOG_DIR: join(dir, 'logs'), HOST: '127.0.0.1' }, dataDir };
}

async function start(env: Record<string, string>) {
  const port = await freePort();
  const proc = runGateway({ ...env, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/health`);
  return { proc, url };
}

async function requests(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await call(`${url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
}

describe('usage survives restarts', () => {
  it('SIGTERM loses nothing: every request made before it is counted after a restart', async () => {
    const { env } = setup();
    const first = await start(env);
    await requests(first.url, 7);
    first.proc.kill('SIGTERM');
    expect((await first.proc.done).code).toBe(0);
    const second = await start(env);
    const stats = (await call(`${second.url}/admin/stats`)).json;
    expect(stats.m.p.requests).toBe(7);
    expect(stats.m.p.tokens).toBeGreaterThan(0);
    await requests(second.url, 1);
    second.proc.kill('SIGTERM');
    await second.proc.done;
  });

  it('kill -9 loses at most the last second', async () => {
    const { env } = setup();
    const first = await start(env);
    await requests(first.url, 5);
    await new Promise((r) => setTimeout(r, 1300));
    first.proc.kill('SIGKILL');
    expect((await first.proc.done).signal).toBe('SIGKILL');
    const second = await start(env);
    expect((await call(`${second.url}/admin/stats`)).json.m.p.requests).toBe(5);
    second.proc.kill('SIGTERM');
    await second.proc.done;
  });

  it('refuses to start on a corrupt usage file instead of counting from 0', async () => {
    const { env, dataDir } = setup();
    const first = await start(env);
    first.proc.kill('SIGTERM');
    await first.proc.done;
    writeFileSync(join(dataDir, 'usage.db'), 'this is not a database, it is a corrupted file '.repeat(100));
    const port = await freePort();
    const broken = runGateway({ ...env, PORT: String(port) });
    const { code, stderr } = await broken.done;
    expect(code).toBe(1);
    expect(stderr).toContain('usage.db');
    expect(stderr).toContain('cannot be used');
  });

  it('a second gateway on the same data directory refuses to start (Redis is for several instances)', async () => {
    const { env } = setup();
    const first = await start(env);
    const port = await freePort();
    const second = runGateway({ ...env, PORT: String(port) });
    const { code, stderr } = await second.done;
    expect(code).toBe(1);
    expect(stderr).toContain('in use by another gateway process');
    first.proc.kill('SIGTERM');
    await first.proc.done;
  });
});
