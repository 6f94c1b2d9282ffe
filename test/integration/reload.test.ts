import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createUpstreamDouble } from '../../tools/upstream-double.js';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { freePort, runGateway, waitFor } from '../helpers/process.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

function configFile(raw: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-reload-')), 'provider.json');
  writeFileSync(path, JSON.stringify(raw));
  return path;
}
/** Replaces the file the way editors do: write aside, then rename over it. */
function rewrite(path: string, raw: unknown | string): void {
  writeFileSync(`${path}.tmp`, typeof raw === 'string' ? raw : JSON.stringify(raw));
  renameSync(`${path}.tmp`, path);
}
const until = async (cond: () => boolean | Promise<boolean>, ms = 3000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
};

const one = (extra: Record<string, unknown> = {}) => ({ m: { providers: [provider('a', fx.double.url('a'), extra)] } });
const two = () => ({
  m: { providers: [provider('a', fx.double.url('a')), provider('b', fx.double.url('b'), { priority: 2 })] },
  n: { providers: [provider('c', fx.double.url('c'))] },
});

describe('POST /admin/reload', () => {
  it('swaps in the new file and answers what changed', async () => {
    const path = configFile(one());
    gw = await fx.gatewayFromFile(path);
    rewrite(path, two());
    const r = await call(`${gw.url}/admin/reload`, { method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      status: 'reloaded',
      changes: {
        models: { added: ['n'], removed: [], changed: ['m'] },
        providers: { added: ['m/b', 'n/c'], removed: [], changed: [] },
        global: [],
      },
    });
    expect((await call(`${gw.url}/v1/models`)).json.data.map((m: { id: string }) => m.id)).toEqual(['m', 'n']);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('n') })).headers['x-gateway-provider']).toBe('c');
  });

  it('refuses a broken file with every error and keeps serving the running configuration', async () => {
    const path = configFile(one());
    gw = await fx.gatewayFromFile(path);
    rewrite(path, { m: { providers: [provider('a', 'ftp://nowhere', { weight: 0 }), provider('a', fx.double.url('a'), { request_per_period: 3 })] } });
    const r = await call(`${gw.url}/admin/reload`, { method: 'POST' });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_config');
    expect(r.json.error.errors).toEqual(expect.arrayContaining([
      expect.stringContaining('model "m", provider "a": weight'),
      expect.stringContaining('unknown field "request_per_period"'),
    ]));
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    rewrite(path, '{ "m": { "providers": [ ');
    expect((await call(`${gw.url}/admin/reload`, { method: 'POST' })).json.error.errors[0]).toContain('not valid JSON');
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
  });

  it('keeps the counters and cooldowns of unchanged providers, and forgets the health of a changed endpoint', async () => {
    const path = configFile({ m: { providers: [provider('a', fx.double.url('a'), { retry: 0 }), provider('b', fx.double.url('b'), { priority: 2 })] } });
    gw = await fx.gatewayFromFile(path);
    fx.double.script('a', { status: 500 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    rewrite(path, { m: { providers: [provider('a', fx.double.url('a'), { retry: 0 }), provider('b', fx.double.url('b'), { priority: 2, weight: 20 })] } });
    const r = await call(`${gw.url}/admin/reload`, { method: 'POST' });
    expect(r.json.changes.providers.changed).toEqual(['m/b']);
    // a still cools down; b kept its two requests.
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('b');
    expect((await call(`${gw.url}/admin/stats`)).json.m.b.requests).toBe(3);
    rewrite(path, { m: { providers: [provider('a', fx.double.url('a2'), { retry: 0 }), provider('b', fx.double.url('b'), { priority: 2, weight: 20 })] } });
    await call(`${gw.url}/admin/reload`, { method: 'POST' });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('a');
  });

  it('serializes concurrent reloads', async () => {
    const path = configFile(one());
    gw = await fx.gatewayFromFile(path);
    rewrite(path, two());
    const answers = await Promise.all(Array.from({ length: 5 }, () => call(`${gw!.url}/admin/reload`, { method: 'POST' })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    // Only the first saw a change: they ran one after another.
    expect(answers.filter((a) => a.json.changes.models.added.length > 0)).toHaveLength(1);
  });

  it('lets requests in flight finish on the configuration they started with, and closes removed pools once idle', async () => {
    const other = await createUpstreamDouble();
    try {
      const path = configFile({ m: { providers: [provider('old', other.url('old'))] } });
      gw = await fx.gatewayFromFile(path);
      other.script('old', { delayMs: 600 });
      const inFlight = call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
      await until(() => other.received('old').length === 1);
      rewrite(path, { m: { providers: [provider('new', fx.double.url('new'))] } });
      expect((await call(`${gw.url}/admin/reload`, { method: 'POST' })).status).toBe(200);
      expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).headers['x-gateway-provider']).toBe('new');
      const done = await inFlight;
      expect(done.status).toBe(200);
      expect(done.headers['x-gateway-provider']).toBe('old');
      expect(await until(() => other.openConnections() === 0)).toBe(true);
    } finally {
      await other.close();
    }
  });
});

describe('reload on a change of the file', () => {
  it('reloads after an edit; a half-written file never replaces a good configuration', async () => {
    const path = configFile(one());
    gw = await fx.gatewayFromFile(path);
    gw.state.watchConfig();
    // A half-written save, then quiet: refused, the old configuration stays.
    writeFileSync(path, '{"m": {"providers": [');
    await new Promise((r) => setTimeout(r, 800));
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect(gw.logText()).toContain('reload (file change) refused');
    rewrite(path, two());
    expect(await until(async () => (await call(`${gw!.url}/v1/models`)).json.data.length === 2)).toBe(true);
  });
});

describe('SIGHUP', () => {
  it('rereads the file in the running process', async () => {
    const path = configFile(one());
    const dir = mkdtempSync(join(tmpdir(), 'gw-hup-'));
    const port = await freePort();
    const proc = runGateway({ CONFIG_PATH: path, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data'), LOG_DIR: join(dir, 'logs') });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${url}/health`);
      writeFileSync(path, JSON.stringify(two()));
      proc.kill('SIGHUP');
      expect(await until(async () => (await call(`${url}/v1/models`)).json.data.length === 2)).toBe(true);
      expect(await until(() => proc.output().includes('Configuration reloaded (SIGHUP)'))).toBe(true);
    } finally {
      proc.kill('SIGTERM');
      await proc.done;
    }
  });
});
