import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { rawExchange, statusOf } from '../helpers/raw.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const port = (g: RunningGateway): number => Number(new URL(g.url).port);
const simple = (global: Record<string, unknown> = {}) => ({ _global: global, m: { providers: [provider('p', fx.double.url('p'))] } });

describe('slow clients', () => {
  it('slow-loris headers and bodies are cut off, and hundreds of them do not delay real requests', async () => {
    gw = await fx.gateway(simple(), { clientTimeouts: { headersMs: 600, requestMs: 1200 } });
    const sockets: Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < 300; i++) {
      const s = connect(port(gw), '127.0.0.1');
      const n = sockets.length;
      closed[n] = false;
      s.on('close', () => (closed[n] = true));
      s.on('error', () => undefined);
      s.resume(); // read what the server says (its 408), so its close is seen
      // Half never finish their headers; half promise a body that never comes.
      s.write(i % 2 === 0
        ? 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: '
        : 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":');
      sockets.push(s);
    }
    const t0 = Date.now();
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(1000);
    await new Promise((res) => setTimeout(res, 3500));
    expect(closed.filter(Boolean).length, `${closed.filter(Boolean).length} of ${closed.length} closed`).toBe(300);
    for (const s of sockets) s.destroy();
  });
});

describe('hostile bodies', () => {
  it('100,000 levels of nesting get 400, not a crash; the gateway keeps serving', async () => {
    gw = await fx.gateway(simple());
    const deep = `{"model":"m","messages":[],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const r = await call(`${gw.url}/v1/chat/completions`, { raw: deep, method: 'POST' });
    expect(r.status).toBe(400);
    expect(r.json.error.message).toContain('nested');
    const fine = await call(`${gw.url}/v1/chat/completions`, { body: chat('m', { x: JSON.parse(`${'['.repeat(30)}1${']'.repeat(30)}`) }) });
    expect(fine.status).toBe(200);
    expect(fx.double.received('p')).toHaveLength(1);
  });

  it('__proto__ and constructor keys pass through as plain data and pollute nothing', async () => {
    gw = await fx.gateway(simple());
    const raw = '{"model":"m","messages":[{"role":"user","content":"hi"}],"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}';
    const r = await call(`${gw.url}/v1/chat/completions`, { raw, method: 'POST' });
    expect(r.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const sent = JSON.stringify(fx.double.received('p')[0]!.body);
    expect(sent).toContain('"__proto__":{"polluted":"yes"}');
  });

  it('with duplicate keys, routing and the forwarded body agree on the model', async () => {
    gw = await fx.gateway({ ...simple(), other: { providers: [provider('o', fx.double.url('o'))] } });
    const r = await call(`${gw.url}/v1/chat/completions`, { raw: '{"model":"other","model":"m","messages":[]}', method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('p');
    expect(fx.double.received('o')).toHaveLength(0);
    expect((fx.double.received('p')[0]!.body as { model: string }).model).toBe('upstream-p');
  });

  it('over-long headers get 431', async () => {
    gw = await fx.gateway(simple());
    const r = await rawExchange(port(gw), `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(statusOf(r.text)).toBe(431);
  });
});

describe('nothing the client sends chooses the upstream', () => {
  it('body fields and headers naming another host are ignored', async () => {
    gw = await fx.gateway(simple());
    const attacker = fx.double.url('attacker');
    const r = await call(`${gw.url}/v1/chat/completions`, {
      body: chat('m', { api_base: attacker, base_url: attacker, user_config: { endpoint: attacker }, endpoint: attacker }),
      headers: { 'x-portkey-custom-host': attacker, 'x-forwarded-host': 'evil.example', 'x-original-url': attacker, 'x-rewrite-url': '/attacker/v1/chat/completions' },
    });
    expect(r.status).toBe(200);
    expect(fx.double.received('attacker')).toHaveLength(0);
    expect(fx.double.received('p')[0]!.path).toBe('/p/v1/chat/completions');
  });
});

describe('no path form reaches an admin route without the key', () => {
  const forms = ['//admin/stats', '/ADMIN/stats', '/Admin/Stats', '/admin%2Fstats', '/admin%2fstats', '/%61dmin/stats', '/v1/../admin/stats', '/admin/./stats', '/admin/stats/', '/admin/stats?x=1#', '/admin//stats', '/./admin/stats'];
  it.each(forms)('%s', async (path) => {
    gw = await fx.gateway(simple({ admin_key: 'the-admin-key-0000' }));
    for (const host of ['localhost', 'evil.example', '127.0.0.1:1']) {
      const r = await rawExchange(port(gw), `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      const status = statusOf(r.text);
      expect(status === 401 || status === 404 || status === 400, `${path} (${host}) → ${status}`).toBe(true);
      expect(r.text).not.toContain('last_reset');
    }
    // The real path with the key still works.
    expect((await call(`${gw.url}/admin/stats`, { headers: { authorization: 'Bearer the-admin-key-0000' } })).status).toBe(200);
  });
});

describe('request smuggling shapes are refused', () => {
  it.each([
    ['Content-Length with Transfer-Encoding', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Content-Lengths', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['a bare CR in a header', 'GET /v1/models HTTP/1.1\r\nHost: x\rX-Evil: 1\r\n\r\n'],
    ['an obsolete line folding', 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n'],
  ])('%s', async (_name, payload) => {
    gw = await fx.gateway(simple());
    const r = await rawExchange(port(gw), payload);
    expect(statusOf(r.text)).toBe(400);
    expect(fx.double.received('p')).toHaveLength(0);
  });

  it('wrong methods get 404 in JSON', async () => {
    gw = await fx.gateway(simple());
    for (const method of ['DELETE', 'PUT', 'PATCH']) {
      const r = await call(`${gw.url}/v1/chat/completions`, { method, raw: '{}' });
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('not_found');
    }
  });
});

describe('authentication failures', () => {
  it('get one and the same 401 body whatever was wrong', async () => {
    gw = await fx.gateway(simple({ api_key: 'right-key-123456' }));
    const bodies = new Set<string>();
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic cmlnaHQ=' }, { authorization: 'Bearer' }, { 'x-api-key': 'wrong' }, { authorization: 'bearer right-key-12345' }]) {
      const r = await call(`${gw.url}/v1/models`, { headers });
      expect(r.status).toBe(401);
      bodies.add(r.text);
    }
    expect(bodies.size).toBe(1);
  });
});
