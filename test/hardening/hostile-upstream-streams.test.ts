import { request } from 'undici';
import { beforeEach, describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/usage/sink.js';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

/**
 * Upstream streams and answers that would stall, bloat or fool the gateway: each is a failed
 * try (and the request fails over) or is bounded, and the gateway stays responsive meanwhile.
 */
const fx = useUpstreamDouble();
let usage: UsageRecord[];
beforeEach(() => {
  usage = [];
});

const twoTier = (global: Record<string, unknown> = {}, primary: Record<string, unknown> = {}): Promise<RunningGateway> =>
  fx.gateway({
    _global: { default_retry: 0, ...global },
    m: { providers: [provider('primary', fx.double.url('primary'), { priority: 1, ...primary }), provider('backup', fx.double.url('backup'), { priority: 2 })] },
  }, { usage: { record: (u) => usage.push(u) } });

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

/** The slowest of `/health` answers taken every 20 ms while `work` runs. */
async function slowestHealthWhile(url: string, work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true)).catch(() => undefined);
  let slowest = 0;
  while (!done) {
    const t = performance.now();
    const r = await call(`${url}/health`);
    expect(r.status).toBe(200);
    slowest = Math.max(slowest, performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
  await work;
  return slowest;
}

describe('before the first data event', () => {
  it('endless comments are cut after 1 MiB and the request fails over, the gateway staying responsive', async () => {
    const gw = await twoTier();
    // 64 KiB pieces a millisecond apart: endless for the gateway, yet the double (which runs in
    // this same process) leaves the event loop free enough to measure the gateway's /health.
    fx.double.script('primary', { prelude: { bytes: 200 * 1024 * 1024, piece: 64 * 1024, every: 1 } });
    const pending = readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    const slowest = await slowestHealthWhile(gw.url, pending);
    const s = await pending;
    expect(s.headers['x-gateway-provider']).toBe('backup');
    expect(s.data.at(-1)).toBe('[DONE]');
    // The primary's comments never reached the client, and its connection was dropped.
    expect(s.text).not.toContain(': ppp');
    await until(() => fx.double.received('primary')[0]?.closedEarly === true);
    expect(fx.double.received('primary')[0]?.closedEarly).toBe(true);
    // A stall (the gateway reading the 200 MiB, or scanning it whole) takes seconds; the double
    // writing in this same process adds its own pauses (103–104 ms seen on a loaded machine).
    expect(slowest).toBeLessThan(250);
    const line = gw.logs.find((l) => String(l.msg).startsWith('Switching provider'));
    expect(line?.reason).toBe('no data before the limit');
  });

  it('comments that keep trickling in do not hold the request past the timeout', async () => {
    const gw = await twoTier({}, { timeout: 1 });
    fx.double.script('primary', { prelude: { bytes: 10 * 1024 * 1024, piece: 64, every: 50 } });
    const started = Date.now();
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.headers['x-gateway-provider']).toBe('backup');
    expect(Date.now() - started).toBeLessThan(2500);
    expect(gw.logs.find((l) => String(l.msg).startsWith('Switching provider'))?.reason).toBe('first token timeout');
  });

  it('a few comments before the data are relayed as they came', async () => {
    const gw = await twoTier();
    fx.double.script('primary', { prelude: { bytes: 3000, piece: 1000 } });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.headers['x-gateway-provider']).toBe('primary');
    expect(s.text.startsWith(': ppp')).toBe(true);
    expect(s.data.at(-1)).toBe('[DONE]');
  });

  it('a stream whose first event is an error is a failed try, not a success', async () => {
    const gw = await twoTier({}, { retry: 2 });
    fx.double.script('primary', { errorEvent: true, times: 5 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.headers['x-gateway-provider']).toBe('backup');
    expect(s.text).not.toContain('server had an error');
    // Deterministic: not retried on the same provider.
    expect(fx.double.received('primary')).toHaveLength(1);
    const view = (await call(`${gw.url}/admin/providers/m`)).json.providers.find((p: { name: string }) => p.name === 'primary');
    expect(view.health.last_error).toBe('error event in stream');
    await until(() => usage.length === 1);
    expect(usage.map((u) => u.provider)).toEqual(['backup']);
  });
});

describe('after the first data event', () => {
  it('a stream that ends without [DONE] or a finish reason ends with an error event and counts as interrupted', async () => {
    const gw = await twoTier();
    fx.double.script('primary', { truncate: true, usage: false });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.headers['x-gateway-provider']).toBe('primary');
    expect(s.data).not.toContain('[DONE]');
    expect(JSON.parse(s.data.at(-1)!)).toMatchObject({ error: { code: 'stream_interrupted' } });
    await until(() => gw.logs.some((l) => l.path === '/v1/chat/completions'));
    expect(gw.logs.find((l) => l.path === '/v1/chat/completions')).toMatchObject({ status: 502, streamError: 'UPSTREAM_STREAM_TRUNCATED' });
    // What was streamed is still charged, as an estimate.
    await until(() => usage.length === 1);
    expect(usage[0]).toMatchObject({ provider: 'primary', estimated: true, success: false });
  });

  it('a stream with a finish reason but no [DONE] is complete', async () => {
    const gw = await twoTier();
    fx.double.script('primary', {
      status: 200, headers: { 'content-type': 'text/event-stream' },
      body: 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"x","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n',
    });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.data).toHaveLength(1);
    expect(JSON.parse(s.data[0]!).choices[0].finish_reason).toBe('stop');
    await until(() => gw.logs.some((l) => l.path === '/v1/chat/completions'));
    expect(gw.logs.find((l) => l.path === '/v1/chat/completions')).toMatchObject({ status: 200 });
  });

  it('include_usage gets a usage chunk, estimated, when the provider reports none (pass-through)', async () => {
    const gw = await twoTier();
    fx.double.script('primary', { usage: false, content: 'one two three four five six', chunks: 3 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, stream_options: { include_usage: true } }));
    expect(s.data.at(-1)).toBe('[DONE]');
    const last = JSON.parse(s.data.at(-2)!);
    expect(last).toMatchObject({ object: 'chat.completion.chunk', choices: [] });
    expect(last.usage.completion_tokens).toBeGreaterThan(0);
    expect(last.usage.total_tokens).toBe(last.usage.prompt_tokens + last.usage.completion_tokens);
    expect(last.id).toBe(JSON.parse(s.data[0]!).id);
    await until(() => usage.length === 1);
    expect(usage[0]).toMatchObject({ estimated: true, totalTokens: last.usage.total_tokens });
    const stats = (await call(`${gw.url}/admin/stats`)).json;
    expect(stats.m.primary.tokens_estimated).toBe(true);
  });

  it('include_usage gets a usage chunk, estimated, when a JSON-only provider reports none (synthesized)', async () => {
    const gw = await twoTier({}, { stream_support: false });
    fx.double.script('primary', { usage: false, content: 'one two three four five six' });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, stream_options: { include_usage: true } }));
    expect(s.data.at(-1)).toBe('[DONE]');
    const last = JSON.parse(s.data.at(-2)!);
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBeGreaterThan(0);
    await until(() => usage.length === 1);
    expect(usage[0]).toMatchObject({ estimated: true, totalTokens: last.usage.total_tokens });
  });
});

describe('what an upstream reports is checked', () => {
  it('a usage larger than the answer could hold is capped and logged, never stored as is', async () => {
    const gw = await twoTier();
    fx.double.script('primary', { usageValue: { prompt_tokens: 5, completion_tokens: 1e15, total_tokens: 1e15 + 5 } });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    await until(() => usage.length === 1);
    expect(usage[0]!.totalTokens).toBeLessThan(1_000_000);
    expect(usage[0]!.totalTokens).toBeGreaterThan(5);
    const warning = gw.logs.find((l) => String(l.msg).startsWith('Implausible usage'));
    expect(warning?.msg).toContain('primary');
    expect(warning?.level).toBe('WARNING');
  });

  it('a usage that is not a count (1e18, negative) is replaced by the estimate', async () => {
    const gw = await twoTier({}, {});
    fx.double.script('primary', { usageValue: { prompt_tokens: 3, completion_tokens: 1e18, total_tokens: 1e18 } }, { usageValue: { prompt_tokens: -4, completion_tokens: 2, total_tokens: -2 } });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    await until(() => usage.length === 2);
    for (const u of usage) {
      expect(u.estimated).toBe(true);
      expect(u.totalTokens).toBeGreaterThan(0);
      expect(u.totalTokens).toBeLessThan(1000);
    }
    expect((await call(`${gw.url}/admin/stats`)).json.m.primary.tokens).toBeLessThan(2000);
  });

  it('a 2xx JSON answer is sent as application/json whatever content type the upstream named', async () => {
    const gw = await twoTier();
    fx.double.script('primary', { headers: { 'content-type': 'text/html' } });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.json.choices[0].message.content).toBe('Hello from primary');
  });

  it('an answer too large is downloaded once, not once per retry', async () => {
    const gw = await twoTier({ max_response_bytes: 2000 }, { retry: 3 });
    fx.double.script('primary', { content: 'x'.repeat(10_000), times: 4 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.headers['x-gateway-provider']).toBe('backup');
    expect(fx.double.received('primary')).toHaveLength(1);
  });
});

describe('conversions keep every field', () => {
  it('stream → JSON keeps logprobs, usage details, service_tier, refusal and the finish reason', async () => {
    const gw = await twoTier({}, { non_stream_support: false });
    fx.double.script('primary', { logprobs: true, serviceTier: 'default', chunks: 2, content: 'Hi there' });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m', { logprobs: true }) });
    expect(fx.double.received('primary')[0]!.body).toMatchObject({ stream: true });
    const answer = r.json;
    expect(answer.service_tier).toBe('default');
    expect(answer.choices[0].message).toEqual({ role: 'assistant', content: 'Hi there', refusal: null });
    expect(answer.choices[0].finish_reason).toBe('stop');
    expect(answer.choices[0].logprobs.content.map((t: { token: string }) => t.token).join('')).toBe('Hi there');
    expect(answer.usage.prompt_tokens_details).toEqual({ cached_tokens: 0, audio_tokens: 0 });
    expect(answer.usage.completion_tokens_details).toMatchObject({ reasoning_tokens: 0 });
  });

  it('a folded stream whose [DONE] came without a finish reason says stop, never null', async () => {
    const gw = await twoTier({}, { non_stream_support: false });
    fx.double.script('primary', {
      status: 200, headers: { 'content-type': 'text/event-stream' },
      body: 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}\n\ndata: [DONE]\n\n',
    });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.json.choices[0].finish_reason).toBe('stop');
    expect(r.json.choices[0].message.refusal).toBeNull();
  });

  it('JSON → stream keeps logprobs, service_tier and usage details', async () => {
    const gw = await twoTier({}, { stream_support: false });
    fx.double.script('primary', { logprobs: true, serviceTier: 'flex', content: 'Hi there' });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, logprobs: true, stream_options: { include_usage: true } }));
    const chunks = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.every((c) => c.service_tier === 'flex')).toBe(true);
    const content = chunks.find((c) => c.choices[0]?.delta?.content === 'Hi there');
    expect(content.choices[0].logprobs.content.length).toBeGreaterThan(0);
    expect(chunks.at(-1).usage.prompt_tokens_details).toEqual({ cached_tokens: 0, audio_tokens: 0 });
  });
});

describe('memory of a long pass-through stream', () => {
  it('a 64 MiB stream without usage is relayed whole and estimated, without holding it', async () => {
    const gw = await twoTier();
    fx.double.script('primary', { usage: false, chunks: 256, padChunks: 256 * 1024, content: 'a'.repeat(256) });
    const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })) });
    let bytes = 0;
    let tail = '';
    for await (const c of res.body) {
      bytes += (c as Buffer).length;
      tail = (tail + (c as Buffer).toString('latin1')).slice(-64);
    }
    expect(bytes).toBeGreaterThan(64 * 1024 * 1024);
    expect(tail).toContain('[DONE]');
    await until(() => usage.length === 1, 5000);
    // Estimated from a sample and the length: about a token per 4–8 bytes of padding, never 0.
    expect(usage[0]!.estimated).toBe(true);
    expect(usage[0]!.completionTokens).toBeGreaterThan(1_000_000);
  });
});
