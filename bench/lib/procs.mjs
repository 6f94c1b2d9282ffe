// Processes the benchmark starts: each listens on 127.0.0.1 only and is stopped by its PID.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const up = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

const started = [];

/** Starts a process; its output goes to `log` (a file path) or is dropped. */
export function start(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: 'ignore', ...opts });
  const proc = { name, child, pid: child.pid, exited: false };
  child.on('exit', () => (proc.exited = true));
  started.push(proc);
  return proc;
}

/** Stops every process started here, by PID: SIGTERM, then SIGKILL after 3 s. */
export async function stopAll() {
  for (const p of started.splice(0).reverse()) await stop(p);
}

export async function stop(p) {
  if (p.exited || !p.pid) return;
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 3000;
  while (!p.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!p.exited) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** The PIDs of a process and its children (nginx's workers). */
export function tree(pid) {
  const out = [pid];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const c of children) out.push(...tree(c));
  } catch {
    /* no /proc, or gone */
  }
  return out;
}

/** Samples RSS (sum over the tree) and CPU time of a process while `during` runs. */
export async function sampled(pid, during) {
  const clk = 100; // USER_HZ on Linux
  const cpuOf = (p) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / clk;
    } catch {
      return 0;
    }
  };
  const rssOf = (p) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  };
  const cpu = () => tree(pid).reduce((s, p) => s + cpuOf(p), 0);
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, tree(pid).reduce((s, p) => s + rssOf(p), 0));
  }, 100);
  const cpu0 = cpu();
  const t0 = performance.now();
  try {
    const result = await during();
    const seconds = (performance.now() - t0) / 1000;
    return { result, peakRss: peak, cpuPercent: ((cpu() - cpu0) / seconds) * 100 };
  } finally {
    clearInterval(timer);
  }
}

/** Installs a Debian package when it is missing and we may (root with apt); false when we cannot. */
export function ensureDebian(binary, pkg) {
  if (existsSync(binary)) return true;
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return existsSync(binary);
  } catch {
    return false;
  }
}
