import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const config = () => ({
  _global: { default_retry: 1 },
  m: { providers: [provider('primary', fx.double.url('primary'), { priority: 1 }), provider('backup', fx.double.url('backup'), { priority: 2 })] },
});

describe('streaming pass-through', () => {
  it('relays the upstream SSE bytes unchanged, with SSE headers', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { content: 'Hello streaming world', chunks: 4 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toContain('text/event-stream');
    expect(s.headers['cache-control']).toBe('no-cache');
    expect(s.headers['x-accel-buffering']).toBe('no');
    expect(s.headers['x-gateway-provider']).toBe('primary');
    expect(s.data.at(-1)).toBe('[DONE]');
    const events = s.data.slice(0, -1).map((d) => JSON.parse(d));
    expect(events.map((e) => e.choices[0].delta.content ?? '').join('')).toBe('Hello streaming world');
    expect(events.at(-1).choices[0].finish_reason).toBe('stop');
    // Byte for byte: every event is exactly one `data: …\n\n` block as the double wrote it.
    expect(s.text).toBe(s.data.map((d) => `data: ${d}\n\n`).join(''));
    expect(fx.double.received('primary')[0]!.body).toMatchObject({ stream: true, model: 'upstream-primary' });
  });

  it('forwards each chunk as it arrives, never buffering the whole answer', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { chunks: 4, chunkDelayMs: 150 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.data.at(-1)).toBe('[DONE]');
    // 6 events 150 ms apart: the first chunk reaches the client long before the last.
    expect(s.arrivals.length).toBeGreaterThanOrEqual(4);
    expect(s.arrivals.at(-1)! - s.arrivals[0]!).toBeGreaterThanOrEqual(500);
  });

  it('fails over before the first byte like a JSON request', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { status: 503, times: 2 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.status).toBe(200);
    expect(s.headers['x-gateway-provider']).toBe('backup');
    expect(s.headers['x-gateway-tries']).toBe('3');
    expect(s.data.at(-1)).toBe('[DONE]');
  });

  it('retries a stream that breaks before its first byte', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { dropAfterChunks: 0 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.status).toBe(200);
    expect(s.data.at(-1)).toBe('[DONE]');
    expect(fx.double.received('primary')).toHaveLength(2);
  });

  it('ends the stream with an error event and no [DONE] when the upstream breaks mid-stream', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { chunks: 5, dropAfterChunks: 3, chunkDelayMs: 20 });
    const s = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    expect(s.status).toBe(200);
    expect(s.data).not.toContain('[DONE]');
    const last = JSON.parse(s.data.at(-1)!);
    expect(last.error.code).toBe('stream_interrupted');
    expect(s.data.length).toBe(4);
    // No switch once bytes reached the client.
    expect(fx.double.received('backup')).toHaveLength(0);
    expect(fx.double.received('primary')).toHaveLength(1);
  });

  it('aborts the upstream request when the client goes away', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { chunks: 50, chunkDelayMs: 100 });
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('m', { stream: true })),
    });
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    res.body.destroy();
    const deadline = Date.now() + 2000;
    while (!fx.double.received('primary')[0]?.closedEarly && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fx.double.received('primary')[0]!.closedEarly).toBe(true);
  });
});
