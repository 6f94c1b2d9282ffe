import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A real Redis server for the tests, or null when none could be started. */
    redisUrl: string | null;
    /** A real three-node Redis Cluster (`redis+cluster://…`), or null when none could be started. */
    redisClusterUrl: string | null;
  }
}

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* next */
    }
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not listen on ${port}`);
}

/**
 * Starts a throwaway Redis server (no persistence, loopback only) for the tests that need one,
 * and stops it by its PID afterwards. CI must have one: there a missing redis-server fails the run.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const bin = findOnPath('redis-server');
  const cli = findOnPath('redis-cli');
  if (!bin || !cli) {
    if (process.env.CI) throw new Error('redis-server is not installed: CI must install it (apt-get install -y redis-server)');
    process.stderr.write('\n!! redis-server not found: the Redis tests are SKIPPED (apt-get install -y redis-server)\n\n');
    project.provide('redisUrl', process.env.REDIS_TEST_URL ?? null);
    project.provide('redisClusterUrl', null);
    return () => undefined;
  }
  const children: ChildProcess[] = [];
  const stop = (): void => {
    for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, 'SIGTERM');
  };
  try {
    if (process.env.REDIS_TEST_URL) project.provide('redisUrl', process.env.REDIS_TEST_URL);
    else {
      const port = await freePort();
      children.push(spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
      await waitForPort(port, Date.now() + 10_000);
      project.provide('redisUrl', `redis://127.0.0.1:${port}`);
    }
    project.provide('redisClusterUrl', await startCluster(bin, cli, children));
  } catch (err) {
    stop();
    throw err;
  }
  return stop;
}

/** Three masters (no replicas) with the 16,384 slots shared out by `redis-cli --cluster create`. */
async function startCluster(bin: string, cli: string, children: ChildProcess[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  for (const port of ports) {
    children.push(spawn(bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000',
    ], { stdio: 'ignore' }));
  }
  for (const port of ports) await waitForPort(port, Date.now() + 10_000);
  execFileSync(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore', timeout: 30_000 });
  // Ready when every node says so (the nodes learn of each other through gossip).
  const deadline = Date.now() + 20_000;
  for (const port of ports) {
    while (!execFileSync(cli, ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).includes('cluster_state:ok')) {
      if (Date.now() > deadline) throw new Error('the test Redis Cluster did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
}
