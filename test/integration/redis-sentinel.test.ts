import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { provider } from '../helpers/gateway.js';
import { call, chat } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';

/**
 * REDIS_URL=redis+sentinel://…: a master, its replica and a Sentinel, all real, started here.
 * The master is killed while the gateway serves; the Sentinel promotes the replica, and every
 * request served before, during and after the fail-over is counted exactly once.
 */
const fx = useUpstreamDouble();
const haveRedis = inject('redisUrl') !== null;
const NAME = 'gwmaster';

const procs: ChildProcess[] = [];
let dir = '';
let masterPort = 0;
let replicaPort = 0;
let sentinelPort = 0;

function redisServer(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  procs.push(child);
  return child;
}

async function until<T>(what: string, check: () => Promise<T | null | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => null);
    if (v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One command on a short-lived connection (null when the server does not answer). */
async function ask(port: number, ...args: string[]): Promise<unknown> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await r.call(args[0]!, ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

let master: ChildProcess;

beforeAll(async () => {
  if (!haveRedis) return;
  dir = mkdtempSync(join(tmpdir(), 'redis-sentinel-'));
  [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  master = redisServer(['--port', String(masterPort), ...common]);
  redisServer(['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(masterPort)]);
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${NAME} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${NAME} 500`,
    `sentinel failover-timeout ${NAME} 5000`,
  ].join('\n'));
  redisServer([conf, '--sentinel']);
  await until('the replica is in sync', async () => String(await ask(replicaPort, 'INFO', 'replication')).includes('master_link_status:up'));
  await until('the sentinel knows the replica', async () => ((await ask(sentinelPort, 'SENTINEL', 'REPLICAS', NAME)) as unknown[]).length === 1);
}, 40_000);

afterAll(() => {
  for (const p of procs) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, 'SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveRedis)('REDIS_URL=redis+sentinel://', () => {
  it('follows a fail-over: the master dies mid-traffic, the replica takes over, and no usage is lost or counted twice', async () => {
    const store = new RedisStore(`redis+sentinel://127.0.0.1:${sentinelPort}/${NAME}`, `test-sentinel-${randomUUID()}:`);
    const gw = await fx.gateway({
      _global: { default_retry: 0 },
      m: { providers: [provider('p', fx.double.url('p'))] },
      q: { providers: [provider('limited', fx.double.url('limited'), { rate_limit: { requests_per_period: 1000 } })] },
    }, { store });
    const stats = async () => (await call(`${gw.url}/admin/stats`)).json;
    const send = (n: number, model = 'm') => Promise.all(Array.from({ length: n }, () => call(`${gw.url}/v1/chat/completions`, { body: chat(model) })));

    // Before: served and counted on the first master (and, through replication, on the replica).
    expect((await send(20)).map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await send(5, 'q')).map((r) => r.status)).toEqual(Array(5).fill(200));
    await until('the counts reach the replica', async () => {
      const s = await stats();
      return s.m.p.requests === 20 && s.q.limited.requests === 5 && await replicated();
    });
    const perRequest = (await stats()).m.p.tokens / 20;
    expect(perRequest).toBeGreaterThan(0);

    // The master dies. Requests keep coming: a provider without a quota is served, and its usage
    // waits in the client's queue; a provider with a quota cannot be checked until Redis is back.
    process.kill(master.pid!, 'SIGKILL');
    const during = await send(20);
    expect(during.map((r) => r.status)).toEqual(Array(20).fill(200));

    // The Sentinel promotes the replica; the gateway finds it through the Sentinel.
    await until('the sentinel promoted the replica', async () => ((await ask(sentinelPort, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1] === String(replicaPort));
    await until('the gateway is healthy again', async () => (await call(`${gw.url}/health`)).status === 200);
    expect((await send(20)).map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await send(5, 'q')).map((r) => r.status)).toEqual(Array(5).fill(200));

    // Every request served is counted once: 20 before, 20 while the master was dead, 20 after.
    await until('all usage arrived', async () => (await stats()).m.p.requests >= 60);
    await new Promise((r) => setTimeout(r, 300));
    const s = await stats();
    expect(s.m.p.requests).toBe(60);
    expect(s.m.p.tokens).toBe(60 * perRequest);
    expect(s.q.limited.requests).toBe(10);
    expect(fx.double.received('p')).toHaveLength(60);
  }, 60_000);
});

/** The replica has everything the master wrote (same replication offset). */
async function replicated(): Promise<boolean> {
  const m = String(await ask(masterPort, 'INFO', 'replication'));
  const offset = /master_repl_offset:(\d+)/.exec(m)?.[1];
  return offset !== undefined && new RegExp(`slave0:.*offset=${offset},`).test(m);
}
