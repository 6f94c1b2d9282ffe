import { describe, expect, it } from 'vitest';
import { provider, type RunningGateway } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat } from '../helpers/http.js';

const fx = useUpstreamDouble();
let gw: RunningGateway | undefined;

const API = 'gw-api-key-0123456789';
const ADMIN = 'gw-admin-key-9876543210';

describe('GET /admin/providers/<model>', () => {
  it('shows settings with the key masked and the health of each provider', async () => {
    gw = await fx.gateway({
      _global: { default_retry: 0 },
      m: {
        providers: [
          provider('primary', fx.double.url('primary'), { api_key: 'sk-proj-abcdefghijkl1234', custom_headers: { 'x-org': 'org-secret-value' } }),
          provider('backup', fx.double.url('backup'), { priority: 2 }),
        ],
      },
    });
    fx.double.script('primary', { status: 503 });
    await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    const r = await call(`${gw.url}/admin/providers/m`);
    expect(r.status).toBe(200);
    const [primary, backup] = r.json.providers;
    expect(primary.api_key).toBe('sk-…1234');
    expect(primary.custom_headers).toEqual({ 'x-org': '…' });
    expect(primary.health).toMatchObject({ state: 'cooling_down', consecutive_failures: 1, last_error: '503' });
    expect(Date.parse(primary.health.cooldown_until)).toBeGreaterThan(Date.now() + 25_000);
    expect(backup.health).toMatchObject({ state: 'ok', consecutive_failures: 0 });
    expect(typeof backup.health.last_latency_ms).toBe('number');
    expect(r.text).not.toContain('abcdefghijkl');
    expect(r.text).not.toContain('org-secret-value');
    expect(r.text).not.toContain('sk-test-backup-secret-key');
  });

  it('404 for an unknown model', async () => {
    gw = await fx.gateway({ m: { providers: [provider('p', fx.double.url('p'))] } });
    const r = await call(`${gw.url}/admin/providers/nope`);
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('model_not_found');
  });
});

describe('admin key', () => {
  it('guards /admin with admin_key when set; the gateway key does not open it', async () => {
    gw = await fx.gateway({ _global: { api_key: API, admin_key: ADMIN }, m: { providers: [provider('p', fx.double.url('p'))] } });
    expect((await call(`${gw.url}/admin/providers/m`)).status).toBe(401);
    expect((await call(`${gw.url}/admin/providers/m`, { headers: { authorization: `Bearer ${API}` } })).status).toBe(401);
    expect((await call(`${gw.url}/admin/providers/m`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    expect((await call(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${API}` } })).status).toBe(200);
  });

  it('falls back to the gateway key when no admin_key is set', async () => {
    gw = await fx.gateway({ _global: { api_key: API }, m: { providers: [provider('p', fx.double.url('p'))] } });
    expect((await call(`${gw.url}/admin/providers/m`)).status).toBe(401);
    expect((await call(`${gw.url}/admin/providers/m`, { headers: { 'x-api-key': API } })).status).toBe(200);
  });
});
