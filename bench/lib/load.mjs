// Load generators: wrk (Debian) when present, else a Node one on undici. Both report the same
// fields: requests/s, p50 and p99 latency in ms, errors (socket errors and non-2xx answers).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';

const run = promisify(execFile);

function luaString(s) {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** wrk with a POST script; `dir` is where the script file goes. */
export async function wrk({ url, body, headers, connections, seconds, dir }) {
  const script = join(dir, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  const lines = [`wrk.method = "POST"`, `wrk.body = ${luaString(body)}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  writeFileSync(script, `${lines.join('\n')}\n`);
  const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-s', script, url], { maxBuffer: 1 << 20 });
  const num = (re) => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : 0;
  };
  const ms = (label) => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(stdout);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = num(/Non-2xx or 3xx responses: (\d+)/) + (socketErrors ? socketErrors.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), p50: ms(50), p99: ms(99), errors, requests: num(/(\d+) requests in/) };
}

/** The same measurement in Node (used when wrk is not installed): closed-loop, one request per connection at a time. */
export async function nodeLoad({ url, body, headers, connections, seconds }) {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections, pipelining: 1 });
  const latencies = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await pool.request({ method: 'POST', path: u.pathname, headers: { 'content-type': 'application/json', ...headers }, body });
        await res.body.dump({ limit: Infinity });
        if (res.statusCode >= 300) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), errors, requests: latencies.length };
}

/**
 * Many slow streams at once (a chunk every 50 ms upstream): the time to the first byte of each,
 * from which the gateway's added time to first token is read against the direct baseline.
 */
export async function slowStreams({ url, body, headers, count }) {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: count, pipelining: 1 });
  const ttft = [];
  let errors = 0;
  await Promise.all(Array.from({ length: count }, async () => {
    const t0 = performance.now();
    try {
      const res = await pool.request({ method: 'POST', path: u.pathname, headers: { 'content-type': 'application/json', ...headers }, body });
      let first = true;
      for await (const _chunk of res.body) {
        if (first) ttft.push(performance.now() - t0);
        first = false;
      }
      if (res.statusCode >= 300) errors++;
    } catch {
      errors++;
    }
  }));
  await pool.close();
  ttft.sort((a, b) => a - b);
  const pct = (p) => ttft[Math.min(ttft.length - 1, Math.floor((p / 100) * ttft.length))] ?? NaN;
  return { p50: pct(50), p99: pct(99), errors, streams: ttft.length };
}
