import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

/** The value of one sample line, e.g. `gateway_requests_total{model="m",...}`. */
function sample(text: string, name: string, labels: Record<string, string>): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...inside.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

describe('/metrics', () => {
  it('counts requests, tries, failovers, tokens, latency and time to first token; shows quota and cooldown', async () => {
    gw = await fx.gateway({
      _global: { admin_key: 'admin-key-for-metrics-1', default_retry: 0 },
      m: {
        providers: [
          provider('a', fx.double.url('a'), { rate_limit: { requests_per_period: 100, tokens_per_period: 100000 } }),
          provider('b', fx.double.url('b'), { priority: 2 }),
        ],
      },
    });
    const admin = { authorization: 'Bearer admin-key-for-metrics-1' };
    expect((await call(`${gw.url}/metrics`)).status).toBe(401);

    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }));
    fx.double.script('a', { status: 503 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });

    const r = await call(`${gw.url}/metrics`, { headers: admin });
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toContain('text/plain');
    const t = r.text;
    expect(sample(t, 'gateway_requests_total', { endpoint: '/v1/chat/completions', model: 'm', provider: 'a', status: '200', stream: 'false' })).toBe(1);
    expect(sample(t, 'gateway_requests_total', { model: 'm', provider: 'a', status: '200', stream: 'true' })).toBe(1);
    expect(sample(t, 'gateway_requests_total', { model: 'm', provider: 'b', status: '200', stream: 'false' })).toBe(1);
    expect(sample(t, 'gateway_upstream_tries_total', { model: 'm', provider: 'a', result: '503' })).toBe(1);
    expect(sample(t, 'gateway_upstream_tries_total', { model: 'm', provider: 'a', result: '200' })).toBe(2);
    expect(sample(t, 'gateway_failovers_total', { model: 'm', from: 'a', to: 'b' })).toBe(1);
    expect(sample(t, 'gateway_tokens_total', { model: 'm', provider: 'a', kind: 'completion', estimated: 'false' })).toBe(6);
    expect(sample(t, 'gateway_upstream_latency_seconds_count', { model: 'm', provider: 'a' })).toBe(3);
    expect(sample(t, 'gateway_time_to_first_token_seconds_count', { model: 'm', provider: 'a' })).toBe(1);
    expect(sample(t, 'gateway_request_duration_seconds_count', { model: 'm', stream: 'false' })).toBe(2);
    expect(sample(t, 'gateway_quota_remaining', { model: 'm', provider: 'a', kind: 'requests' })).toBe(98);
    expect(sample(t, 'gateway_provider_cooling_down', { model: 'm', provider: 'a' })).toBe(1);
    expect(sample(t, 'gateway_provider_cooling_down', { model: 'm', provider: 'b' })).toBe(0);
    expect(t).toContain('process_resident_memory_bytes');
    expect(t).not.toContain('sk-test');
  });
});
