import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const ADMIN = { authorization: 'Bearer admin-key-for-names-1' };
const config = () => ({ _global: { admin_key: ADMIN.authorization.slice(7) }, m: { providers: [provider('p', fx.double.url('p'))] } });

/** The series of the gateway's own metrics (not the process defaults): one per sample line. */
function gatewaySeries(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('gateway_'));
}

async function inParallel(n: number, width: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await one(next++);
  }));
}

describe('model names a client invents', () => {
  it('2,000 unknown names add no series to /metrics: they share one "(unknown)" label', async () => {
    gw = await fx.gateway(config());
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('invented-0') })).status).toBe(404);
    const before = gatewaySeries((await call(`${gw.url}/metrics`, { headers: ADMIN })).text);

    await inParallel(2000, 16, async (i) => {
      const r = await call(`${gw!.url}/v1/chat/completions`, { body: chat(`invented-${i + 1}`) });
      expect(r.status).toBe(404);
    });

    const after = (await call(`${gw.url}/metrics`, { headers: ADMIN })).text;
    expect(gatewaySeries(after).length).toBe(before.length);
    expect(after).not.toContain('invented-');
    expect(after).toContain('model="(unknown)"');
    expect(after).toMatch(/gateway_requests_total\{endpoint="\/v1\/chat\/completions",model="\(unknown\)",provider="",status="404",stream="false"\} 2001/);
    // The configured model is still counted under its own name.
    expect(after).toMatch(/gateway_requests_total\{endpoint="\/v1\/chat\/completions",model="m",provider="p",status="200",stream="false"\} 1/);

    // The dashboard's latest requests show the bucket, not the invented names.
    const overview = await call(`${gw.url}/admin/overview`, { headers: ADMIN });
    expect(overview.text).not.toContain('invented-');
    expect(overview.json.recent[0].model).toBe('(unknown)');
  });

  it('8 MiB model names keep /metrics at 200 and every log line under a few KB', async () => {
    gw = await fx.gateway(config());
    const huge = (c: string): string => c.repeat(8 * 1024 * 1024);
    for (const [i, c] of ['a', 'b', 'c', 'd'].entries()) {
      const r = await call(`${gw.url}/v1/chat/completions`, { body: chat(huge(c)), headers: { 'x-request-id': `huge-${i}` } });
      expect(r.status).toBe(404);
    }
    // A long path is a client-chosen string too.
    const longPath = `/v1/${'x'.repeat(12_000)}`;
    expect((await call(`${gw.url}${longPath}`, { method: 'POST', body: chat('m'), headers: { 'x-request-id': 'long-path' } })).status).toBe(404);

    const metrics = await call(`${gw.url}/metrics`, { headers: ADMIN });
    expect(metrics.status).toBe(200);
    expect(metrics.text.length).toBeLessThan(200_000);
    await new Promise((res) => setTimeout(res, 20));

    const lines = gw.logText().split('\n').filter(Boolean);
    const longest = Math.max(...lines.map((l) => Buffer.byteLength(l)));
    expect(longest, 'longest log line (bytes)').toBeLessThan(4096);
    const line = gw.logs.find((l) => l.reqId === 'huge-0' && l.path === '/v1/chat/completions');
    expect(line).toMatchObject({ status: 404 });
    // What the client asked for stays recognisable in the log, cut short.
    expect(String(line!.model)).toMatch(/^a{200,}…$/);
    const pathLine = gw.logs.find((l) => l.reqId === 'long-path' && typeof l.path === 'string');
    expect(String(pathLine!.path)).toMatch(/^\/v1\/x{200,}…$/);
  });
});

describe('the 404 of an unknown model', () => {
  it('does not echo a huge model name back', async () => {
    const gw = await fx.gateway({ m: { providers: [provider('p', fx.double.url('p'))] } });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('x'.repeat(1_000_000)) });
    expect(r.status).toBe(404);
    expect(r.text.length).toBeLessThan(1000);
  });
});
