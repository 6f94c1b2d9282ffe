// `npm run bench`: the gateway against the same upstream double as a direct call, nginx (a plain
// keep-alive reverse proxy, the floor) and the Portkey gateway, driven by one load generator with
// identical requests, interleaved round by round. Writes bench/RESULTS.md.
//   --smoke            direct and gateway only, one short round (the test suite runs this)
//   --seconds N        length of each measurement (default 10)
//   --rounds N         rounds (default 3); the median of the rounds is reported
//   --out FILE         where the table goes (default bench/RESULTS.md)
//   --baseline DIR     also run the gateway built in DIR (another checkout, e.g. the last release)
//                      side by side, in the same rounds: before/after numbers from one run
//   --quick            direct and gateway(s) only: no nginx, Portkey, variants or slow streams
//   --only TEXT        run only the scenarios whose name contains TEXT
import { keyPathMicros } from './lib/key-path.mjs';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeLoad, slowStreams, wrk } from './lib/load.mjs';
import { ensureDebian, freePort, sampled, start, stopAll, waitForPort } from './lib/procs.mjs';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
const { values: opts } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') },
    baseline: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const smoke = opts.smoke;
const seconds = smoke ? 1 : Number(opts.seconds);
const rounds = smoke ? 1 : Number(opts.rounds);
const work = mkdtempSync(join(tmpdir(), 'gw-bench-'));
const log = (...a) => process.stderr.write(`[bench] ${a.join(' ')}\n`);

const CHAT = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello in a few words.' }] });
const STREAM = JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: 'Say hello in a few words.' }] });
// Codex's way: `store: false`, the whole conversation each turn.
const RESPONSES_STREAM = JSON.stringify({ model: 'bench', stream: true, store: false, input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hello in a few words.' }] }] });
const MESSAGES_STREAM = JSON.stringify({ model: 'bench', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Say hello in a few words.' }] });
// An agent's turn: a session the gateway pins to its provider (SPEC §9), read and renewed per request.
const CHAT_SESSION = JSON.stringify({ model: 'bench', prompt_cache_key: 'bench-session-0001', messages: [{ role: 'user', content: 'Say hello in a few words.' }] });

let keyPath = null;

async function main() {
  const haveWrk = smoke ? existsSync('/usr/bin/wrk') : ensureDebian('/usr/bin/wrk', 'wrk');
  const load = haveWrk ? wrk : nodeLoad;
  log(`load generator: ${haveWrk ? 'wrk' : 'node (wrk not installed)'}`);

  // The upstream: the double, answering 20-chunk streams, recording nothing.
  const upPort = await freePort();
  const up = start('double', process.execPath, [join(ROOT, 'dist/tools/upstream-double.js'), '--port', String(upPort), '--no-record']);
  await waitForPort(upPort);
  await fetch(`http://127.0.0.1:${upPort}/_double/default/bench`, { method: 'POST', body: JSON.stringify({ chunks: 20, content: 'Hello! This is a benchmark answer of twenty pieces.' }) });
  const upstream = `http://127.0.0.1:${upPort}/bench/v1`;

  const targets = [{ name: 'direct', url: `${upstream}/chat/completions`, headers: {}, pid: up.pid }];
  targets.push(await gateway('gateway', upstream, {}));
  if (opts.baseline) {
    const rev = execFileSync('git', ['-C', opts.baseline, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    targets.push(await gateway(`gateway (baseline ${rev})`, upstream, { root: opts.baseline }));
  }

  // One gateway with a master key and a virtual key with quotas (requests and cost): what the key adds.
  const keyed = smoke ? null : await keyedGateway(upstream);

  const variants = [];
  let slow = null;
  if (!smoke && !opts.quick) {
    targets.push(await nodeFloor(upstream));
    if (ensureDebian('/usr/sbin/nginx', 'nginx-light')) targets.push(await nginx(upPort));
    else log('nginx not installed and cannot be: left out');
    const portkey = await startPortkey(upstream).catch((err) => (log(`Portkey left out: ${err.message}`), null));
    if (portkey) targets.push(portkey);
    variants.push(await gateway('gateway, log_requests off', upstream, { log_requests: false }));
    variants.push(await gateway('gateway, quota (SQLite)', upstream, { quota: true }));
    const redisUrl = await startRedis().catch((err) => (log(`Redis left out: ${err.message}`), null));
    if (redisUrl) variants.push(await gateway('gateway, quota (Redis)', upstream, { quota: true, redisUrl }));
  }

  const scenarios = [
    { name: 'chat, 50 connections', body: CHAT, connections: 50, targets },
    { name: 'streaming chat (20 chunks), 50 connections', body: STREAM, connections: 50, targets: smoke ? [] : targets },
    { name: 'chat, 1 connection', body: CHAT, connections: 1, targets },
    { name: 'chat, 50 connections (gateway variants)', body: CHAT, connections: 50, targets: [targets[1], ...variants] },
    // The same 20-chunk stream, as chat, and as Anthropic Messages and OpenAI Responses translated to and from chat.
    { name: 'streaming, chat vs Messages vs Responses translated, 50 connections', connections: 50, targets: smoke ? [] : [
      { ...targets[1], name: 'gateway, /v1/chat/completions', body: STREAM },
      { ...targets[1], name: 'gateway, /v1/messages (translated)', url: targets[1].url.replace('/v1/chat/completions', '/v1/messages'), body: MESSAGES_STREAM },
      { ...targets[1], name: 'gateway, /v1/responses (translated)', url: targets[1].url.replace('/v1/chat/completions', '/v1/responses'), body: RESPONSES_STREAM },
    ] },
    { name: 'chat, 50 connections, master key vs virtual key', body: CHAT, connections: 50, targets: keyed ? [
      { ...keyed, name: 'gateway, master key', headers: { authorization: `Bearer ${keyed.master}` } },
      { ...keyed, name: 'gateway, virtual key (requests and cost quota)', headers: { authorization: `Bearer ${keyed.virtual}` } },
    ] : [] },
    { name: 'chat, 50 connections, session affinity off vs on', connections: 50, targets: smoke ? [] : [
      { ...targets[1], name: 'gateway, no session', body: CHAT },
      { ...targets[1], name: 'gateway, a session (prompt_cache_key): pin read and renewed', body: CHAT_SESSION },
    ] },
  ].filter((s) => s.targets.length > 0 && !(smoke && s.name.includes('variants')) && (opts.only === undefined || s.name.includes(opts.only)));

  const results = new Map();
  for (let r = 1; r <= rounds; r++) {
    for (const s of scenarios) {
      // Every other round in the opposite order, so that no target always runs first (or warm).
      for (const t of r % 2 === 0 ? [...s.targets].reverse() : s.targets) {
        log(`round ${r}/${rounds}: ${s.name}: ${t.name}`);
        const m = await sampled(t.pid, () => load({ url: t.url, body: t.body ?? s.body, headers: { 'content-type': 'application/json', ...t.headers }, connections: s.connections, seconds, dir: work }));
        const key = `${s.name}\u0000${t.name}`;
        results.set(key, [...(results.get(key) ?? []), { ...m.result, peakRss: m.peakRss, cpu: m.cpuPercent }]);
      }
    }
  }

  if (!smoke && !opts.quick) {
    // 1,000 slow streams at once (a chunk every 50 ms): memory and added time to first token.
    await fetch(`http://127.0.0.1:${upPort}/_double/default/bench`, { method: 'POST', body: JSON.stringify({ chunks: 20, chunkDelayMs: 50 }) });
    const gw = targets[1];
    const direct = await slowStreams({ url: targets[0].url, body: STREAM, headers: {}, count: 1000 });
    const viaGateway = await sampled(gw.pid, () => slowStreams({ url: gw.url, body: STREAM, headers: {}, count: 1000 }));
    slow = { direct, gateway: viaGateway.result, peakRss: viaGateway.peakRss };
  }

  keyPath = scenarios.some((s) => s.name.includes('master key vs virtual key')) ? await keyPathMicros() : null;
  const report = render(scenarios, results, slow);
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, report);
  process.stdout.write(report);
}

async function gateway(name, upstream, { log_requests = true, quota = false, redisUrl = null, root = ROOT }) {
  const port = await freePort();
  const dir = mkdtempSync(join(work, 'gw-'));
  const provider = { name: 'double', endpoint: upstream, api_key: 'sk-bench-not-secret', model: 'bench-upstream', retry: 0 };
  if (quota) provider.rate_limit = { requests_per_period: 1_000_000_000, tokens_per_period: null, period_cron: '0 0 * * *' };
  writeFileSync(join(dir, 'provider.json'), JSON.stringify({ _global: { log_requests }, bench: { providers: [provider] } }));
  const env = { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', CONFIG_PATH: join(dir, 'provider.json'), DATA_DIR: join(dir, 'data'), LOG_DIR: join(dir, 'logs'), LOG_LEVEL: 'info' };
  if (redisUrl) env.REDIS_URL = redisUrl;
  // stdout goes nowhere: the log file under LOG_DIR is written all the same, as in production.
  const proc = start(name, process.execPath, [join(root, 'dist/src/main.js')], { env });
  await waitForPort(port);
  return { name, url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: {}, pid: proc.pid };
}

/** A gateway with a master key and a priced provider, and a virtual key made through the admin API. */
async function keyedGateway(upstream) {
  const port = await freePort();
  const dir = mkdtempSync(join(work, 'gw-keyed-'));
  const master = 'sk-bench-master-key-not-secret';
  const provider = { name: 'double', endpoint: upstream, api_key: 'sk-bench-not-secret', model: 'bench-upstream', retry: 0, price: { input: 0.15, output: 0.6 } };
  writeFileSync(join(dir, 'provider.json'), JSON.stringify({ _global: { api_key: master }, bench: { providers: [provider] } }));
  const env = { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', CONFIG_PATH: join(dir, 'provider.json'), DATA_DIR: join(dir, 'data'), LOG_DIR: join(dir, 'logs'), LOG_LEVEL: 'info' };
  const proc = start('gateway (keys)', process.execPath, [join(ROOT, 'dist/src/main.js')], { env });
  await waitForPort(port);
  const res = await fetch(`http://127.0.0.1:${port}/admin/keys`, {
    method: 'POST', headers: { authorization: `Bearer ${master}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', models: ['bench'], rate_limit: { requests_per_period: 1_000_000_000, cost_per_period: 1_000_000 } }),
  });
  if (res.status !== 201) throw new Error(`creating the bench key failed: ${res.status} ${await res.text()}`);
  const { key } = await res.json();
  return { name: 'gateway (keys)', url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: {}, pid: proc.pid, master, virtual: key };
}

/** A bare Node.js proxy (node:http + undici, nothing else): the floor for any Node gateway. */
async function nodeFloor(upstream) {
  const port = await freePort();
  const proc = start('node floor', process.execPath, [join(ROOT, 'bench/lib/node-floor.mjs'), upstream, String(port)]);
  await waitForPort(port);
  return { name: 'Node floor (http + undici)', url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: {}, pid: proc.pid };
}

async function nginx(upPort) {
  const port = await freePort();
  const dir = mkdtempSync(join(work, 'nginx-'));
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream double { server 127.0.0.1:${upPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://double/bench/v1/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`);
  const proc = start('nginx', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
  await waitForPort(port);
  return { name: 'nginx', url: `http://127.0.0.1:${port}/chat/completions`, headers: {}, pid: proc.pid };
}

/** Portkey's gateway from npm, pinned as the issue says (on Node 20 its node-server must be 1.14.1). */
async function startPortkey(upstream) {
  const peers = join(ROOT, 'bench', '.peers');
  const entry = join(peers, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(entry)) {
    mkdirSync(peers, { recursive: true });
    writeFileSync(join(peers, 'package.json'), JSON.stringify({
      name: 'bench-peers', private: true,
      dependencies: { '@portkey-ai/gateway': '1.15.2' },
      overrides: { '@hono/node-server': '1.14.1' },
    }, null, 2));
    log('installing @portkey-ai/gateway@1.15.2 into bench/.peers');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: peers, stdio: 'ignore' });
  }
  const port = await freePort();
  const proc = start('portkey', process.execPath, [entry, `--port=${port}`, '--headless'], { env: { PATH: process.env.PATH, NODE_ENV: 'production' } });
  await waitForPort(port);
  return {
    name: 'Portkey 1.15.2',
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstream, authorization: 'Bearer sk-bench-not-secret' },
    pid: proc.pid,
  };
}

async function startRedis() {
  if (!ensureDebian('/usr/bin/redis-server', 'redis-server')) throw new Error('redis-server not installed');
  const port = await freePort();
  start('redis', '/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForPort(port);
  return `redis://127.0.0.1:${port}`;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function render(scenarios, results, slow) {
  const row = (s, t) => {
    const rs = results.get(`${s.name}\u0000${t.name}`) ?? [];
    return {
      rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
      errors: rs.reduce((a, r) => a + r.errors, 0), rss: Math.max(...rs.map((r) => r.peakRss)) / 2 ** 20, cpu: median(rs.map((r) => r.cpu)),
    };
  };
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '# Benchmark results',
    '',
    `${new Date().toISOString().slice(0, 10)}: ${cpus().length} × ${cpu}, ${f(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
      `${smoke ? 'smoke run' : `${rounds} rounds of ${seconds} s, median`}; load generator and every server on the same machine.`,
    '',
  ];
  for (const s of scenarios) {
    lines.push(`## ${s.name}`, '', '| target | req/s | p50 ms | p99 ms | errors | peak RSS MiB | CPU % |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const t of s.targets) {
      const r = row(s, t);
      lines.push(`| ${t.name} | ${f(r.rps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${r.errors} | ${t.name === 'direct' ? '(upstream)' : f(r.rss)} | ${f(r.cpu)} |`);
    }
    lines.push('');
  }
  const translated = scenarios.find((s) => s.name.startsWith('streaming, chat vs Messages'));
  if (translated && translated.targets.length >= 2) {
    // Gateway CPU per request: CPU % over requests per second, translated against plain chat.
    const [chatRow, ...others] = translated.targets.map((t) => row(translated, t));
    const cost = (r) => r.cpu / r.rps;
    for (const [i, r] of others.entries()) {
      const path = translated.targets[i + 1].name.match(/\/v1\/\w+/)?.[0] ?? '?';
      const extra = (cost(r) / cost(chatRow) - 1) * 100;
      lines.push(`Gateway CPU per translated ${path} stream: ${f(extra, 1)} % ${extra >= 0 ? 'more' : 'less'} than per chat stream (target ≤ 15 % more).`);
    }
    lines.push('');
  }
  const keyedScenario = scenarios.find((s) => s.name.includes('master key vs virtual key'));
  if (keyedScenario && keyedScenario.targets.length === 2) {
    const [m, v] = keyedScenario.targets.map((t) => row(keyedScenario, t));
    const less = (1 - v.rps / m.rps) * 100;
    lines.push(`A virtual key with quotas costs ${f(less, 1)} % of throughput against the master key (target ≤ 5 %).`);
    if (keyPath) {
      // The gateway's CPU per request, from the master-key run: CPU % over requests per second.
      const perRequest = (m.cpu / 100 / m.rps) * 1e6;
      lines.push(`Its own code adds ${f(keyPath.added, 2)} µs per request (measured alone: ${f(keyPath.withKey, 2)} µs with the key's checks, quota, records and metrics, ${f(keyPath.withoutKey, 2)} µs without), ` +
        `${f((keyPath.added / perRequest) * 100, 1)} % of the ${f(perRequest)} µs of gateway CPU a request took in this run.`);
    }
    lines.push('');
  }
  if (!smoke && !opts.quick) lines.push(...targetsTable(scenarios, row));
  if (slow) {
    lines.push('## 1,000 concurrent slow streams (a chunk every 50 ms)', '', '| | TTFT p50 ms | TTFT p99 ms | errors |', '|---|---:|---:|---:|');
    lines.push(`| direct | ${f(slow.direct.p50, 2)} | ${f(slow.direct.p99, 2)} | ${slow.direct.errors} |`);
    lines.push(`| gateway | ${f(slow.gateway.p50, 2)} | ${f(slow.gateway.p99, 2)} | ${slow.gateway.errors} |`);
    const addedP99 = slow.gateway.p99 - slow.direct.p99;
    lines.push('', `Gateway peak RSS with 1,000 open streams: ${f(slow.peakRss / 2 ** 20)} MiB; added TTFT p50 ${f(slow.gateway.p50 - slow.direct.p50, 2)} ms, ` +
      `p99 ${f(addedP99, 2)} ms (target ≤ 250 ms: ${addedP99 <= 250 ? 'met' : '**not met**'}).`, '');
  }
  return `${lines.join('\n')}\n`;
}

/** The issue's targets, as ratios from this one run. */
function targetsTable(scenarios, row) {
  const get = (scenario, target) => {
    const s = scenarios.find((x) => x.name === scenario);
    const t = s?.targets.find((x) => x.name === target);
    return s && t ? row(s, t) : null;
  };
  const out = ['## Targets', '', '| target | measured | met |', '|---|---|---|'];
  const add = (name, value, ok) => out.push(`| ${name} | ${value} | ${ok === null ? 'n/a' : ok ? 'yes' : '**no**'} |`);
  const ratio = (scenario) => {
    const g = get(scenario, 'gateway');
    const p = get(scenario, 'Portkey 1.15.2');
    return g && p ? g.rps / p.rps : NaN;
  };
  for (const [label, scenario] of [['chat', 'chat, 50 connections'], ['streaming', 'streaming chat (20 chunks), 50 connections']]) {
    const g = get(scenario, 'gateway');
    const floor = get(scenario, 'Node floor (http + undici)');
    const r = ratio(scenario);
    if (g && floor) add(`${label} throughput ≥ 0.7× the Node floor`, `${f(g.rps / floor.rps, 2)}×`, g.rps / floor.rps >= 0.7);
    add(`${label} throughput ≥ 10× Portkey`, `${f(r, 1)}×`, Number.isFinite(r) ? r >= 10 : null);
  }
  const g1 = get('chat, 1 connection', 'gateway');
  const d1 = get('chat, 1 connection', 'direct');
  const n1 = get('chat, 1 connection', 'Node floor (http + undici)');
  if (g1 && d1) {
    add('added latency at 1 connection, p50 ≤ 0.25 ms', `${f(g1.p50 - d1.p50, 2)} ms`, g1.p50 - d1.p50 <= 0.25);
    add('added latency at 1 connection, p99 ≤ 1.5 ms', `${f(g1.p99 - d1.p99, 2)} ms`, g1.p99 - d1.p99 <= 1.5);
    if (n1) {
      add('added latency at 1 connection, p50 no worse than the Node floor\'s', `${f(g1.p50 - d1.p50, 2)} vs ${f(n1.p50 - d1.p50, 2)} ms`, g1.p50 <= n1.p50);
      add('added latency at 1 connection, p99 no worse than the Node floor\'s', `${f(g1.p99 - d1.p99, 2)} vs ${f(n1.p99 - d1.p99, 2)} ms`, g1.p99 <= n1.p99);
    }
  }
  const c50 = get('chat, 50 connections', 'gateway');
  if (c50) add('gateway peak RSS under the c=50 chat load ≤ 150 MiB', `${f(c50.rss)} MiB`, c50.rss <= 150);
  const base = get('chat, 50 connections (gateway variants)', 'gateway');
  const noLog = get('chat, 50 connections (gateway variants)', 'gateway, log_requests off');
  const quota = get('chat, 50 connections (gateway variants)', 'gateway, quota (SQLite)');
  const redis = get('chat, 50 connections (gateway variants)', 'gateway, quota (Redis)');
  if (base && quota) add('quota with the embedded store costs ≤ 15 % of throughput', `${f((1 - quota.rps / base.rps) * 100)} %`, 1 - quota.rps / base.rps <= 0.15);
  if (base && redis) add('usage and quota in Redis cost ≤ 15 % of throughput against no quota', `${f((1 - redis.rps / base.rps) * 100)} %`, 1 - redis.rps / base.rps <= 0.15);
  if (base && noLog) add('request logging costs ≤ 15 % of throughput', `${f((1 - base.rps / noLog.rps) * 100)} %`, 1 - base.rps / noLog.rps <= 0.15);
  const off = get('chat, 50 connections, session affinity off vs on', 'gateway, no session');
  const on = get('chat, 50 connections, session affinity off vs on', 'gateway, a session (prompt_cache_key): pin read and renewed');
  if (off && on) add('session affinity costs ≤ 5 % of throughput', `${f((1 - on.rps / off.rps) * 100)} %`, 1 - on.rps / off.rps <= 0.05);
  out.push('');
  return out;
}

process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
try {
  await main();
} finally {
  await stopAll();
}
