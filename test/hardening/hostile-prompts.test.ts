import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/usage/sink.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/** Prompts chosen to make the tokenizer slow: the gateway counts them in bounded time and stays responsive. */
const fx = useUpstreamDouble();

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

/**
 * The longest `/health` may take while the prompts are counted. Counting 300 K-character runs on
 * the event loop stalls it for seconds; on this 2-core VM, with the suite's other files running,
 * a responsive gateway was seen at 103 ms, so 100 ms failed now and then without a stall.
 */
const RESPONSIVE_MS = 250;

async function healthTimes(url: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    expect((await call(`${url}/health`)).status).toBe(200);
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  return times;
}

/**
 * One letter, then one CJK character, repeated: each a single pre-token for the BPE. 100 KB of
 * this froze the whole gateway for 7–10 s before counts were bounded. Serialized once, so that
 * the test's own client (in this process) does not stall the loop being measured.
 */
const hostile = (n: number): string => JSON.stringify({
  model: 'm',
  messages: [{ role: 'user', content: 'a'.repeat(n) }, { role: 'user', content: '中'.repeat(n) }],
});
const post = (url: string, body: string, signal?: AbortSignal) =>
  request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...(signal ? { signal } : {}) });

describe('prompts that are slow to tokenize', () => {
  it('max_context_length on 2 × 300 K single-character runs: counted in bounded time, /health stays fast', async () => {
    const gw = await fx.gateway({ m: { providers: [provider('p', fx.double.url('p'), { max_context_length: 100_000_000 })] } });
    const body = hostile(300_000);
    const pending = Promise.all([1, 2, 3].map(async () => {
      const res = await post(gw.url, body);
      await res.body.dump();
      return res.statusCode;
    }));
    const times = await healthTimes(gw.url, 10);
    expect(await pending).toEqual([200, 200, 200]);
    expect(Math.max(...times)).toBeLessThan(RESPONSIVE_MS);
  });

  it('a client that leaves before the answer, with no configuration at all: the estimate is bounded too', async () => {
    const usage: UsageRecord[] = [];
    const gw = await fx.gateway({ m: { providers: [provider('p', fx.double.url('p'))] } }, { usage: { record: (u) => usage.push(u) } });
    fx.double.script('p', { delayMs: 2000, times: 3 });
    const acs = [1, 2, 3].map(() => new AbortController());
    const body = hostile(300_000);
    const sent = acs.map((ac) => post(gw.url, body, ac.signal).catch(() => undefined));
    await until(() => fx.double.received('p').length === 3);
    for (const ac of acs) ac.abort();
    await Promise.all(sent);
    const times = await healthTimes(gw.url, 10);
    await until(() => usage.length === 3);
    expect(usage).toHaveLength(3);
    for (const u of usage) expect(u.promptTokens).toBeGreaterThan(1000);
    expect(Math.max(...times)).toBeLessThan(RESPONSIVE_MS);
  });
});
