import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { NotFoundError } from 'openai';
import { describe, expect, inject, it } from 'vitest';
import { RedisStore } from '../../src/usage/redis-store.js';
import { SqliteStore } from '../../src/usage/sqlite-store.js';
import { provider } from '../helpers/gateway.js';
import { useUpstreamDouble } from '../helpers/fixture.js';
import { call } from '../helpers/http.js';

/**
 * Stored responses (SPEC §7): kept in the usage store, continued with previous_response_id,
 * scoped to the key that made them, expiring, bounded, surviving a restart (SQLite) and shared
 * by instances (Redis).
 */
const fx = useUpstreamDouble();
const redisUrl = inject('redisUrl');

const cfg = (global: Record<string, unknown> = {}) => ({
  _global: { default_retry: 0, ...global },
  'gw-coder': { providers: [provider('p', fx.double.url('p'))] },
});
const client = (url: string, apiKey: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
const lastMessages = () => (fx.double.received('p').at(-1)!.body as { messages: unknown[] }).messages;

describe('key scoping', () => {
  it('only the key that made a response can read, continue or delete it', async () => {
    // No gateway key configured: every presented key is its own owner.
    const gw = await fx.gateway(cfg());
    const alice = client(gw.url, 'key-alice');
    const bob = client(gw.url, 'key-bob');
    const r = await alice.responses.create({ model: 'gw-coder', input: 'secret plans' });
    await expect(bob.responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(bob.responses.create({ model: 'gw-coder', input: 'and?', previous_response_id: r.id })).rejects.toBeInstanceOf(NotFoundError);
    await expect(bob.responses.delete(r.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await alice.responses.retrieve(r.id)).id).toBe(r.id);
    const more = await alice.responses.create({ model: 'gw-coder', input: 'and?', previous_response_id: r.id });
    expect(more.status).toBe('completed');
    expect(lastMessages()).toEqual([{ role: 'user', content: 'secret plans' }, { role: 'assistant', content: 'Hello from p' }, { role: 'user', content: 'and?' }]);
  });
});

describe('expiry and bounds', () => {
  it('an expired response is 404', async () => {
    const gw = await fx.gateway(cfg({ responses_ttl_seconds: 1 }));
    const c = client(gw.url, 'k');
    const r = await c.responses.create({ model: 'gw-coder', input: 'hi' });
    expect((await c.responses.retrieve(r.id)).id).toBe(r.id);
    await new Promise((res) => setTimeout(res, 1100));
    await expect(c.responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('past responses_max_bytes the oldest go first; the size shows in /admin/overview and /metrics', async () => {
    const gw = await fx.gateway(cfg({ responses_max_bytes: 6000 }));
    const c = client(gw.url, 'k');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await c.responses.create({ model: 'gw-coder', input: `question ${i} ${'x'.repeat(800)}` })).id);
    const overview = await call(`${gw.url}/admin/overview`, { method: 'GET' });
    const stored = (overview.json as { store: { stored_responses: { count: number; bytes: number } } }).store.stored_responses;
    expect(stored.bytes).toBeLessThanOrEqual(6000);
    expect(stored.count).toBeGreaterThan(0);
    expect(stored.count).toBeLessThan(6);
    await expect(c.responses.retrieve(ids[0]!)).rejects.toBeInstanceOf(NotFoundError);
    expect((await c.responses.retrieve(ids[5]!)).id).toBe(ids[5]);
    const metrics = (await call(`${gw.url}/metrics`, { method: 'GET' })).text;
    expect(metrics).toContain(`gateway_stored_responses{unit="responses"} ${stored.count}`);
    expect(metrics).toContain(`gateway_stored_responses{unit="bytes"} ${stored.bytes}`);
  });

  it('a response larger than the whole budget is answered but not stored, with a warning', async () => {
    const gw = await fx.gateway(cfg({ responses_max_bytes: 500 }));
    const c = client(gw.url, 'k');
    const r = await c.responses.create({ model: 'gw-coder', input: 'y'.repeat(2000) });
    expect(r.status).toBe('completed');
    await expect(c.responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(gw.logText()).toContain('response not stored: larger than responses_max_bytes');
  });
});

describe('hostile input is bounded', () => {
  it('a conversation grown past max_body_bytes by continuations is not stored (it could not be sent whole either)', async () => {
    const gw = await fx.gateway(cfg({ max_body_bytes: 4000 }));
    const c = client(gw.url, 'k');
    const first = await c.responses.create({ model: 'gw-coder', input: 'a'.repeat(2500) });
    expect((await c.responses.retrieve(first.id)).id).toBe(first.id);
    const second = await c.responses.create({ model: 'gw-coder', input: 'b'.repeat(2500), previous_response_id: first.id });
    expect(second.status).toBe('completed');
    await expect(c.responses.retrieve(second.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(gw.logText()).toContain('its conversation is larger than max_body_bytes');
  });

  it('a thousand hosted tool types make one short log line', async () => {
    const gw = await fx.gateway(cfg());
    const tools = Array.from({ length: 1000 }, (_, i) => ({ type: `hosted_${i}_${'x'.repeat(200)}` }));
    const r = await call(`${gw.url}/v1/responses`, { body: { model: 'gw-coder', input: 'hi', tools } });
    expect(r.status).toBe(200);
    const line = gw.logText().split('\n').find((l) => l.includes('Dropped what a chat provider cannot run'))!;
    expect(line).toContain('and 992 more');
    expect(line.length).toBeLessThan(2000);
    expect((fx.double.received('p')[0]!.body as Record<string, unknown>).tools).toBeUndefined();
  });
});

describe('durability and sharing', () => {
  it('the embedded store keeps stored responses across a restart', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gw-responses-')), 'usage.db');
    const first = await fx.gateway(cfg(), { store: new SqliteStore(path) });
    const r = await client(first.url, 'k').responses.create({ model: 'gw-coder', input: 'remember me' });
    await first.close();
    const second = await fx.gateway(cfg(), { store: new SqliteStore(path) });
    const c = client(second.url, 'k');
    expect((await c.responses.retrieve(r.id)).output_text).toBe('Hello from p');
    await c.responses.create({ model: 'gw-coder', input: 'again', previous_response_id: r.id });
    expect(lastMessages()).toEqual([{ role: 'user', content: 'remember me' }, { role: 'assistant', content: 'Hello from p' }, { role: 'user', content: 'again' }]);
  });

  it.skipIf(!redisUrl)('two instances on one Redis see each other\'s responses at once; delete is seen by both', async () => {
    const prefix = `test-${randomUUID()}:`;
    const a = await fx.gateway(cfg(), { store: new RedisStore(redisUrl!, prefix) });
    const b = await fx.gateway(cfg(), { store: new RedisStore(redisUrl!, prefix) });
    const ca = client(a.url, 'k');
    const cb = client(b.url, 'k');
    const r = await ca.responses.create({ model: 'gw-coder', input: 'shared' });
    expect((await cb.responses.retrieve(r.id)).id).toBe(r.id);
    const streamed = await cb.responses.stream({ model: 'gw-coder', input: 'more', previous_response_id: r.id }).finalResponse();
    expect(lastMessages()).toEqual([{ role: 'user', content: 'shared' }, { role: 'assistant', content: 'Hello from p' }, { role: 'user', content: 'more' }]);
    expect((await ca.responses.retrieve(streamed.id)).output_text).toBe(streamed.output_text);
    await expect(client(a.url, 'other').responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
    const overview = await call(`${b.url}/admin/overview`, { method: 'GET' });
    expect((overview.json as { store: { stored_responses: { count: number } } }).store.stored_responses.count).toBe(2);
    await cb.responses.delete(r.id);
    await expect(ca.responses.retrieve(r.id)).rejects.toBeInstanceOf(NotFoundError);
    const after = await call(`${a.url}/admin/overview`, { method: 'GET' });
    expect((after.json as { store: { stored_responses: { count: number } } }).store.stored_responses.count).toBe(1);
  });

  it.skipIf(!redisUrl)('Redis: expired and evicted records leave the totals', async () => {
    const prefix = `test-${randomUUID()}:`;
    const store = new RedisStore(redisUrl!, prefix);
    await store.ready();
    try {
      const body = 'z'.repeat(100);
      for (let i = 0; i < 5; i++) await store.responses.put(`resp_${i}`, 'o', body, { expiresAt: Date.now() + 60_000 + i, maxBytes: 350 });
      expect(await store.responses.stats()).toEqual({ count: 3, bytes: 300 });
      expect(await store.responses.get('resp_0', 'o')).toBeNull();
      expect(await store.responses.get('resp_4', 'o')).toBe(body);
      expect(await store.responses.get('resp_4', 'someone else')).toBeNull();
      await store.responses.put('resp_short', 'o', body, { expiresAt: Date.now() + 50, maxBytes: 10_000 });
      await new Promise((res) => setTimeout(res, 120));
      expect(await store.responses.stats()).toEqual({ count: 3, bytes: 300 });
      expect(await store.responses.put('resp_huge', 'o', 'h'.repeat(400), { expiresAt: Date.now() + 60_000, maxBytes: 350 })).toBe(false);
    } finally {
      await store.close();
    }
  });
});
