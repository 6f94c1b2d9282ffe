import { connect } from 'node:net';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { statusOf } from '../helpers/raw.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const KEY = 'gw-key-for-refused-bodies-1';
const MiB = 1024 * 1024;
const port = (g: RunningGateway): number => Number(new URL(g.url).port);
const config = (global: Record<string, unknown> = {}) => ({ _global: { api_key: KEY, ...global }, m: { providers: [provider('p', fx.double.url('p'))] } });

interface Upload {
  /** What the gateway answered, as raw text. */
  text: string;
  /** Body bytes the socket accepted (handed to the kernel) before it was closed. */
  accepted: number;
  /** Milliseconds until the connection was closed (or the upload was complete). */
  ms: number;
}

/** Sends `head` then `total` body bytes as fast as the socket takes them, until done or the gateway closes. */
function upload(p: number, head: string, total: number, limitMs = 15_000): Promise<Upload> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // Half-open allowed: the client goes on sending after the gateway's FIN, as a hostile one would.
    const s = connect({ port: p, host: '127.0.0.1', allowHalfOpen: true });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let text = '';
    let accepted = 0;
    let sent = 0;
    let closed = false;
    const finish = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, accepted, ms: Date.now() - t0 });
    };
    const timer = setTimeout(finish, limitMs);
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('close', finish);
    s.on('error', () => undefined);
    const pump = (): void => {
      while (!closed && sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        const ok = s.write(n === chunk.length ? chunk : chunk.subarray(0, n), (err) => {
          if (!err) accepted += n;
        });
        if (!ok) {
          s.once('drain', pump);
          return;
        }
      }
    };
    s.write(head, pump);
  });
}

/** As curl and most HTTP libraries do: sends the whole request, and only then reads the answer. */
function writeThenRead(p: number, head: string, bodyBytes: number): Promise<{ text: string; error: string | null }> {
  return new Promise((resolve) => {
    const s = connect(p, '127.0.0.1');
    s.pause();
    let text = '';
    let error: string | null = null;
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ text, error }));
    s.write(head);
    s.write(Buffer.alloc(bodyBytes, 'x'), () => {
      s.on('data', (c: Buffer) => (text += c.toString('latin1')));
      s.resume();
      setTimeout(() => s.destroy(), 5000).unref();
    });
  });
}

/** Milliseconds `GET /health` takes. */
async function healthMs(g: RunningGateway): Promise<number> {
  const t0 = performance.now();
  const r = await call(`${g.url}/health`);
  expect(r.status).toBe(200);
  return performance.now() - t0;
}

/** Polls `/health` every 20 ms until `done` settles; returns the slowest answer. */
async function slowestHealthWhile(g: RunningGateway, done: Promise<unknown>): Promise<number> {
  let over = false;
  void done.finally(() => (over = true));
  let slowest = 0;
  while (!over) {
    slowest = Math.max(slowest, await healthMs(g));
    await new Promise((r) => setTimeout(r, 20));
  }
  return slowest;
}

describe('a refused body is not read to its end, and the client can read the refusal', () => {
  it('the openai client gets a 413 APIError (not a connection error) and sends the body once', async () => {
    gw = await fx.gateway(config({ max_body_bytes: MiB }));
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 2 });
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(5 * MiB) }] })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).not.toBeInstanceOf(OpenAI.APIConnectionError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('request_too_large');
    await new Promise((r) => setTimeout(r, 50));
    const seen = gw.logs.filter((l) => l.path === '/v1/chat/completions');
    expect(seen.map((l) => l.status)).toEqual([413]);
    expect(fx.double.received('p')).toHaveLength(0);
    // The gateway still serves on new connections.
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
  });

  it('a client that reads only after sending its whole body reads the 413 and the 401 (no broken pipe)', async () => {
    gw = await fx.gateway(config({ max_body_bytes: MiB }));
    const head = (key: string, bytes: number): string =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`;
    for (let i = 0; i < 3; i++) {
      const tooLarge = await writeThenRead(port(gw), head(KEY, 5 * MiB), 5 * MiB);
      expect(tooLarge.error, 'the client\'s write failed').toBeNull();
      expect(statusOf(tooLarge.text)).toBe(413);
      expect(tooLarge.text).toContain('request_too_large');
      const wrongKey = await writeThenRead(port(gw), head('wrong', 3 * MiB), 3 * MiB);
      expect(wrongKey.error).toBeNull();
      expect(statusOf(wrongKey.text)).toBe(401);
    }
  });

  it('a declared 50 MiB body with a wrong key: the 401 is readable, and the gateway reads a fraction of the body', async () => {
    gw = await fx.gateway(config());
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: ${50 * MiB}\r\n\r\n`;
    const sending = upload(port(gw), head, 50 * MiB);
    const slowest = await slowestHealthWhile(gw, sending);
    const r = await sending;
    expect(statusOf(r.text)).toBe(401);
    expect(r.text).toContain('invalid_api_key');
    expect(r.text.toLowerCase()).toContain('connection: close');
    // Loopback buffers take some MiB on their own; the gateway itself reads at most a few.
    expect(r.accepted, `accepted ${(r.accepted / MiB).toFixed(1)} MiB in ${r.ms} ms`).toBeLessThan(20 * MiB);
    expect(r.ms).toBeLessThan(5000);
    expect(slowest, 'slowest /health while the upload ran (ms)').toBeLessThan(100);
    console.log(`401: accepted ${(r.accepted / MiB).toFixed(1)} MiB of 50 in ${r.ms} ms; slowest /health ${slowest.toFixed(1)} ms`);
  });

  it('a chunked body past max_body_bytes: the 413 is readable and the upload is cut short', async () => {
    gw = await fx.gateway(config({ max_body_bytes: MiB }));
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    // One endless chunk: what matters is that the gateway stops reading it.
    const sending = upload(port(gw), `${head}${(200 * MiB).toString(16)}\r\n`, 200 * MiB);
    const slowest = await slowestHealthWhile(gw, sending);
    const r = await sending;
    expect(statusOf(r.text)).toBe(413);
    expect(r.text).toContain('request_too_large');
    expect(r.accepted, `accepted ${(r.accepted / MiB).toFixed(1)} MiB in ${r.ms} ms`).toBeLessThan(30 * MiB);
    expect(r.ms).toBeLessThan(5000);
    expect(slowest, 'slowest /health while the upload ran (ms)').toBeLessThan(100);
    console.log(`413 chunked: accepted ${(r.accepted / MiB).toFixed(1)} MiB of 200 in ${r.ms} ms; slowest /health ${slowest.toFixed(1)} ms`);
  });

  it('a client that trickles the rest of a refused body is cut off after a bounded time', async () => {
    gw = await fx.gateway(config());
    const s = connect({ port: port(gw), host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => s.on('close', () => resolve(Date.now())));
    const t0 = Date.now();
    s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${50 * MiB}\r\n\r\n`);
    const trickle = setInterval(() => s.write(Buffer.alloc(1024, 'x')), 50);
    const slowest = await slowestHealthWhile(gw, Promise.race([closed, new Promise((r) => setTimeout(r, 8000))]));
    clearInterval(trickle);
    s.destroy();
    expect(statusOf(text)).toBe(401);
    expect((await closed) - t0, 'ms until the gateway closed the connection').toBeLessThan(4000);
    expect(slowest, 'slowest /health meanwhile (ms)').toBeLessThan(100);
  });

  it('a small refused body on a kept-alive connection is answered and the gateway keeps serving', async () => {
    gw = await fx.gateway(config());
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { authorization: 'Bearer wrong' } });
    expect(r.status).toBe(401);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
  });
});
