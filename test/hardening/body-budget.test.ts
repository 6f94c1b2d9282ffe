import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';
import { statusOf } from '../helpers/raw.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

const KiB = 1024;
const MiB = 1024 * KiB;
const port = (g: RunningGateway): number => Number(new URL(g.url).port);
/** At most 1 MiB per body, 2 MiB of bodies at once. */
const config = () => ({ _global: { max_body_bytes: MiB, max_body_bytes_in_flight: 2 * MiB }, m: { providers: [provider('p', fx.double.url('p'))] } });

/** A valid chat request body of exactly `bytes` bytes. */
function bodyOf(bytes: number): Buffer {
  const start = '{"model":"m","messages":[{"role":"user","content":"hi"}],"pad":"';
  return Buffer.from(`${start}${'x'.repeat(bytes - start.length - 2)}"}`);
}

interface Upload {
  socket: Socket;
  /** The raw answer, once the gateway has closed the connection. */
  answer: Promise<string>;
}

/** Opens a request and sends its head and the first `first` bytes of `body`; chunked when `chunked`. */
function open(p: number, body: Buffer, first: number, chunked = false): Upload {
  const socket = connect(p, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('error', () => undefined);
  const answer = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`;
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n${length}\r\n\r\n`);
  if (first > 0) send(socket, body.subarray(0, first), chunked);
  return { socket, answer };
}

function send(socket: Socket, bytes: Buffer, chunked: boolean): void {
  socket.write(chunked ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) : bytes);
}

async function until(what: string, test: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function healthMs(g: RunningGateway): Promise<number> {
  const t0 = performance.now();
  expect((await call(`${g.url}/health`)).status).toBe(200);
  return performance.now() - t0;
}

describe('the budget of request bodies in flight', () => {
  it('concurrent bodies past it get 503 with Retry-After, the ones within pass, and it is all given back', async () => {
    gw = await fx.gateway(config());
    const state = gw.state;
    const body = bodyOf(900 * KiB);
    // Two declared bodies of 900 KiB, half sent: 1.8 MiB of the 2 MiB held.
    const held = [open(port(gw), body, 450 * KiB), open(port(gw), body, 450 * KiB)];
    await until('both bodies are counted', () => state.bodies.inFlight === 2 * body.length);

    // A third declared one does not fit: refused at once, before its body is read.
    const third = await call(`${gw.url}/v1/chat/completions`, { raw: body.toString() });
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('1');
    expect(Object.keys(third.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(third.json.error).toMatchObject({ type: 'service_unavailable', code: 'server_busy' });
    expect(third.headers.connection).toBe('close');

    // A chunked one is counted as it arrives: 150 KiB fits, 150 KiB more does not.
    const chunked = open(port(gw), body, 150 * KiB, true);
    await until('the first chunk is counted', () => state.bodies.inFlight === 2 * body.length + 150 * KiB);
    send(chunked.socket, body.subarray(150 * KiB, 300 * KiB), true);
    expect(statusOf(await chunked.answer)).toBe(503);
    expect(await chunked.answer).toMatch(/retry-after: 1/i);
    expect(state.bodies.inFlight).toBe(2 * body.length);
    expect(await healthMs(gw), '/health while the budget is full (ms)').toBeLessThan(100);

    // The two within the budget complete normally.
    for (const h of held) send(h.socket, body.subarray(450 * KiB), false);
    const answers = await Promise.all(held.map((h) => h.answer));
    expect(answers.map(statusOf)).toEqual([200, 200]);
    expect(fx.double.received('p')).toHaveLength(2);

    // Nothing is left held: a body as large as the whole budget allows passes.
    expect(state.bodies.inFlight).toBe(0);
    const later = await Promise.all([0, 1].map(() => call(`${gw!.url}/v1/chat/completions`, { raw: bodyOf(MiB).toString() })));
    expect(later.map((r) => r.status)).toEqual([200, 200]);
    expect(state.bodies.inFlight).toBe(0);
  });

  it('a body whose client goes away, one refused as too large and one that is not JSON give back what they held', async () => {
    gw = await fx.gateway(config());
    const state = gw.state;
    const body = bodyOf(900 * KiB);
    const gone = open(port(gw), body, 300 * KiB);
    const goneChunked = open(port(gw), body, 300 * KiB, true);
    await until('both are counted', () => state.bodies.inFlight === body.length + 300 * KiB);
    gone.socket.destroy();
    goneChunked.socket.destroy();
    await until('what they held is given back', () => state.bodies.inFlight === 0);

    const tooLarge = open(port(gw), bodyOf(2 * MiB), 0, true);
    for (let i = 0; i < 4; i++) send(tooLarge.socket, bodyOf(2 * MiB).subarray(i * 300 * KiB, (i + 1) * 300 * KiB), true);
    expect(statusOf(await tooLarge.answer)).toBe(413);
    expect(state.bodies.inFlight).toBe(0);

    expect((await call(`${gw.url}/v1/chat/completions`, { raw: `${'{'.repeat(500)}` })).status).toBe(400);
    expect((await call(`${gw.url}/v1/chat/completions`, { raw: 'not json' })).status).toBe(400);
    expect(state.bodies.inFlight).toBe(0);
  });
});
