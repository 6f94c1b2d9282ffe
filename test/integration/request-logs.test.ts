import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const GATEWAY_KEY = 'gw-key-must-not-leak-777';
const config = (global: Record<string, unknown> = {}) => ({
  _global: { default_retry: 1, api_key: GATEWAY_KEY, ...global },
  m: {
    providers: [
      provider('primary', fx.double.url('primary'), { priority: 1, custom_headers: { 'x-secret-header': 'header-secret-value-99' } }),
      provider('backup', fx.double.url('backup'), { priority: 2 }),
    ],
  },
});
const auth = { authorization: `Bearer ${GATEWAY_KEY}` };

describe('request logs', () => {
  it('logs the selection, each switch with its reason, and one line per request', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { status: 503, times: 2 });
    const r = await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { ...auth, 'x-request-id': 'trace-me-1' } });
    expect(r.status).toBe(200);
    await new Promise((res) => setTimeout(res, 20));
    const mine = gw.logs.filter((l) => l.reqId === 'trace-me-1');
    const msgs = mine.map((l) => String(l.msg));
    expect(msgs.filter((m) => m.startsWith('Selected provider'))).toEqual(['Selected provider primary for m', 'Selected provider backup for m']);
    const switched = mine.find((l) => String(l.msg).startsWith('Switching provider'));
    expect(switched).toMatchObject({ level: 'WARNING', provider: 'primary', reason: '503', next: 'backup' });
    const lines = mine.filter((l) => l.path === '/v1/chat/completions');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'INFO', model: 'm', status: 200, provider: 'backup', stream: false,
      tries: [{ provider: 'primary', result: '503' }, { provider: 'primary', result: '503' }, { provider: 'backup', result: '200' }],
    });
    expect(typeof lines[0]!.latencyMs).toBe('number');
    expect(typeof lines[0]!.tokens).toBe('number');
  });

  it('writes the final line at ERROR level when every provider failed', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { status: 500, times: 2 });
    fx.double.script('backup', { status: 500, times: 2 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { ...auth, 'x-request-id': 'trace-me-2' } });
    await new Promise((res) => setTimeout(res, 20));
    const line = gw.logs.find((l) => l.reqId === 'trace-me-2' && l.path === '/v1/chat/completions');
    expect(line).toMatchObject({ level: 'ERROR', status: 502 });
  });

  it('writes no request line when log_requests is false', async () => {
    gw = await fx.gateway(config({ log_requests: false }));
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { ...auth, 'x-request-id': 'quiet-1' } });
    await new Promise((res) => setTimeout(res, 20));
    expect(gw.logs.filter((l) => l.reqId === 'quiet-1' && l.path)).toHaveLength(0);
  });

  it('never writes a key, even when one is sent back in an error or a failed auth', async () => {
    gw = await fx.gateway(config());
    fx.double.script('primary', { status: 400, body: { error: { message: 'bad key sk-test-primary-secret-key' } } });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: auth });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m'), headers: { authorization: 'Bearer wrong-key-but-still-a-key' } });
    gw.state.log.logger.warn({ oops: 'sk-test-backup-secret-key' }, `leak attempt ${GATEWAY_KEY} header-secret-value-99`);
    await new Promise((res) => setTimeout(res, 20));
    const text = gw.logText();
    expect(text).toContain('leak attempt');
    for (const secret of [GATEWAY_KEY, 'sk-test-primary-secret-key', 'sk-test-backup-secret-key', 'header-secret-value-99']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[REDACTED]');
  });
});
