import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUpstreamDouble, type UpstreamDouble } from '../../tools/upstream-double.js';
import { provider, startGateway } from '../helpers/gateway.js';
import { call, chat } from '../helpers/http.js';
import { freePort, runGateway, waitFor } from '../helpers/process.js';

let double: UpstreamDouble;
beforeAll(async () => {
  double = await createUpstreamDouble();
});
afterAll(() => double.close());
beforeEach(() => double.reset());

function setup(extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-stop-'));
  const path = join(dir, 'provider.json');
  writeFileSync(path, JSON.stringify({ m: { providers: [{ name: 'p', endpoint: double.url('p'), api_key: 'k', model: 'x' }] } }));
  return { dir, env: { CONFIG_PATH: path, DATA_DIR: join(dir, 'data'), LOG_DIR: join(dir, 'logs'), HOST: '127.0.0.1', ...extraEnv } };
}

const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });

describe('graceful shutdown', () => {
  it('SIGTERM: stops accepting, lets a stream in flight finish, writes the usage, exits 0', async () => {
    const { env } = setup();
    const port = await freePort();
    const proc = runGateway({ ...env, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/health`);
    double.script('p', { chunks: 10, chunkDelayMs: 150 });
    const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })) });
    const chunks: string[] = [];
    const it = res.body[Symbol.asyncIterator]();
    chunks.push(String((await it.next()).value));
    proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    expect(await refused(port)).toBe(true);
    for (let n = await it.next(); !n.done; n = await it.next()) chunks.push(String(n.value));
    const text = chunks.join('');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const { code, stdout } = await proc.done;
    expect(code).toBe(0);
    expect(stdout).toContain('draining');
    // The usage of the stream was written before exit.
    const again = runGateway({ ...env, PORT: String(port) });
    await waitFor(`${url}/health`);
    expect((await call(`${url}/admin/stats`)).json.m.p.requests).toBe(1);
    again.kill('SIGTERM');
    await again.done;
  });

  it('is bounded by SHUTDOWN_TIMEOUT: a stream longer than that is cut, its tokens recorded, and the process still exits 0', async () => {
    const { env } = setup({ SHUTDOWN_TIMEOUT: '1' });
    const port = await freePort();
    const proc = runGateway({ ...env, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/health`);
    double.script('p', { chunks: 100, chunkDelayMs: 100 });
    const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })) });
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    const stopAt = Date.now();
    proc.kill('SIGTERM');
    const { code } = await proc.done;
    expect(code).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(4000);
    expect(Date.now() - stopAt).toBeGreaterThanOrEqual(900);
    res.body.destroy();
    // The cut stream's tokens (estimated: its usage chunk never came) were written before exit.
    const again = runGateway({ ...env, PORT: String(port) });
    await waitFor(`${url}/health`);
    const stats = (await call(`${url}/admin/stats`)).json.m.p;
    again.kill('SIGTERM');
    await again.done;
    expect(stats.requests).toBe(1);
    expect(stats.tokens).toBeGreaterThan(0);
    expect(stats.tokens_estimated).toBe(true);
  });

  it('/health answers 503 "draining" and other requests 503 in OpenAI format while draining', async () => {
    const gw = await startGateway({ m: { providers: [provider('p', double.url('p'))] } });
    try {
      gw.state.draining = true;
      const health = await call(`${gw.url}/health`);
      expect(health.status).toBe(503);
      expect(health.json.status).toBe('draining');
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('shutting_down');
    } finally {
      await gw.close();
    }
  });
});

describe('log file', () => {
  it('SIGUSR2 reopens LOG_DIR/gateway.log after logrotate moved it away', async () => {
    const { env, dir } = setup();
    const port = await freePort();
    const proc = runGateway({ ...env, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${url}/health`);
      const log = join(dir, 'logs', 'gateway.log');
      await new Promise((r) => setTimeout(r, 200));
      renameSync(log, `${log}.1`);
      proc.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 200));
      await call(`${url}/v1/chat/completions`, { body: chat('m'), headers: { 'x-request-id': 'after-rotate' } });
      let found = false;
      for (let i = 0; i < 40 && !found; i++) {
        await new Promise((r) => setTimeout(r, 50));
        found = existsSync(log) && readFileSync(log, 'utf8').includes('after-rotate');
      }
      expect(found).toBe(true);
      expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('after-rotate');
    } finally {
      proc.kill('SIGTERM');
      await proc.done;
    }
  });
});
