import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A real Redis server for the tests, or null when none could be started. */
    redisUrl: string | null;
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
  if (process.env.REDIS_TEST_URL) {
    project.provide('redisUrl', process.env.REDIS_TEST_URL);
    return () => undefined;
  }
  const bin = findOnPath('redis-server');
  if (!bin) {
    if (process.env.CI) throw new Error('redis-server is not installed: CI must install it (apt-get install -y redis-server)');
    process.stderr.write('\n!! redis-server not found: the Redis tests are SKIPPED (apt-get install -y redis-server)\n\n');
    project.provide('redisUrl', null);
    return () => undefined;
  }
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitForPort(port, Date.now() + 10_000);
  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
  return () => {
    if (child.pid) process.kill(child.pid, 'SIGTERM');
  };
}
