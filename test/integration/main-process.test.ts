import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

const run = runGateway;

describe('the gateway process', () => {
  it('refuses to start on an invalid config, naming model, provider and field, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-'));
    const path = join(dir, 'provider.json');
    writeFileSync(path, JSON.stringify({ m: { providers: [{ name: 'p1', endpoint: 'http://x/v1', api_key: 'k', model: 'x', rate_limit: { request_per_period: 5 } }] } }));
    const { code, stderr } = await run({ CONFIG_PATH: path, LOG_DIR: join(dir, 'logs'), DATA_DIR: join(dir, 'data'), PORT: String(await freePort()) }).done;
    expect(code).toBe(1);
    expect(stderr).toContain('model "m", provider "p1": rate_limit: unknown field "request_per_period"');
  });

  it('warns at start when no key is set and it listens beyond loopback, not otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-'));
    const path = join(dir, 'provider.json');
    const start = async (global: Record<string, unknown>, host: string, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> => {
      writeFileSync(path, JSON.stringify({ _global: global, m: { providers: [{ name: 'p', endpoint: double.url('p'), api_key: 'k', model: 'x' }] } }));
      const port = await freePort();
      const proc = run({ CONFIG_PATH: path, PORT: String(port), HOST: host, LOG_DIR: join(dir, 'logs'), DATA_DIR: join(dir, `data-${port}`) });
      await waitFor(`http://127.0.0.1:${port}/health`);
      proc.kill('SIGTERM');
      return (await proc.done)[stream];
    };
    expect(await start({}, '0.0.0.0')).toContain('No gateway api_key is set');
    expect(await start({}, '127.0.0.1')).not.toContain('No gateway api_key is set');
    expect(await start({ api_key: 'a-key-123456' }, '0.0.0.0')).not.toContain('No gateway api_key is set');
    // It starts (the first version's files and the demo must), with a banner that says what is open and how to close it.
    const banner = await start({}, '0.0.0.0', 'stderr');
    expect(banner).toContain('WARNING: no gateway api_key is set');
    expect(banner).toContain('/admin/*');
    expect(banner).toContain('_global.api_key');
    expect(banner).toContain('HOST=127.0.0.1');
    expect(await start({ admin_key: 'an-admin-key-123456' }, '0.0.0.0', 'stderr')).not.toContain('/admin/*');
  });

  it('refuses a malformed REDIS_URL with the shape expected, never repeating its password, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-'));
    const path = join(dir, 'provider.json');
    writeFileSync(path, JSON.stringify({ m: { providers: [{ name: 'p', endpoint: double.url('p'), api_key: 'k', model: 'x' }] } }));
    for (const [url, says] of [['redis+sentinel://:hunter2-secret@s1:26379', 'needs the master name'], ['redis+cluster://:hunter2-secret@n1:7000/3', 'no database']]) {
      const { code, stderr, stdout } = await run({ CONFIG_PATH: path, REDIS_URL: url!, LOG_DIR: join(dir, 'logs'), DATA_DIR: join(dir, 'data'), PORT: String(await freePort()) }).done;
      expect(code).toBe(1);
      expect(stderr).toContain('REDIS_URL: ');
      expect(stderr).toContain(says);
      expect(stderr + stdout + readFileSync(join(dir, 'logs', 'gateway.log'), 'utf8')).not.toContain('hunter2');
    }
  });

  it('refuses an unknown LOG_LEVEL', async () => {
    const { code, stderr } = await run({ LOG_LEVEL: 'verbose', CONFIG_PATH: 'nope.json' }).done;
    expect(code).toBe(1);
    expect(stderr).toContain('LOG_LEVEL');
  });

  it('serves with CONFIG_PATH, PORT, HOST, LOG_DIR, LOG_LEVEL=WARNING; logs to LOG_DIR/gateway.log; exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-'));
    const path = join(dir, 'provider.json');
    writeFileSync(path, JSON.stringify({ m: { providers: [{ name: 'p1', endpoint: double.url('p1'), api_key: '${P1_KEY}', model: 'up-model' }] } }));
    const port = await freePort();
    const logDir = join(dir, 'logs');
    const proc = run({ CONFIG_PATH: path, PORT: String(port), HOST: '127.0.0.1', LOG_DIR: logDir, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'WARNING', P1_KEY: 'sk-from-env-abcdef123' });
    await waitFor(`http://127.0.0.1:${port}/health`);
    const r = await call(`http://127.0.0.1:${port}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(double.received('p1').at(-1)!.headers.authorization).toBe('Bearer sk-from-env-abcdef123');
    double.script('p1', { status: 500, times: 4 });
    expect((await call(`http://127.0.0.1:${port}/v1/chat/completions`, { body: chat('m') })).status).toBe(502);
    proc.kill('SIGTERM');
    const { code, stdout } = await proc.done;
    expect(code).toBe(0);
    const file = join(logDir, 'gateway.log');
    expect(existsSync(file)).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('"level":"ERROR"');
    expect(text).toContain('Switching provider');
    // LOG_LEVEL=WARNING drops the INFO lines.
    expect(text).not.toContain('"level":"INFO"');
    expect(stdout).toContain('Switching provider');
    expect(text + stdout).not.toContain('sk-from-env-abcdef123');
  });
});
