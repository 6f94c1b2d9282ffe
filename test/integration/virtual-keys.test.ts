import Anthropic from '@anthropic-ai/sdk';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/usage/sqlite-store.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call, chat, type Answer } from '../helpers/http.js';
import { readStream } from '../helpers/sse.js';

/**
 * Virtual keys (SPEC §8) on one instance with the embedded store: the admin API, what a key may
 * and may not do (through the official clients), exact request limits, tokens and cost per key,
 * stored responses scoped to their key, and secrets that appear nowhere but in the answer that
 * made them.
 */
const fx = useUpstreamDouble();

const SECRET = /^sk-gw-[A-Za-z0-9_-]{20,}$/;
/** USD per million tokens, and a scripted usage whose cost is known exactly. */
const PRICE = { input: 2.5, output: 10, cached_input: 1.25 };
const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 400 } };
/** (prompt − cached) × input + cached × cached_input + completion × output, per million. */
const COST = ((1000 - 400) * PRICE.input + 400 * PRICE.cached_input + 500 * PRICE.output) / 1e6;

interface Created {
  id: string;
  key: string;
  name: string;
  [field: string]: unknown;
}

const cfg = (global: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  _global: { default_retry: 0, ...global },
  m: { providers: [provider('p', fx.double.url('p'), extra)] },
  other: { providers: [provider('o', fx.double.url('o'))] },
});

const bearer = (key: string | undefined): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

async function createKey(gw: RunningGateway, body: Record<string, unknown>, admin?: string): Promise<Created> {
  const r = await call(`${gw.url}/admin/keys`, { body, headers: bearer(admin) });
  expect(r.status, r.text).toBe(201);
  return r.json as Created;
}

async function keyOf(gw: RunningGateway, id: string, admin?: string): Promise<Record<string, any>> {
  const r = await call(`${gw.url}/admin/keys/${id}`, { headers: bearer(admin) });
  expect(r.status, r.text).toBe(200);
  return r.json;
}

const openai = (gw: RunningGateway, apiKey: string) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0 });
const anthropic = (gw: RunningGateway, apiKey: string) => new Anthropic({ baseURL: gw.url, apiKey, maxRetries: 0 });

/** The API error a call ends with (fails the test when it succeeds or fails otherwise). */
async function apiError<E extends Error>(work: Promise<unknown>, kind: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(kind);
    return err as E;
  }
  throw new Error('the request was expected to fail');
}

const ask = (c: OpenAI, model = 'm') => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });

describe('admin API', () => {
  it('creates (secret shown once), lists, reads, changes and revokes a key; unknown ids are 404', async () => {
    const gw = await fx.gateway(cfg());
    const created = await call(`${gw.url}/admin/keys`, {
      body: { name: 'team-a', models: ['m'], rate_limit: { requests_per_period: 100 }, max_concurrent: 4, metadata: { owner: 'alice' } },
    });
    expect(created.status).toBe(201);
    const k = created.json as Created;
    expect(k.key).toMatch(SECRET);
    expect(k.id).toEqual(expect.any(String));
    expect(k).toMatchObject({
      name: 'team-a', status: 'active', models: ['m'], max_concurrent: 4, expires_at: null, revoked_at: null, metadata: { owner: 'alice' },
      rate_limit: { requests_per_period: 100, tokens_per_period: null, cost_per_period: null, period_cron: '0 0 * * *' },
      usage: { requests: 0, tokens: 0 },
    });
    const hash = createHash('sha256').update(k.key).digest('hex');
    const random = k.key.slice('sk-gw-'.length);
    expect(created.text).not.toContain(hash);

    const other = await createKey(gw, { name: 'team-b' });
    expect(other.key).toMatch(SECRET);
    expect(other.key).not.toBe(k.key);
    expect(other.id).not.toBe(k.id);

    const list = await call(`${gw.url}/admin/keys`);
    expect(list.status).toBe(200);
    expect(list.json.data.map((x: { id: string }) => x.id).sort()).toEqual([k.id, other.id].sort());
    const one = await call(`${gw.url}/admin/keys/${k.id}`);
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ id: k.id, name: 'team-a', status: 'active', models: ['m'], usage: { requests: 0, tokens: 0, cost: 0 } });
    expect(Date.parse(one.json.usage.next_reset)).toBeGreaterThan(Date.parse(one.json.usage.last_reset));
    for (const r of [list, one]) {
      expect(r.text).not.toContain(random);
      expect(r.text).not.toContain(hash);
      expect(r.json).not.toHaveProperty('key');
    }
    expect(one.json).not.toHaveProperty('hash');

    // A partial change: what is not named stays as it was.
    const patched = await call(`${gw.url}/admin/keys/${k.id}`, { method: 'PATCH', body: { max_concurrent: 2, models: ['m', 'other'] } });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ id: k.id, name: 'team-a', max_concurrent: 2, models: ['m', 'other'], metadata: { owner: 'alice' }, rate_limit: { requests_per_period: 100 } });
    expect(patched.text).not.toContain(random);
    expect((await call(`${gw.url}/admin/keys/${k.id}`)).json).toMatchObject({ max_concurrent: 2, models: ['m', 'other'] });

    const revoked = await call(`${gw.url}/admin/keys/${k.id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ id: k.id, status: 'revoked', revoked_at: expect.any(String) });
    expect(revoked.text).not.toContain(random);
    // Its record stays visible, revoked; the other key is untouched.
    const after = (await call(`${gw.url}/admin/keys`)).json.data as Array<{ id: string; status: string }>;
    expect(after.find((x) => x.id === k.id)?.status).toBe('revoked');
    expect(after.find((x) => x.id === other.id)?.status).toBe('active');

    for (const [method, body] of [['GET', undefined], ['PATCH', { max_concurrent: 1 }], ['DELETE', undefined]] as const) {
      const r = await call(`${gw.url}/admin/keys/key_0000000000000000`, { method, ...(body ? { body } : {}) });
      expect(r.status, `${method} of an unknown id`).toBe(404);
      expect(r.json.error.code).toBe('key_not_found');
    }
  });

  it('refuses invalid settings with 400 naming the field; a refused create makes nothing, a refused PATCH changes nothing', async () => {
    const gw = await fx.gateway(cfg());
    const refusals: Array<[Record<string, unknown> | unknown[], string]> = [
      [{ name: 'x', rate_limit: { request_per_period: 5 } }, 'rate_limit.request_per_period'],
      [{ name: 'x', modles: ['m'] }, 'modles'],
      [{ name: 'x', rate_limit: { requests_per_period: -1 } }, 'rate_limit.requests_per_period'],
      [{ name: 'x', rate_limit: { tokens_per_period: -10 } }, 'rate_limit.tokens_per_period'],
      [{ name: 'x', rate_limit: { cost_per_period: -0.5 } }, 'rate_limit.cost_per_period'],
      [{ name: 'x', max_concurrent: -2 }, 'max_concurrent'],
      [{ name: 'x', rate_limit: { period_cron: 'every day at noon' } }, 'rate_limit.period_cron'],
      [{ name: 'x', rate_limit: { period_cron: '0 25 * * *' } }, 'rate_limit.period_cron'],
      [{ name: 'x', models: ['m', 'no-such-model'] }, 'models[1]'],
      [{ name: 'x', expires_at: 'tomorrow' }, 'expires_at'],
      [{ name: 'x', expires_at: '2027-13-45T00:00:00Z' }, 'expires_at'],
      [{ models: ['m'] }, 'name'],
      [{ name: '' }, 'name'],
    ];
    for (const [body, field] of refusals) {
      const r = await call(`${gw.url}/admin/keys`, { body });
      expect(r.status, `${JSON.stringify(body)}: ${r.text}`).toBe(400);
      expect(r.json.error.type).toBe('invalid_request_error');
      expect(`${r.json.error.param} ${r.json.error.message}`, JSON.stringify(body)).toContain(field);
    }
    expect((await call(`${gw.url}/admin/keys`)).json.data).toEqual([]);

    const k = await createKey(gw, { name: 'stable', models: ['m'], rate_limit: { requests_per_period: 10, period_cron: '0 */6 * * *' } });
    await createKey(gw, { name: 'taken' });
    const before = await call(`${gw.url}/admin/keys/${k.id}`);
    const patches: Array<[Record<string, unknown>, string]> = [
      // A valid change beside a wrong one: neither applies.
      [{ max_concurrent: 3, rate_limit: { request_per_period: 1 } }, 'rate_limit.request_per_period'],
      [{ max_concurrent: 3, nmae: 'typo' }, 'nmae'],
      [{ max_concurrent: 3, rate_limit: { requests_per_period: -5 } }, 'rate_limit.requests_per_period'],
      [{ max_concurrent: 3, rate_limit: { period_cron: '61 * * * *' } }, 'rate_limit.period_cron'],
      [{ max_concurrent: 3, models: ['nope'] }, 'models[0]'],
      [{ max_concurrent: 3, expires_at: '31/12/2027' }, 'expires_at'],
      [{ max_concurrent: 3, name: 'taken' }, 'name'],
    ];
    for (const [body, field] of patches) {
      const r = await call(`${gw.url}/admin/keys/${k.id}`, { method: 'PATCH', body });
      expect(r.status, `${JSON.stringify(body)}: ${r.text}`).toBe(400);
      expect(`${r.json.error.param} ${r.json.error.message}`, JSON.stringify(body)).toContain(field);
    }
    const after = await call(`${gw.url}/admin/keys/${k.id}`);
    expect(after.json).toEqual(before.json);
    expect(after.json.max_concurrent).toBeNull();
  });

  it('with admin_key set, only it opens /admin/* and /metrics: the master key and a virtual key get 401', async () => {
    const MASTER = 'gw-master-key-0123456789';
    const ADMIN = 'gw-admin-key-0123456789';
    const gw = await fx.gateway(cfg({ api_key: MASTER, admin_key: ADMIN }));
    const noAdmin = await call(`${gw.url}/admin/keys`, { body: { name: 'x' }, headers: bearer(MASTER) });
    expect(noAdmin.status).toBe(401);
    const k = await createKey(gw, { name: 'ops' }, ADMIN);
    for (const path of ['/admin/keys', `/admin/keys/${k.id}`, '/admin/stats', '/admin/overview', '/metrics']) {
      for (const key of [MASTER, k.key, undefined]) {
        const r = await call(`${gw.url}${path}`, { headers: bearer(key) });
        expect(r.status, `${path} with ${key === undefined ? 'no key' : key === MASTER ? 'the master key' : 'the virtual key'}`).toBe(401);
      }
      expect((await call(`${gw.url}${path}`, { headers: bearer(ADMIN) })).status, path).toBe(200);
    }
    // Neither may change keys either, but the admin key may.
    expect((await call(`${gw.url}/admin/keys/${k.id}`, { method: 'DELETE', headers: bearer(k.key) })).status).toBe(401);
    expect((await call(`${gw.url}/admin/keys/${k.id}`, { method: 'PATCH', body: { max_concurrent: 1 }, headers: bearer(MASTER) })).status).toBe(401);
    expect((await keyOf(gw, k.id, ADMIN)).status).toBe('active');
    // The virtual key itself works where it belongs.
    expect((await ask(openai(gw, k.key))).choices[0]?.message.content).toBe('Hello from p');
  });
});

describe('enforcement, through the official openai client', () => {
  it('unknown, revoked and expired keys are 401 and reach no provider; the master key still works, without limits', async () => {
    const MASTER = 'gw-master-key-0123456789';
    const now = Date.parse('2026-11-27T20:00:00Z');
    const gw = await fx.gateway(cfg({ api_key: MASTER }), { now: () => now });
    const live = await createKey(gw, { name: 'live', rate_limit: { requests_per_period: 1 } }, MASTER);
    const doomed = await createKey(gw, { name: 'doomed' }, MASTER);
    const stale = await createKey(gw, { name: 'stale' }, MASTER);
    const born = await createKey(gw, { name: 'born-expired', expires_at: '2026-11-27T19:59:59Z' }, MASTER);
    const later = await createKey(gw, { name: 'later', expires_at: '2026-11-27T20:00:01Z' }, MASTER);

    expect((await ask(openai(gw, doomed.key))).choices[0]?.message.content).toBe('Hello from p');
    expect((await ask(openai(gw, stale.key))).choices[0]?.message.content).toBe('Hello from p');
    expect((await ask(openai(gw, later.key))).choices[0]?.message.content).toBe('Hello from p');
    expect((await call(`${gw.url}/admin/keys/${doomed.id}`, { method: 'DELETE', headers: bearer(MASTER) })).status).toBe(200);
    const expire = await call(`${gw.url}/admin/keys/${stale.id}`, { method: 'PATCH', body: { expires_at: '2026-11-27T19:00:00Z' }, headers: bearer(MASTER) });
    expect(expire.status).toBe(200);
    expect(expire.json.status).toBe('expired');
    const received = fx.double.received('p').length;
    const usageBefore = (await keyOf(gw, doomed.id, MASTER)).usage;

    const cases: Array<[string, string]> = [
      ['unknown', 'sk-gw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
      ['master key with one character changed', `${MASTER.slice(0, -1)}X`],
      ['revoked', doomed.key],
      ['expired by PATCH', stale.key],
      ['created expired', born.key],
    ];
    for (const [why, key] of cases) {
      const e = await apiError(ask(openai(gw, key)), OpenAI.AuthenticationError);
      expect(e.status, why).toBe(401);
      expect(e.code, why).toBe('invalid_api_key');
      expect((await call(`${gw.url}/v1/models`, { headers: bearer(key) })).status, `${why}: /v1/models`).toBe(401);
    }
    expect(fx.double.received('p')).toHaveLength(received);
    expect((await keyOf(gw, doomed.id, MASTER)).usage).toEqual(usageBefore);

    // A limited key runs out; the master key has no limit whatever keys exist.
    expect((await ask(openai(gw, live.key))).choices[0]?.message.content).toBe('Hello from p');
    await apiError(ask(openai(gw, live.key)), OpenAI.RateLimitError);
    for (let i = 0; i < 3; i++) expect((await ask(openai(gw, MASTER))).choices[0]?.message.content).toBe('Hello from p');
    // The master key's requests count on no key.
    expect((await keyOf(gw, live.id, MASTER)).usage.requests).toBe(1);
    // And no key at all is refused.
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(401);
  });

  it('without a master key: no key works until the first key exists, then every /v1 request needs one', async () => {
    const gw = await fx.gateway(cfg());
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(200);
    const k = await createKey(gw, { name: 'first' });
    const received = fx.double.received('p').length;
    const none = await call(`${gw.url}/v1/chat/completions`, { body: chat('m') });
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('invalid_api_key');
    expect((await call(`${gw.url}/v1/models`)).status).toBe(401);
    await apiError(ask(openai(gw, 'anything-at-all')), OpenAI.AuthenticationError);
    expect(fx.double.received('p')).toHaveLength(received);
    expect((await ask(openai(gw, k.key))).choices[0]?.message.content).toBe('Hello from p');
    // Revoking the only key does not open the gateway again.
    expect((await call(`${gw.url}/admin/keys/${k.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await call(`${gw.url}/v1/chat/completions`, { body: chat('m') })).status).toBe(401);
  });

  it('a model outside the key\'s list is 403 model_not_allowed; /v1/models lists only the key\'s models', async () => {
    const gw = await fx.gateway(cfg());
    const k = await createKey(gw, { name: 'only-m', models: ['m'] });
    const all = await createKey(gw, { name: 'all' });
    const c = openai(gw, k.key);
    const e = await apiError(ask(c, 'other'), OpenAI.PermissionDeniedError);
    expect(e.status).toBe(403);
    expect(e.code).toBe('model_not_allowed');
    expect(fx.double.received('o')).toHaveLength(0);
    await apiError(c.embeddings.create({ model: 'other', input: 'x' }), OpenAI.PermissionDeniedError);
    expect(fx.double.received('o')).toHaveLength(0);
    expect((await keyOf(gw, k.id)).usage.requests).toBe(0);

    const ids: string[] = [];
    for await (const model of c.models.list()) ids.push(model.id);
    expect(ids).toEqual(['m']);
    await apiError(c.models.retrieve('other'), OpenAI.NotFoundError);
    expect((await c.models.retrieve('m')).id).toBe('m');
    const every: string[] = [];
    for await (const model of openai(gw, all.key).models.list()) every.push(model.id);
    expect(every.sort()).toEqual(['m', 'other']);

    expect((await ask(c, 'm')).choices[0]?.message.content).toBe('Hello from p');
    // A change of the list takes effect on the next request.
    expect((await call(`${gw.url}/admin/keys/${k.id}`, { method: 'PATCH', body: { models: ['other'] } })).status).toBe(200);
    expect((await ask(c, 'other')).choices[0]?.message.content).toBe('Hello from o');
    await apiError(ask(c, 'm'), OpenAI.PermissionDeniedError);
  });

  it('over requests_per_period: 429 key_quota_exceeded with Retry-After = seconds to the key\'s own next reset', async () => {
    const now = Date.parse('2026-11-27T20:00:00Z');
    const gw = await fx.gateway(cfg(), { now: () => now });
    const daily = await createKey(gw, { name: 'daily', rate_limit: { requests_per_period: 2, period_cron: '0 0 * * *' } });
    const halfHourly = await createKey(gw, { name: 'half-hourly', rate_limit: { requests_per_period: 1, period_cron: '*/30 * * * *' } });
    const c = openai(gw, daily.key);
    await ask(c);
    await ask(c);
    const received = fx.double.received('p').length;
    const e = await apiError(ask(c), OpenAI.RateLimitError);
    expect(e.status).toBe(429);
    expect(e.code).toBe('key_quota_exceeded');
    // Midnight UTC is 4 h away.
    expect(e.headers?.get('retry-after')).toBe(String((Date.parse('2026-11-28T00:00:00Z') - now) / 1000));
    expect(e.headers?.get('retry-after')).toBe('14400');
    expect(fx.double.received('p')).toHaveLength(received);
    const usage = (await keyOf(gw, daily.id)).usage;
    expect(usage.requests).toBe(2);
    expect(Date.parse(usage.next_reset)).toBe(Date.parse('2026-11-28T00:00:00Z'));
    expect(Date.parse(usage.last_reset)).toBe(Date.parse('2026-11-27T00:00:00Z'));

    await ask(openai(gw, halfHourly.key));
    const h = await apiError(ask(openai(gw, halfHourly.key)), OpenAI.RateLimitError);
    expect(h.code).toBe('key_quota_exceeded');
    expect(h.headers?.get('retry-after')).toBe('1800');

    // A raised limit takes effect on the next request.
    expect((await call(`${gw.url}/admin/keys/${daily.id}`, { method: 'PATCH', body: { rate_limit: { requests_per_period: 3 } } })).status).toBe(200);
    await ask(c);
    await apiError(ask(c), OpenAI.RateLimitError);
    expect((await keyOf(gw, daily.id)).usage.requests).toBe(3);
  });

  it('over max_concurrent: 429 too_many_concurrent_requests, never sent upstream; the slot frees when a request ends', async () => {
    const gw = await fx.gateway(cfg());
    const k = await createKey(gw, { name: 'narrow', max_concurrent: 2 });
    fx.double.script('p', { delayMs: 400, times: 2 });
    const c = openai(gw, k.key);
    const results = await Promise.allSettled([ask(c), ask(c), ask(c)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as InstanceType<typeof OpenAI.APIError>);
    expect(ok).toHaveLength(2);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused[0]!.code).toBe('too_many_concurrent_requests');
    expect(refused[0]!.headers?.get('retry-after')).toEqual(expect.stringMatching(/^\d+$/));
    expect(fx.double.received('p')).toHaveLength(2);
    expect((await keyOf(gw, k.id)).usage.requests).toBe(2);
    // Both slots are free again: two more at once are fine.
    const again = await Promise.all([ask(c), ask(c)]);
    expect(again.map((r) => r.choices[0]?.message.content)).toEqual(['Hello from p', 'Hello from p']);
    // A stream holds its slot until it ends.
    fx.double.script('p', { chunkDelayMs: 150, chunks: 3 });
    const stream = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    const other = ask(c);
    const third = ask(c).then(() => null, (err: unknown) => err);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    await other;
    expect(text).toBe('Hello from p');
    expect(await third).toBeInstanceOf(OpenAI.RateLimitError);
    expect(((await third) as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('too_many_concurrent_requests');
    await ask(c);
  });

  it('/v1/messages: the refusals come in Anthropic\'s error shape', async () => {
    const gw = await fx.gateway(cfg());
    const k = await createKey(gw, { name: 'claude', models: ['m'], rate_limit: { requests_per_period: 1 } });
    const slots = await createKey(gw, { name: 'claude-slots', max_concurrent: 1 });
    const msg = (model = 'm') => ({ model, max_tokens: 50, messages: [{ role: 'user' as const, content: 'Hi' }] });

    const unknown = await apiError(anthropic(gw, 'sk-gw-not-a-real-key-000000000000').messages.create(msg()), Anthropic.AuthenticationError);
    expect(unknown.status).toBe(401);
    expect(unknown.error).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: expect.any(String) } });

    const c = anthropic(gw, k.key);
    const denied = await apiError(c.messages.create(msg('other')), Anthropic.PermissionDeniedError);
    expect(denied.status).toBe(403);
    expect(denied.error).toMatchObject({ type: 'error', error: { type: 'permission_error', message: expect.stringContaining('other') } });

    expect((await c.messages.create(msg())).content).toEqual([{ type: 'text', text: 'Hello from p' }]);
    const over = await apiError(c.messages.create(msg()), Anthropic.RateLimitError);
    expect(over.status).toBe(429);
    expect(over.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(over.headers?.get('retry-after')).toEqual(expect.stringMatching(/^[1-9]\d*$/));

    fx.double.script('p', { delayMs: 300 });
    const first = anthropic(gw, slots.key).messages.create(msg());
    await new Promise((r) => setTimeout(r, 100));
    const second = anthropic(gw, slots.key).messages.create(msg()).then(() => null, (err: unknown) => err);
    await first;
    const busy = await apiError(second.then((err) => Promise.reject(err ?? new Error('served'))), Anthropic.RateLimitError);
    expect(busy.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', message: expect.stringContaining('in flight') } });

    // The raw answers: no OpenAI-shaped `error.code` but Anthropic's shape, whatever the key.
    const raw = await call(`${gw.url}/v1/messages`, { body: msg('other'), headers: { 'x-api-key': k.key, 'anthropic-version': '2023-06-01' } });
    expect(raw.status).toBe(403);
    expect(raw.json).toEqual({ type: 'error', error: { type: 'permission_error', message: expect.any(String) } });
    // Sent upstream: the one Message that was allowed, and the one that held the slot.
    expect(fx.double.received('p')).toHaveLength(2);
    expect(fx.double.received('o')).toHaveLength(0);
  });
});

describe('exact request limits', () => {
  it('100 concurrent requests of a key with requests_per_period 20: exactly 20 answers, 80 × 429, 20 sent upstream', async () => {
    const gw = await fx.gateway(cfg());
    const k = await createKey(gw, { name: 'exact', rate_limit: { requests_per_period: 20 } });
    fx.double.script('p', { delayMs: 50, times: 100 });
    const c = openai(gw, k.key);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => ask(c)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as InstanceType<typeof OpenAI.APIError>);
    expect(ok).toHaveLength(20);
    expect(refused).toHaveLength(80);
    expect(refused.every((e) => e instanceof OpenAI.RateLimitError && e.code === 'key_quota_exceeded')).toBe(true);
    expect(fx.double.received('p')).toHaveLength(20);
    expect((await keyOf(gw, k.id)).usage.requests).toBe(20);
    expect((await call(`${gw.url}/admin/stats`)).json.m.p.requests).toBe(20);
  });

  it('a request no provider served gives its hold back: it does not count', async () => {
    const gw = await fx.gateway(cfg());
    const k = await createKey(gw, { name: 'unlucky', rate_limit: { requests_per_period: 1 } });
    const c = openai(gw, k.key);
    fx.double.script('p', { status: 500, times: 3 });
    for (let i = 0; i < 3; i++) expect((await apiError(ask(c), OpenAI.APIError)).status).toBe(502);
    expect(fx.double.received('p')).toHaveLength(3);
    expect((await keyOf(gw, k.id)).usage.requests).toBe(0);
    // A client error from upstream, returned as is, does not count either.
    fx.double.script('p', { status: 400 });
    expect((await apiError(ask(c), OpenAI.BadRequestError)).status).toBe(400);
    expect((await keyOf(gw, k.id)).usage.requests).toBe(0);
    expect((await ask(c)).choices[0]?.message.content).toBe('Hello from p');
    expect((await keyOf(gw, k.id)).usage.requests).toBe(1);
    expect((await apiError(ask(c), OpenAI.RateLimitError)).code).toBe('key_quota_exceeded');
  });
});

describe('tokens and cost per key', () => {
  it('JSON and streamed answers (with and without include_usage, and the openai client\'s stream) count exact tokens and cost everywhere', async () => {
    const gw = await fx.gateway(cfg({}, { price: PRICE }));
    const k = await createKey(gw, { name: 'priced' });
    fx.double.setDefault('p', { usageValue: USAGE });
    const c = openai(gw, k.key);

    const json = await ask(c);
    expect(json.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 });
    const withUsage = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, stream_options: { include_usage: true } }), bearer(k.key));
    expect(withUsage.status).toBe(200);
    expect(withUsage.data.some((d) => d.includes('"total_tokens":1500'))).toBe(true);
    const without = await readStream(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }), bearer(k.key));
    expect(without.status).toBe(200);
    // The usage chunk the gateway asked for is not shown to a client that did not.
    expect(without.data.some((d) => d.includes('total_tokens'))).toBe(false);
    const stream = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello from p');
    expect(fx.double.received('p')).toHaveLength(4);
    // Every stream asked the upstream for its usage.
    for (const r of fx.double.received('p').slice(1)) expect(r.body).toMatchObject({ stream_options: { include_usage: true } });

    await expect.poll(async () => (await keyOf(gw, k.id)).usage.tokens).toBe(4 * 1500);
    const usage = (await keyOf(gw, k.id)).usage;
    expect(usage).toMatchObject({ requests: 4, tokens: 6000, estimated_tokens: 0, unpriced_requests: 0 });
    expect(usage.cost).toBe((4 * ((1000 - 400) * 2.5 + 400 * 1.25 + 500 * 10)) / 1e6);
    expect(usage.cost).toBe(0.028);
    const stats = (await call(`${gw.url}/admin/stats`)).json.m.p;
    expect(stats).toMatchObject({ requests: 4, tokens: 6000, cost: 0.028 });

    await expect.poll(() => gw.logs.filter((l) => l.key === 'priced' && l.status === 200).length).toBe(4);
    for (const line of gw.logs.filter((l) => l.key === 'priced')) {
      expect(line.cost).toBe(COST);
      expect(line.tokens).toBe(1500);
    }

    const metrics = (await call(`${gw.url}/metrics`)).text;
    const value = (re: RegExp): number => Number(re.exec(metrics)?.[1]);
    expect(value(/^gateway_cost_usd_total\{model="m",provider="p"\} (\S+)$/m)).toBeCloseTo(0.028, 12);
    expect(value(/^gateway_key_requests_total\{key="priced",status="200"\} (\S+)$/m)).toBe(4);
    expect(value(/^gateway_key_tokens_total\{key="priced",kind="prompt"\} (\S+)$/m)).toBe(4000);
    expect(value(/^gateway_key_tokens_total\{key="priced",kind="completion"\} (\S+)$/m)).toBe(2000);
    expect(value(/^gateway_key_cost_usd_total\{key="priced"\} (\S+)$/m)).toBeCloseTo(0.028, 12);
  });

  it('Messages and Responses requests count on their key too', async () => {
    const gw = await fx.gateway(cfg({}, { price: PRICE }));
    const k = await createKey(gw, { name: 'agents' });
    fx.double.setDefault('p', { usageValue: USAGE });
    const m = await anthropic(gw, k.key).messages.create({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] });
    expect(m.usage.output_tokens).toBe(500);
    const r = await openai(gw, k.key).responses.create({ model: 'm', input: 'Hi' });
    expect(r.usage?.total_tokens).toBe(1500);
    await expect.poll(async () => (await keyOf(gw, k.id)).usage.tokens).toBe(3000);
    expect((await keyOf(gw, k.id)).usage).toMatchObject({ requests: 2, cost: 2 * COST });
  });

  it('an unknown price is null (never 0) in the key\'s usage and the stats, and the log line has no cost', async () => {
    // `upstream-u` is in no price table, and the provider sets none.
    const gw = await fx.gateway({ _global: { default_retry: 0 }, u: { providers: [provider('u', fx.double.url('u'))] } });
    const k = await createKey(gw, { name: 'unpriced' });
    fx.double.setDefault('u', { usageValue: USAGE });
    await ask(openai(gw, k.key), 'u');
    await readStream(`${gw.url}/v1/chat/completions`, chat('u', { stream: true }), bearer(k.key));
    await expect.poll(async () => (await keyOf(gw, k.id)).usage.tokens).toBe(3000);
    const usage = (await keyOf(gw, k.id)).usage;
    expect(usage.cost).toBeNull();
    expect(usage.unpriced_requests).toBe(2);
    expect(usage.requests).toBe(2);
    const listed = (await call(`${gw.url}/admin/keys`)).json.data[0];
    expect(listed.usage.cost).toBeNull();
    expect((await call(`${gw.url}/admin/stats`)).json.u.u.cost).toBeNull();
    await expect.poll(() => gw.logs.filter((l) => l.key === 'unpriced').length).toBe(2);
    for (const line of gw.logs.filter((l) => l.key === 'unpriced')) {
      expect(line).not.toHaveProperty('cost');
      expect(line.tokens).toBe(1500);
    }
    const metrics = (await call(`${gw.url}/metrics`)).text;
    expect(metrics).not.toMatch(/^gateway_cost_usd_total\{model="u"/m);
    expect(metrics).not.toMatch(/^gateway_key_cost_usd_total\{key="unpriced"\}/m);
    expect(metrics).toMatch(/^gateway_key_requests_total\{key="unpriced",status="200"\} 2$/m);
  });

  it('cost_per_period and tokens_per_period refuse once reached (429 key_quota_exceeded), and nothing more is sent', async () => {
    const gw = await fx.gateway(cfg({}, { price: PRICE }));
    // 0.007 USD and 1500 tokens a request: the third finds 0.014 ≥ 0.01, resp. 3000 ≥ 2000 spent.
    const budget = await createKey(gw, { name: 'budget', rate_limit: { cost_per_period: 0.01 } });
    const tokens = await createKey(gw, { name: 'tokens', rate_limit: { tokens_per_period: 2000 } });
    fx.double.setDefault('p', { usageValue: USAGE });
    for (const k of [budget, tokens]) {
      const c = openai(gw, k.key);
      await ask(c);
      await expect.poll(async () => (await keyOf(gw, k.id)).usage.tokens).toBe(1500);
      await ask(c);
      await expect.poll(async () => (await keyOf(gw, k.id)).usage.tokens).toBe(3000);
      const sent = fx.double.received('p').length;
      const e = await apiError(ask(c), OpenAI.RateLimitError);
      expect(e.code, k.name).toBe('key_quota_exceeded');
      expect(e.message, k.name).toContain(k === budget ? 'budget' : 'tokens');
      expect(e.headers?.get('retry-after')).toEqual(expect.stringMatching(/^[1-9]\d*$/));
      expect(fx.double.received('p')).toHaveLength(sent);
      expect((await keyOf(gw, k.id)).usage.requests).toBe(2);
    }
    expect((await keyOf(gw, budget.id)).usage.cost).toBe(2 * COST);
  });
});

describe('stored responses belong to the key that made them', () => {
  it('key A makes a response; key B gets 404 for it, A reads it', async () => {
    const gw = await fx.gateway(cfg());
    const a = await createKey(gw, { name: 'alice' });
    const b = await createKey(gw, { name: 'bob' });
    const r = await openai(gw, a.key).responses.create({ model: 'm', input: 'the plans' });
    expect(r.status).toBe('completed');
    const e = await apiError(openai(gw, b.key).responses.retrieve(r.id), OpenAI.NotFoundError);
    expect(e.status).toBe(404);
    const raw = await call(`${gw.url}/v1/responses/${r.id}`, { headers: bearer(b.key) });
    expect(raw.status).toBe(404);
    expect(raw.text).not.toContain('the plans');
    await apiError(openai(gw, b.key).responses.delete(r.id), OpenAI.NotFoundError);
    await apiError(openai(gw, b.key).responses.create({ model: 'm', input: 'more', previous_response_id: r.id }), OpenAI.NotFoundError);
    const mine = await openai(gw, a.key).responses.retrieve(r.id);
    expect(mine.id).toBe(r.id);
    expect(mine.output_text).toBe('Hello from p');
  });
});

describe('no secret leaks', () => {
  it('after keys are made and used, their secrets are in no log line, admin answer, metric, upstream request or usage file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-keys-'));
    const gw = await fx.gateway(cfg({}, { price: PRICE }), { store: new SqliteStore(join(dir, 'usage.db')) });
    const a = await createKey(gw, { name: 'leak-a', models: ['m'], rate_limit: { requests_per_period: 50 }, max_concurrent: 5 });
    const b = await createKey(gw, { name: 'leak-b' });
    const secrets = [a.key, b.key];
    const c = openai(gw, a.key);
    await ask(c);
    const s = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    for await (const _chunk of s) { /* read whole */ }
    await anthropic(gw, a.key).messages.create({ model: 'm', max_tokens: 20, messages: [{ role: 'user', content: 'Hi' }] });
    const stored = await openai(gw, a.key).responses.create({ model: 'm', input: 'keep me' });
    await apiError(openai(gw, b.key).responses.retrieve(stored.id), OpenAI.NotFoundError);
    await apiError(ask(c, 'other'), OpenAI.PermissionDeniedError);
    await ask(openai(gw, b.key), 'other');
    expect((await call(`${gw.url}/admin/keys/${b.id}`, { method: 'PATCH', body: { name: 'leak-b2' } })).status).toBe(200);
    expect((await call(`${gw.url}/admin/keys/${b.id}`, { method: 'DELETE' })).status).toBe(200);
    await apiError(ask(openai(gw, b.key), 'other'), OpenAI.AuthenticationError);
    await expect.poll(() => gw.logs.filter((l) => l.reqId !== undefined && typeof l.path === 'string').length).toBeGreaterThanOrEqual(7);

    const answers: Record<string, string> = {};
    for (const path of ['/admin/keys', `/admin/keys/${a.id}`, `/admin/keys/${b.id}`, '/admin/overview', '/admin/stats', '/admin/providers/m', '/metrics']) {
      const r: Answer = await call(`${gw.url}${path}`);
      expect(r.status, path).toBe(200);
      answers[path] = r.text;
    }
    // Where a leak would be looked for: the names are there, so the search itself works.
    expect(answers['/admin/keys']).toContain('leak-a');
    expect(answers['/metrics']).toContain('key="leak-a"');
    expect(gw.logText()).toContain('leak-a');
    const upstream = JSON.stringify([...fx.double.received('p'), ...fx.double.received('o')]);
    expect(upstream).toContain('Hi');
    await gw.close();
    const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).includes(Buffer.from('"name":"leak-a"'))).toBe(true);

    for (const secret of secrets) {
      for (const needle of [secret, secret.slice('sk-gw-'.length)]) {
        expect(gw.logText().includes(needle), 'log').toBe(false);
        for (const [path, text] of Object.entries(answers)) expect(text.includes(needle), path).toBe(false);
        expect(upstream.includes(needle), 'upstream').toBe(false);
        for (const bytes of files) expect(bytes.includes(Buffer.from(needle)), 'usage file').toBe(false);
      }
    }
  });

  it('a key sent in the query string (where it is never accepted) is not logged either', async () => {
    const gw = await fx.gateway(cfg());
    const k = await createKey(gw, { name: 'misplaced' });
    const r = await call(`${gw.url}/v1/chat/completions?api_key=${k.key}`, { body: chat('m') });
    expect(r.status).toBe(401);
    await expect.poll(() => gw.logs.filter((l) => l.status === 401).length).toBe(1);
    expect(gw.logText()).toContain('/v1/chat/completions');
    expect(gw.logText()).not.toContain(k.key.slice('sk-gw-'.length));
  });
});
