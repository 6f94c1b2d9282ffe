import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { call, chat, type Answer } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';

const fx = useUpstreamDouble();
/** Null when the machine has no redis-server (the test setup says so). */
const redisUrl = inject('redisUrl');

const config = () => ({
  _global: { default_retry: 0 },
  m: { providers: [provider('limited', fx.double.url('limited'), { rate_limit: { requests_per_period: 100 } }), provider('free', fx.double.url('free'), { priority: 2 })] },
});

/** The admin answers that read or write the usage store. */
const storeRoutes = (url: string): Array<[string, () => Promise<Answer>]> => [
  ['GET /admin/stats', () => call(`${url}/admin/stats`)],
  ['GET /admin/providers/m', () => call(`${url}/admin/providers/m`)],
  ['POST /admin/usage/reset', () => call(`${url}/admin/usage/reset`, { body: { model: 'm' } })],
  // Stored responses live in the same store.
  ['GET /v1/responses/{id}', () => call(`${url}/v1/responses/resp_0123456789abcdef0123456789abcdef`, { method: 'GET' })],
  ['DELETE /v1/responses/{id}', () => call(`${url}/v1/responses/resp_0123456789abcdef0123456789abcdef`, { method: 'DELETE' })],
  ['POST /v1/responses with previous_response_id', () => call(`${url}/v1/responses`, { body: { model: 'm', input: 'x', previous_response_id: 'resp_0123456789abcdef0123456789abcdef' } })],
];

/** The answer, or a failure after `ms`: an admin call must not wait for the store forever. */
async function within(ms: number, answer: Promise<Answer>): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

function expectStoreUnavailable(name: string, r: Answer): void {
  expect({ name, status: r.status }).toEqual({ name, status: 503 });
  expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(r.json.error).toMatchObject({ type: 'service_unavailable', code: 'usage_store_unavailable', param: null });
  expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
}

async function waitUntil(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never met');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

let redis: ChildProcess | null = null;
afterEach(() => {
  if (redis?.pid && redis.exitCode === null && redis.signalCode === null) {
    process.kill(redis.pid, 'SIGCONT');
    process.kill(redis.pid, 'SIGKILL');
  }
  redis = null;
});

describe('admin answers 503 in OpenAI format while the usage store is unreachable, never 500', () => {
  it('Redis never reachable (nothing listens on its port)', async () => {
    const port = await freePort();
    const gw: RunningGateway = await fx.gateway(config(), { store: new RedisStore(`redis://127.0.0.1:${port}`) });
    for (const [name, send] of storeRoutes(gw.url)) expectStoreUnavailable(name, await within(5000, send()));
    // The rest of the admin API still answers.
    expect((await call(`${gw.url}/admin/overview`)).json.store).toEqual({ kind: 'redis', healthy: false, stored_responses: null });
  });

  it.skipIf(!redisUrl)('Redis hung (SIGSTOP), then stopped, then back', async () => {
    const port = await freePort();
    redis = startRedis(port);
    await waitUntil(() => listening(port));
    const store = new RedisStore(`redis://127.0.0.1:${port}`);
    await store.ready();
    const gw = await fx.gateway(config(), { store });
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect((await call(`${gw.url}/admin/stats`)).json.m.limited.requests).toBe(1);

    // Hung: the connection stays up, but nothing answers.
    process.kill(redis.pid!, 'SIGSTOP');
    for (const [name, send] of storeRoutes(gw.url).slice(0, 2)) expectStoreUnavailable(name, await within(8000, send()));
    process.kill(redis.pid!, 'SIGCONT');
    await waitUntil(async () => (await call(`${gw.url}/admin/stats`)).status === 200);

    // Stopped.
    const exited = new Promise((r) => redis!.once('exit', r));
    process.kill(redis.pid!, 'SIGTERM');
    await exited;
    await waitUntil(async () => (await call(`${gw.url}/health`)).status === 503);
    for (const [name, send] of storeRoutes(gw.url)) expectStoreUnavailable(name, await within(5000, send()));
    expect(gw.logText()).not.toContain('ERROR unhandled');

    // Back (empty, as it kept nothing): the same routes answer again.
    redis = startRedis(port);
    await waitUntil(async () => (await call(`${gw.url}/health`)).status === 200, 15_000);
    // (the stored response asked for does not exist: 404, no longer 503)
    for (const [name, send] of storeRoutes(gw.url)) expect({ name, status: (await send()).status }).toEqual({ name, status: name.includes('responses') ? 404 : 200 });
  });
});
