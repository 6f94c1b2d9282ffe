import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const twoTier = (global: Record<string, unknown> = {}, primary: Record<string, unknown> = {}) => ({
  _global: { default_retry: 0, ...global },
  m: { providers: [provider('primary', fx.double.url('primary'), { priority: 1, ...primary }), provider('backup', fx.double.url('backup'), { priority: 2 })] },
});

describe('upstream answers are not trusted', () => {
  it('a 2xx with an empty body is a failed try', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { status: 200, body: '' });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
  });

  it('a JSON answer larger than max_response_bytes is a failed try', async () => {
    gw = await fx.gateway(twoTier({ max_response_bytes: 2000 }));
    fx.double.script('primary', { content: 'x'.repeat(10_000) });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('backup');
    const line = gw.logs.find((l) => String(l.msg).startsWith('Switching provider'));
    expect(line?.reason).toBe('response too large');
  });

  it('a reset before any byte is retried once on a fresh socket and held against nobody', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { reset: true });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway-provider']).toBe('primary');
    expect(r.headers['x-gateway-tries']).toBe('1');
    expect(fx.double.received('primary')).toHaveLength(2);
    expect(gw.state.health.get('m/primary')?.consecutiveFailures ?? 0).toBe(0);
    // Only once: a provider that resets every time is a failing provider.
    fx.double.script('primary', { reset: true, times: 2 });
    const again = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(again.headers['x-gateway-provider']).toBe('backup');
  });

  it('a thousand 5xx answers with large bodies leave connections where they were', async () => {
    gw = await fx.gateway(twoTier({}, { cooldown_seconds: 0 }));
    fx.double.script('primary', { status: 503, body: { error: { message: 'y'.repeat(200_000) } }, times: 1000 });
    const before = fx.double.openConnections();
    for (let batch = 0; batch < 50; batch++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => call(`${gw!.url}/v1/chat/completions`, { body: chat('m') })));
      for (const a of answers) expect(a.status).toBe(200);
    }
    expect(fx.double.openConnections()).toBeLessThanOrEqual(before + 45);
  });

  it('error texts reaching the client carry no host, URL, address or key fragment', async () => {
    gw = await fx.gateway(twoTier({}, { api_key: 'sk-live-primary-1234567890abcdef' }));
    fx.double.script('primary', {
      status: 400,
      body: {
        error: {
          message: `Invalid value for temperature. See https://internal.provider.example/v1/docs; upstream 10.1.2.3:8443 (127.0.0.1) with key sk-live-primary-1234567890abcdef, known as sk-proj-****cdef.`,
          type: 'invalid_request_error', param: 'temperature', code: 'invalid_value',
        },
      },
    });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(400);
    const m = r.json.error.message as string;
    expect(m).toContain('Invalid value for temperature');
    for (const leak of ['internal.provider.example', 'https://', '10.1.2.3', '127.0.0.1', 'sk-live', '****cdef', String(fx.double.port)]) expect(m).not.toContain(leak);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' });
  });

  it('a client error that is not JSON becomes an OpenAI error, without the page', async () => {
    gw = await fx.gateway(twoTier());
    fx.double.script('primary', { status: 404, body: `<html><body>Not found on ${fx.double.url('primary')}</body></html>` });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'upstream_error' });
    expect(r.text).not.toContain('<html>');
    expect(r.text).not.toContain('127.0.0.1');
  });
});
