import { request } from 'undici';
import { beforeEach, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/usage/sink.js';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;
let usage: UsageRecord[];
beforeEach(() => {
  usage = [];
});

const start = (extra: Record<string, unknown> = {}) =>
  fx.gateway({ _global: { default_retry: 0 }, m: { providers: [provider('p', fx.double.url('p'), extra)] } }, { usage: { record: (u) => usage.push(u) } });

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

describe('usage of streams', () => {
  it('asks the upstream for usage, counts it, and hides the usage chunk the client did not ask for', async () => {
    gw = await start();
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    await until(() => usage.length === 1);
    expect(fx.double.received('p')[0]!.body).toMatchObject({ stream_options: { include_usage: true } });
    const chunks = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(s.data.at(-1)).toBe('[DONE]');
    expect(usage).toEqual([expect.objectContaining({ providerId: 'm/p', success: true, estimated: false, completionTokens: 3 })]);
  });

  it('keeps the usage chunk when the client asked for it', async () => {
    gw = await start();
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, stream_options: { include_usage: true } }));
    const chunks = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 3 } });
    await until(() => usage.length === 1);
    expect(usage[0]?.estimated).toBe(false);
  });

  it('estimates usage with the tokenizer when the upstream reports none, and marks it', async () => {
    gw = await start();
    fx.double.script('p', { usage: false, content: 'one two three four five six seven eight', chunks: 4 });
    await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    // Recorded once the tokenizer is loaded (on first need), just after the stream ended.
    await until(() => usage.length === 1);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ estimated: true, success: true });
    expect(usage[0]!.promptTokens).toBeGreaterThan(0);
    expect(usage[0]!.completionTokens).toBeGreaterThanOrEqual(8);
    expect(usage[0]!.totalTokens).toBe(usage[0]!.promptTokens + usage[0]!.completionTokens);
    await until(() => gw!.logs.some((l) => l.path === '/v1/chat/completions'));
    const line = gw.logs.find((l) => l.path === '/v1/chat/completions');
    expect(line).toMatchObject({ tokensEstimated: true, tokens: usage[0]!.totalTokens, stream: true });
    expect(typeof line!.firstByteMs).toBe('number');
  });

  it('counts JSON answers from the reported usage, or an estimate', async () => {
    gw = await start();
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    fx.double.script('p', { usage: false });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    // Accounted after the answer was sent (an estimate never delays it).
    await until(() => usage.length === 2);
    expect(usage.map((u) => u.estimated)).toEqual([false, true]);
    expect(usage[1]!.totalTokens).toBeGreaterThan(0);
  });
});

describe('timeouts on streams', () => {
  it('bound the silence between chunks, never the length: 8 chunks 400 ms apart pass under timeout 1 s', async () => {
    gw = await start({ timeout: 1 });
    fx.double.script('p', { chunks: 8, chunkDelayMs: 400 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.data.at(-1)).toBe('[DONE]');
    expect(s.arrivals.at(-1)!).toBeGreaterThan(2500);
  });

  it('a silence longer than the timeout mid-stream ends the stream with an error event', async () => {
    gw = await start({ timeout: 1 });
    // Content first (a silence before it is a first-token stall, a failed try), then 1.6 s of nothing.
    fx.double.script('p', { chunks: 3, stallAfterChunks: { after: 2, ms: 1600 } });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.data).not.toContain('[DONE]');
    expect(JSON.parse(s.data.at(-1)!).error.code).toBe('stream_interrupted');
  });
});

describe('client disconnect', () => {
  it('aborts the upstream at once when the client leaves before the upstream answered, and records the prompt', async () => {
    gw = await start();
    fx.double.script('p', { delayMs: 5000 });
    const ac = new AbortController();
    const pending = request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })), signal: ac.signal,
    }).catch(() => undefined);
    await until(() => fx.double.received('p').length === 1);
    const left = Date.now();
    ac.abort();
    await pending;
    await until(() => fx.double.received('p')[0]!.closedEarly === true);
    expect(fx.double.received('p')[0]!.closedEarly).toBe(true);
    expect(Date.now() - left).toBeLessThan(1000);
    await until(() => usage.length === 1);
    expect(usage[0]).toMatchObject({ success: false, estimated: true, completionTokens: 0 });
    expect(usage[0]!.promptTokens).toBeGreaterThan(0);
  });

  it('aborts the upstream mid-stream and records what was streamed so far', async () => {
    gw = await start();
    fx.double.script('p', { usage: false, chunks: 40, chunkDelayMs: 50, content: 'word '.repeat(40) });
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })),
    });
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 300));
    const left = Date.now();
    res.body.destroy();
    await until(() => fx.double.received('p')[0]!.closedEarly === true);
    expect(fx.double.received('p')[0]!.closedEarly).toBe(true);
    expect(Date.now() - left).toBeLessThan(1000);
    await until(() => usage.length === 1);
    expect(usage[0]).toMatchObject({ success: true, estimated: true });
    expect(usage[0]!.completionTokens).toBeGreaterThan(0);
    expect(usage[0]!.completionTokens).toBeLessThan(40);
    await until(() => gw!.logs.some((l) => l.status === 499));
    expect(gw.logs.find((l) => l.path === '/v1/chat/completions')).toMatchObject({ status: 499, clientGone: true });
  });
});

describe('backpressure', () => {
  it('a client that does not read holds the upstream back instead of filling the gateway’s memory', async () => {
    gw = await start();
    // 400 chunks of 64 KiB: about 25 MiB, far more than socket buffers hold.
    fx.double.script('p', { chunks: 400, padChunks: 64 * 1024, content: 'z'.repeat(400) });
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })),
    });
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 1000));
    // Nobody reads: the upstream cannot finish writing.
    expect(fx.double.received('p')[0]!.finished).toBe(false);
    let bytes = 0;
    for (let n = await it.next(); !n.done; n = await it.next()) bytes += (n.value as Buffer).length;
    expect(bytes).toBeGreaterThan(25 * 1024 * 1024);
    expect(fx.double.received('p')[0]!.finished).toBe(true);
  });
});
